import { z } from 'zod'
import { HttpError, StorageUnavailableError } from '../errors.js'
import type { Store } from '../storage/client.js'
import type { IngestError, IngestResult } from './events.js'
import { MAX_LISTED_ERRORS } from './events.js'
import { ndjsonLines, NDJSON_MAX_LINE_BYTES } from './parse-ndjson.js'
import { isWellFormed, LIMITS } from './validate.js'
import { nextVersion } from './version.js'

/** Tenant metadata limits (SPEC §4 POST /api/v1/tenants). */
export const TENANT_LIMITS = { attributes: 64, attributeKey: 64, attributeValue: 256, name: 256 } as const
const ATTRIBUTE_KEY_RE = /^[A-Za-z0-9_.-]{1,64}$/
/** Tenants are inserted in chunks of this many rows (one part each). */
const TENANT_CHUNK_ROWS = 10_000

const codePoints = (s: string) => [...s].length
const text = (max: number) =>
  z
    .string()
    .refine((s) => s.length <= max || codePoints(s) <= max, `must be at most ${max} characters`)
    .refine(isWellFormed, 'must be valid Unicode (lone surrogate)')

// Tenant metadata is small and rare next to events: zod's cost per record does not matter here.
export const tenantSchema = z.strictObject({
  tenant_id: text(LIMITS.tenantId).refine((s) => s.length > 0, 'must not be empty'),
  name: text(TENANT_LIMITS.name).nullish(),
  attributes: z
    .record(
      z.string().regex(ATTRIBUTE_KEY_RE, `keys must be 1–${TENANT_LIMITS.attributeKey} characters of A-Z a-z 0-9 _ . -`),
      z.union([text(TENANT_LIMITS.attributeValue), z.number().finite()], { error: 'values must be strings (≤ 256 characters) or finite numbers' }),
    )
    .refine((a) => Object.keys(a).length <= TENANT_LIMITS.attributes, `at most ${TENANT_LIMITS.attributes} attributes`)
    .nullish(),
})

export interface TenantRow {
  tenant_id: string
  name: string
  attributes: Record<string, string>
  num_attributes: Record<string, number>
}

/** Validate one tenant record: the row to upsert, or field errors. Pure. */
export function validateTenant(input: unknown): { ok: true; row: TenantRow } | { ok: false; errors: { field: string; message: string }[] } {
  const r = tenantSchema.safeParse(input)
  if (!r.success) return { ok: false, errors: r.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })) }
  const attributes: Record<string, string> = {}
  const num_attributes: Record<string, number> = {}
  for (const [k, v] of Object.entries(r.data.attributes ?? {})) {
    attributes[k] = String(v)
    if (typeof v === 'number') num_attributes[k] = v
  }
  return { ok: true, row: { tenant_id: r.data.tenant_id, name: r.data.name ?? '', attributes, num_attributes } }
}

/** The tail of this process's tenant inserts: they run one at a time. */
let insertsDone: Promise<unknown> = Promise.resolve()

/**
 * Insert tenant rows, one insert at a time in the process, each stamped with its version as it
 * starts: commits come in version order, so the metadata copy in `cards` (migration 6, which
 * keeps the last write of a key) always agrees with tenants FINAL (the highest version).
 */
function insertTenants(store: Store, rows: TenantRow[]): Promise<void> {
  const run = insertsDone.then(() => insertTenantsNow(store, rows))
  insertsDone = run.catch(() => {})
  return run
}

async function insertTenantsNow(store: Store, rows: TenantRow[]): Promise<void> {
  if (rows.length === 0) return
  const body = Buffer.from(rows.map((r) => JSON.stringify({ ...r, version: nextVersion() })).join('\n') + '\n')
  try {
    await store.insert(`${store.db}.tenants`, body)
  } catch (err) {
    // Tenant rows are validated; any failure here is the store's, and the client may retry.
    if (err instanceof StorageUnavailableError) throw err
    throw new StorageUnavailableError(`tenant insert failed: ${(err as Error).message?.slice(0, 200)}`, { cause: err })
  }
}

class TenantTally {
  accepted = 0
  rejected = 0
  errors: IngestError[] = []
  reject(index: number, errors: { field: string; message: string }[]) {
    this.rejected++
    for (const e of errors) if (this.errors.length < MAX_LISTED_ERRORS) this.errors.push({ index, ...e })
  }
}

/** Upsert tenants from a JSON body: its records as chunks (decoded one after another), or a list of them. */
export async function upsertTenants(store: Store, chunks: Iterable<unknown[]> | AsyncIterable<unknown[]>): Promise<IngestResult> {
  const t = new TenantTally()
  const rows: TenantRow[] = []
  let i = 0
  for await (const chunk of chunks) {
    for (const item of chunk) {
      const v = validateTenant(item)
      if (v.ok) rows.push(v.row)
      else t.reject(i, v.errors)
      i++
    }
  }
  for (let i = 0; i < rows.length; i += TENANT_CHUNK_ROWS) await insertTenants(store, rows.slice(i, i + TENANT_CHUNK_ROWS))
  t.accepted = rows.length
  return { accepted: t.accepted, rejected: t.rejected, errors: t.errors }
}

/** Upsert tenants from an NDJSON stream, inserted in chunks as lines arrive. */
export async function upsertTenantsNdjson(store: Store, stream: AsyncIterable<Buffer>, maxBodyBytes: number): Promise<IngestResult> {
  const t = new TenantTally()
  let rows: TenantRow[] = []
  try {
    for await (const lines of ndjsonLines(stream, { maxLineBytes: NDJSON_MAX_LINE_BYTES, maxBodyBytes })) {
      for (const line of lines) {
        if (line.error !== undefined) {
          t.reject(line.index, [{ field: '', message: line.error }])
          continue
        }
        const v = validateTenant(line.value)
        if (v.ok) rows.push(v.row)
        else t.reject(line.index, v.errors)
      }
      if (rows.length >= TENANT_CHUNK_ROWS) {
        await insertTenants(store, rows)
        t.accepted += rows.length
        rows = []
      }
    }
  } catch (err) {
    if (err instanceof HttpError || err instanceof StorageUnavailableError) throw err
    // zlib errors (corrupt gzip) and aborted uploads are the client's fault.
    throw new HttpError(400, 'bad_body', `could not read the request body: ${(err as Error).message.slice(0, 200)}`)
  }
  await insertTenants(store, rows)
  t.accepted += rows.length
  return { accepted: t.accepted, rejected: t.rejected, errors: t.errors }
}
