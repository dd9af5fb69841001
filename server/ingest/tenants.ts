import { z } from 'zod'
import { ATTRIBUTE_NAME, isWellFormed, LIMITS, TENANT_LIMITS } from '../domain/events.js'
import { BadInput, Refusal, StorageUnavailableError } from '../errors.js'
import type { Store } from '../storage/client.js'
import { nextVersion } from '../storage/version.js'
import { MAX_LISTED_ERRORS, type IngestError, type IngestResult } from './events.js'
import { ndjsonLines, NDJSON_MAX_LINE_BYTES } from './parse-ndjson.js'

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
  /** null or absent: keep the stored name. */
  name: text(TENANT_LIMITS.name).nullish(),
  /** An attribute given replaces the stored one, null removes it, one not given is kept. */
  attributes: z
    .record(
      z.string().regex(ATTRIBUTE_NAME, `keys must be 1–${TENANT_LIMITS.attributeKey} characters of A-Z a-z 0-9 _ . -`),
      z.union([text(TENANT_LIMITS.attributeValue), z.number().finite(), z.null()], {
        error: 'values must be strings (≤ 256 characters), finite numbers, or null (to remove the attribute)',
      }),
    )
    .refine((a) => Object.keys(a).length <= TENANT_LIMITS.attributes, `at most ${TENANT_LIMITS.attributes} attributes`)
    .nullish(),
})

/** A tenant's metadata as stored (its row of the `tenants` table); metrics/tenants.ts TenantRow is a row of the tenants view. */
export interface TenantRecord {
  tenant_id: string
  name: string
  attributes: Record<string, string>
  num_attributes: Record<string, number>
}

/** What one record asks to change (SPEC §4 POST /tenants): undefined name keeps it; a null attribute removes it. */
export interface TenantPatch {
  tenant_id: string
  name: string | undefined
  attributes: Record<string, string | number | null>
}

/** Validate one tenant record: the patch to apply, or field errors. Pure. */
export function validateTenant(input: unknown): { ok: true; patch: TenantPatch } | { ok: false; errors: { field: string; message: string }[] } {
  const r = tenantSchema.safeParse(input)
  if (!r.success) return { ok: false, errors: r.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })) }
  return { ok: true, patch: { tenant_id: r.data.tenant_id, name: r.data.name ?? undefined, attributes: r.data.attributes ?? {} } }
}

/**
 * A patch applied to the stored row (or to nothing). Merging: the name and each attribute given
 * replace the stored ones, a null attribute is removed, the rest are kept, so a bare
 * `{tenant_id}` never wipes the seats that weight every incident. `replace`: the record as
 * given is the whole row. Pure.
 */
export function applyTenantPatch(stored: TenantRecord | undefined, patch: TenantPatch, replace: boolean): TenantRecord {
  const base = replace || !stored ? { name: '', attributes: {}, num_attributes: {} } : stored
  const attributes: Record<string, string> = { ...base.attributes }
  const num_attributes: Record<string, number> = { ...base.num_attributes }
  for (const [k, v] of Object.entries(patch.attributes)) {
    delete attributes[k]
    delete num_attributes[k]
    if (v === null) continue
    attributes[k] = String(v)
    if (typeof v === 'number') num_attributes[k] = v
  }
  return { tenant_id: patch.tenant_id, name: patch.name ?? base.name, attributes, num_attributes }
}

/** The tail of this process's tenant writes: they run one at a time. */
let writesDone: Promise<unknown> = Promise.resolve()

/**
 * Apply patches: read the stored rows they touch, merge (applyTenantPatch, in record order), and
 * insert the results, one write at a time in the process (so no two merges read the same old
 * row), each row stamped with its version as it starts: commits come in version order, so the
 * metadata copy in `cards` (migration 6, which keeps the last write of a key) always agrees with
 * tenants FINAL (the highest version). A merged row over the attribute limit is rejected.
 */
function writeTenants(store: Store, items: { index: number; patch: TenantPatch }[], replace: boolean, t: TenantTally): Promise<void> {
  const run = writesDone.then(() => writeTenantsNow(store, items, replace, t))
  writesDone = run.catch(() => {})
  return run
}

async function writeTenantsNow(store: Store, items: { index: number; patch: TenantPatch }[], replace: boolean, t: TenantTally): Promise<void> {
  if (items.length === 0) return
  try {
    const ids = [...new Set(items.map((x) => x.patch.tenant_id))]
    const stored = new Map<string, TenantRecord>()
    if (!replace) {
      const rows = await store.rows<TenantRecord>(`SELECT tenant_id, name, attributes, num_attributes FROM ${store.db}.tenants FINAL WHERE tenant_id IN {ids:Array(String)}`, { ids })
      for (const r of rows) stored.set(r.tenant_id, r)
    }
    const merged = new Map<string, TenantRecord>()
    let accepted = 0
    for (const { index, patch } of items) {
      const row = applyTenantPatch(merged.get(patch.tenant_id) ?? stored.get(patch.tenant_id), patch, replace && !merged.has(patch.tenant_id))
      if (Object.keys(row.attributes).length > TENANT_LIMITS.attributes) {
        t.reject(index, [{ field: 'attributes', message: `merged with the stored attributes this tenant would have more than ${TENANT_LIMITS.attributes}; remove some with null` }])
        continue
      }
      merged.set(patch.tenant_id, row)
      accepted++
    }
    const body = Buffer.from([...merged.values()].map((r) => JSON.stringify({ ...r, version: nextVersion() })).join('\n') + '\n')
    if (merged.size > 0) await store.insert(`${store.db}.tenants`, body)
    t.accepted += accepted
  } catch (err) {
    // Tenant rows are validated; any failure here is the store's, and the client may retry.
    if (err instanceof StorageUnavailableError) throw err
    throw new StorageUnavailableError(`tenant write failed: ${(err as Error).message?.slice(0, 200)}`, { cause: err })
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
  result(): IngestResult {
    return { accepted: this.accepted, rejected: this.rejected, errors: this.errors }
  }
}

/** Upsert (merge, or with `replace` overwrite) tenants from a JSON body: its records as chunks (decoded one after another), or a list of them. */
export async function upsertTenants(store: Store, chunks: Iterable<unknown[]> | AsyncIterable<unknown[]>, replace = false): Promise<IngestResult> {
  const t = new TenantTally()
  const items: { index: number; patch: TenantPatch }[] = []
  let i = 0
  for await (const chunk of chunks) {
    for (const item of chunk) {
      const v = validateTenant(item)
      if (v.ok) items.push({ index: i, patch: v.patch })
      else t.reject(i, v.errors)
      i++
    }
  }
  for (let k = 0; k < items.length; k += TENANT_CHUNK_ROWS) await writeTenants(store, items.slice(k, k + TENANT_CHUNK_ROWS), replace, t)
  return t.result()
}

/** Upsert tenants from an NDJSON stream, written in chunks as lines arrive. */
export async function upsertTenantsNdjson(store: Store, stream: AsyncIterable<Buffer>, maxBodyBytes: number, replace = false): Promise<IngestResult> {
  const t = new TenantTally()
  let items: { index: number; patch: TenantPatch }[] = []
  try {
    for await (const lines of ndjsonLines(stream, { maxLineBytes: NDJSON_MAX_LINE_BYTES, maxBodyBytes })) {
      for (const line of lines) {
        if (line.error !== undefined) {
          t.reject(line.index, [{ field: '', message: line.error }])
          continue
        }
        const v = validateTenant(line.value)
        if (v.ok) items.push({ index: line.index, patch: v.patch })
        else t.reject(line.index, v.errors)
      }
      if (items.length >= TENANT_CHUNK_ROWS) {
        await writeTenants(store, items, replace, t)
        items = []
      }
    }
  } catch (err) {
    if (err instanceof Refusal || err instanceof StorageUnavailableError) throw err
    // zlib errors (corrupt gzip) and aborted uploads are the client's fault.
    throw new BadInput('malformed', 'bad_body', `could not read the request body: ${(err as Error).message.slice(0, 200)}`)
  }
  await writeTenants(store, items, replace, t)
  return t.result()
}
