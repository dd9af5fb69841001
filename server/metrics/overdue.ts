import type { Readable } from 'node:stream'
import type { Params, Store } from '../storage/client.js'
import { isoTime, parseInteger, type QueryScope, type RawQuery } from './filters.js'
import { incidentPolicy } from './policy.js'
import type { StateSync } from './state-sync.js'
import { msToNullableTime, msToTime, tenantStateSql } from './tenant-state.js'
import { csvSafe, tenantMeta } from './tenants.js'

/** One tenant overdue for a contact at T (SPEC §6 GET …/overdue). */
export interface OverdueRow {
  tenant_id: string
  name: string
  kind: 'first_contact' | 'update'
  due_at: string
  overdue_s: number
  last_contact_at: string | null
}

export function parseOverduePage(q: RawQuery): { limit: number; offset: number } {
  return { limit: parseInteger(q, 'limit', 100, 0, 1000), offset: parseInteger(q, 'offset', 0, 0, 1_000_000_000) }
}

/** The tenants overdue at T under the incident's communication policy, most overdue first (then by tenant_id), and how many there are. */
export async function overdueTenants(store: Store, state: StateSync, scope: QueryScope, page: { limit: number; offset: number }): Promise<{ total: number; rows: OverdueRow[] }> {
  const policy = await incidentPolicy(store, state, scope.incidentId)
  const core = tenantStateSql(store, scope, { policy, columns: ['overdue', 'overdue_due_ms', 'overdue_kind', 'last_contact_ms'] })
  const params: Params = { ...core.params, limit: page.limit, offset: page.offset }
  const picked = await store.rows<{ tenant_id: string; kind: OverdueRow['kind']; due: number; last: number | null; total_rows: number }>(
    `SELECT tenant_id, overdue_kind AS kind, overdue_due_ms AS due, last_contact_ms AS last, count() OVER () AS total_rows
     FROM (${core.sql}) WHERE overdue
     ORDER BY overdue_due_ms ASC, tenant_id ASC
     LIMIT {limit:UInt32} OFFSET {offset:UInt64}`,
    params,
  )
  if (picked.length === 0) {
    const [count] = await store.rows<{ n: number }>(`SELECT count() AS n FROM (${core.sql}) WHERE overdue`, params)
    return { total: Number(count?.n ?? 0), rows: [] }
  }
  const meta = await tenantMeta(store, picked.map((r) => r.tenant_id))
  return {
    total: Number(picked[0]!.total_rows),
    rows: picked.map((r) => ({
      tenant_id: r.tenant_id,
      name: meta.get(r.tenant_id)?.name ?? '',
      kind: r.kind,
      due_at: isoTime(Number(r.due)),
      overdue_s: (scope.asOfMs - Number(r.due)) / 1000,
      last_contact_at: r.last === null ? null : isoTime(Number(r.last)),
    })),
  }
}

/** Every overdue tenant as CSV, formatted by ClickHouse, most overdue first: the comms team's call list. */
export async function overdueCsv(store: Store, state: StateSync, scope: QueryScope): Promise<Readable> {
  const policy = await incidentPolicy(store, state, scope.incidentId)
  const core = tenantStateSql(store, scope, { policy, meta: true, columns: ['overdue', 'overdue_due_ms', 'overdue_kind', 'last_contact_ms'] })
  const sql = `
    SELECT ${csvSafe('tenant_id')} AS tenant_id, ${csvSafe('name')} AS name, overdue_kind AS kind,
      ${msToTime('overdue_due_ms')} AS due_at, ({as_of_ms:Int64} - overdue_due_ms) / 1000 AS overdue_s,
      ${msToNullableTime('last_contact_ms')} AS last_contact_at
    FROM (${core.sql}) WHERE overdue
    ORDER BY overdue_due_ms ASC, tenant_id ASC
    SETTINGS format_csv_null_representation = ''`
  return store.stream(sql, core.params, 'CSVWithNames')
}
