import { z } from 'zod'
import { commPolicyJson, DEFAULT_COMM_POLICY, type CommPolicy } from '../domain/comm-policy.js'
import { isIncidentId, isWellFormed, LIMITS } from '../domain/events.js'
import { minuteToYearMs } from '../domain/duration.js'
import { StorageUnavailableError } from '../errors.js'
import type { Store } from '../storage/client.js'
import { nextVersion } from '../storage/version.js'

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
  /** SPEC §6; each field given replaces the stored one, null resets it to the default. */
  comm_policy: z
    .strictObject({ first_contact_within: minuteToYearMs.nullish(), update_every: minuteToYearMs.nullish(), stall_after: minuteToYearMs.nullish() })
    .nullish(),
})

export interface Incident {
  incident_id: string
  title: string
  description: string
  severity: string
  status: (typeof INCIDENT_STATUSES)[number]
  comm_policy: ReturnType<typeof commPolicyJson>
}

/** A field of a policy patch: undefined keeps the stored value, null the default. */
const patched = (v: number | null | undefined, stored: number | undefined, def: number) => (v === null ? def : (v ?? stored ?? def))

/** What became of a PUT: the incident as stored, or why its id or body is invalid (then nothing is stored). */
export type PutIncidentOutcome = { kind: 'stored'; incident: Incident } | { kind: 'invalid'; code: 'invalid_incident_id' | 'invalid_incident'; message: string }

// Read-modify-write of one row: serialized in-process, so two PUTs never both read the old row.
let chain: Promise<unknown> = Promise.resolve()

/** Create or update an incident's metadata, keeping fields the patch does not name. */
export async function putIncident(store: Store, incidentId: string, body: unknown): Promise<PutIncidentOutcome> {
  if (!isIncidentId(incidentId)) {
    return { kind: 'invalid', code: 'invalid_incident_id', message: `incident_id must be 1–${LIMITS.incidentId} characters of A-Z a-z 0-9 . _ : -` }
  }
  const parsed = incidentPatchSchema.safeParse(body ?? {})
  if (!parsed.success) {
    const first = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')
    return { kind: 'invalid', code: 'invalid_incident', message: first.slice(0, 500) }
  }
  const patch = parsed.data
  const run = chain.then(async () => {
    try {
      const [current] = await store.rows<Omit<Incident, 'incident_id' | 'comm_policy'> & { first_contact_within_ms: number; update_every_ms: number; stall_after_ms: number }>(
        `SELECT title, description, severity, status, first_contact_within_ms, update_every_ms, stall_after_ms
         FROM ${store.db}.incidents FINAL WHERE incident_id = {id:String} LIMIT 1`,
        { id: incidentId },
      )
      const p = patch.comm_policy
      const d = DEFAULT_COMM_POLICY
      const policy: CommPolicy = {
        firstContactWithinMs: patched(p?.first_contact_within, current && Number(current.first_contact_within_ms), d.firstContactWithinMs),
        updateEveryMs: patched(p?.update_every, current && Number(current.update_every_ms), d.updateEveryMs),
        stallAfterMs: patched(p?.stall_after, current && Number(current.stall_after_ms), d.stallAfterMs),
      }
      const next: Incident = {
        incident_id: incidentId,
        title: patch.title ?? current?.title ?? '',
        description: patch.description ?? current?.description ?? '',
        severity: patch.severity ?? current?.severity ?? '',
        status: patch.status ?? (current?.status as Incident['status'] | undefined) ?? 'ongoing',
        comm_policy: commPolicyJson(policy),
      }
      const { comm_policy: _, ...fields } = next
      const row =
        JSON.stringify({
          ...fields,
          first_contact_within_ms: policy.firstContactWithinMs,
          update_every_ms: policy.updateEveryMs,
          stall_after_ms: policy.stallAfterMs,
          version: nextVersion(),
        }) + '\n'
      await store.insert(`${store.db}.incidents`, Buffer.from(row))
      return next
    } catch (err) {
      if (err instanceof StorageUnavailableError) throw err
      throw new StorageUnavailableError(`incident write failed: ${(err as Error).message?.slice(0, 200)}`, { cause: err })
    }
  })
  chain = run.catch(() => {})
  return { kind: 'stored', incident: await run }
}
