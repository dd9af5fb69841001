import { z } from 'zod'
import { HttpError, StorageUnavailableError } from '../errors.js'
import type { Store } from '../storage/client.js'
import { INCIDENT_ID_RE, isWellFormed, LIMITS } from './validate.js'
import { nextVersion } from './version.js'

export const INCIDENT_STATUSES = ['ongoing', 'resolved'] as const

const text = (max: number) =>
  z
    .string()
    .refine((s) => s.length <= max || [...s].length <= max, `must be at most ${max} characters`)
    .refine(isWellFormed, 'must be valid Unicode (lone surrogate)')

/** PUT body: every field optional; an absent (or null) field keeps its stored value. */
export const incidentPatchSchema = z.strictObject({
  title: text(256).nullish(),
  description: text(4096).nullish(),
  severity: text(64).nullish(),
  status: z.enum(INCIDENT_STATUSES).nullish(),
})

export interface Incident {
  incident_id: string
  title: string
  description: string
  severity: string
  status: (typeof INCIDENT_STATUSES)[number]
}

export function checkIncidentId(id: string): void {
  if (id.length === 0 || id.length > LIMITS.incidentId || !INCIDENT_ID_RE.test(id)) {
    throw new HttpError(400, 'invalid_incident_id', `incident_id must be 1–${LIMITS.incidentId} characters of A-Z a-z 0-9 . _ : -`)
  }
}

// Read-modify-write of one row: serialized in-process, so two PUTs never both read the old row.
let chain: Promise<unknown> = Promise.resolve()

/** Create or update an incident's metadata, keeping fields the patch does not name. */
export async function putIncident(store: Store, incidentId: string, body: unknown): Promise<Incident> {
  checkIncidentId(incidentId)
  const parsed = incidentPatchSchema.safeParse(body ?? {})
  if (!parsed.success) {
    const first = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')
    throw new HttpError(400, 'invalid_incident', first.slice(0, 500))
  }
  const patch = parsed.data
  const run = chain.then(async () => {
    try {
      const [current] = await store.rows<Omit<Incident, 'incident_id'>>(
        `SELECT title, description, severity, status FROM ${store.db}.incidents FINAL WHERE incident_id = {id:String} LIMIT 1`,
        { id: incidentId },
      )
      const next: Incident = {
        incident_id: incidentId,
        title: patch.title ?? current?.title ?? '',
        description: patch.description ?? current?.description ?? '',
        severity: patch.severity ?? current?.severity ?? '',
        status: patch.status ?? (current?.status as Incident['status'] | undefined) ?? 'ongoing',
      }
      const row = JSON.stringify({ ...next, version: nextVersion() }) + '\n'
      await store.insert(`${store.db}.incidents`, Buffer.from(row))
      return next
    } catch (err) {
      if (err instanceof StorageUnavailableError) throw err
      throw new StorageUnavailableError(`incident write failed: ${(err as Error).message?.slice(0, 200)}`, { cause: err })
    }
  })
  chain = run.catch(() => {})
  return run
}
