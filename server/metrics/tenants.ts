import type { Readable } from 'node:stream'
import { badRequest } from '../errors.js'
import type { Params, Store } from '../storage/client.js'
import { parseEnum, parseInteger, single, type QueryScope, type RawQuery } from './filters.js'
import { rowAt, storedState, STORED_STATE_COLUMNS, type RowAt, type TenantColumn } from './figures.js'
import { checkBroadcastPairs, incidentBroadcasts } from './broadcasts.js'
import type { StateSync } from './state-sync.js'
import { msToNullableTime, tenantStateSql } from './tenant-state.js'

export const TENANT_SORTS = ['downtime_s', 'first_contact_latency_s', 'max_comm_gap_s', 'first_lost_at', 'tenant_id'] as const
export type TenantSort = (typeof TENANT_SORTS)[number]

/** One row of the tenants table (SPEC §4). */
export interface TenantRow {
  tenant_id: string
  name: string
  attributes: Record<string, string>
  state: 'down' | 'up'
  first_lost_at: string
  last_restored_at: string | null
  downtime_s: number
  outages: number
  restore_stage: 'not_started' | 'in_progress' | 'completed' | null
  restore_progress: number | null
  first_contact_at: string | null
  first_contact_latency_s: number | null
  communications: number
  max_comm_gap_s: number
}

export interface TenantPageParams {
  sort: TenantSort
  order: 'asc' | 'desc'
  limit: number
  offset: number
  q?: string
  state?: 'down' | 'up'
}

export function parseTenantPage(q: RawQuery): TenantPageParams {
  const text = single(q, 'q')
  if (text !== undefined && text.length > 256) throw badRequest('q is at most 256 characters')
  return {
    sort: parseEnum(q, 'sort', TENANT_SORTS, 'downtime_s'),
    order: parseEnum(q, 'order', ['asc', 'desc'] as const, 'desc'),
    limit: parseInteger(q, 'limit', 100, 0, 1000),
    offset: parseInteger(q, 'offset', 0, 0, 1_000_000_000),
    q: text || undefined,
    state: parseEnum(q, 'state', ['down', 'up'] as const, undefined),
  }
}

/** Sort keys are figures of the catalogue (figures.ts); ties always break by tenant_id so pages are stable. */
const SORT_FIGURE: Record<TenantSort, TenantColumn | 'tenant_id'> = {
  downtime_s: 'downtime_ms',
  first_contact_latency_s: 'first_contact_latency_ms',
  max_comm_gap_s: 'max_gap_ms',
  first_lost_at: 'first_lost_ms',
  tenant_id: 'tenant_id',
}

/**
 * The tenants table's figure columns (SPEC §4), each from a figure of the catalogue and a format:
 * the JSON rows (toTenantRow, from the JS twins) and the CSV (tenantsCsv, from the SQL) are both
 * made from this list.
 */
const ROW_FIELDS = [
  ['state', 'down', 'state'],
  ['first_lost_at', 'first_lost_ms', 'time'],
  ['last_restored_at', 'last_restored_ms', 'time'],
  ['downtime_s', 'downtime_ms', 'seconds'],
  ['outages', 'outages', 'as_is'],
  ['restore_stage', 'restore_stage', 'as_is'],
  ['restore_progress', 'restore_progress', 'as_is'],
  ['first_contact_at', 'first_contact_ms', 'time'],
  ['first_contact_latency_s', 'first_contact_latency_ms', 'seconds'],
  ['communications', 'communications', 'as_is'],
  ['max_comm_gap_s', 'max_gap_ms', 'seconds'],
] as const satisfies readonly (readonly [keyof TenantRow, keyof RowAt & TenantColumn, 'state' | 'time' | 'seconds' | 'as_is'])[]
type Format = (typeof ROW_FIELDS)[number][2]

const FORMAT_JS: Record<Format, (v: unknown) => unknown> = {
  state: (down) => (down ? 'down' : 'up'),
  time: (ms) => (ms === null ? null : new Date(ms as number).toISOString()),
  seconds: (ms) => (ms === null ? null : (ms as number) / 1000),
  as_is: (v) => v,
}
const FORMAT_SQL: Record<Format, (figure: string) => string> = {
  state: (down) => `if(${down}, 'down', 'up')`,
  time: (ms) => msToNullableTime(ms),
  seconds: (ms) => `${ms} / 1000`,
  as_is: (v) => v,
}

/** The API's row (RFC 3339 times, seconds) from the tenant's state at T and its metadata. */
export function toTenantRow(tenantId: string, r: RowAt, meta: { name: string; attributes: Record<string, string> } | undefined): TenantRow {
  const row: Record<string, unknown> = { tenant_id: tenantId, name: meta?.name ?? '', attributes: meta?.attributes ?? {} }
  for (const [field, figure, format] of ROW_FIELDS) row[field] = FORMAT_JS[format](r[figure])
  return row as unknown as TenantRow
}

function pageWhere(p: Pick<TenantPageParams, 'q' | 'state'>, params: Params): string {
  const parts: string[] = []
  if (p.q) {
    params.q = p.q
    parts.push('(positionCaseInsensitiveUTF8(tenant_id, {q:String}) > 0 OR positionCaseInsensitiveUTF8(name, {q:String}) > 0)')
  }
  if (p.state) parts.push(p.state === 'down' ? 'down' : 'NOT down')
  return parts.length ? `WHERE ${parts.join(' AND ')}` : ''
}

/**
 * A page of the tenants table and the total row count matching q/state. One pass over the
 * affected tenants computes the sort key (and what q/state need), picks the page and carries
 * its tenants' stored state along; their rows are evaluated from it (rowAt) and their names
 * and attributes read by primary key.
 */
export async function tenantPage(store: Store, state: StateSync, scope: QueryScope, p: TenantPageParams): Promise<{ total: number; rows: TenantRow[] }> {
  const sort = SORT_FIGURE[p.sort]
  const b = scope.includeBroadcast
  if (b && p.sort === 'max_comm_gap_s') await checkBroadcastPairs(store, state, scope, 'sort=max_comm_gap_s')
  const pick = tenantStateSql(store, scope, {
    meta: p.q !== undefined,
    columns: [...(sort === 'tenant_id' ? [] : [sort]), ...(p.state ? (['down'] as const) : []), ...STORED_STATE_COLUMNS],
  })
  const params: Params = { ...pick.params, limit: p.limit, offset: p.offset }
  const where = pageWhere(p, params)
  const dir = p.order === 'asc' ? 'ASC' : 'DESC'
  const picked = await store.rows<Record<string, unknown> & { tenant_id: string; total_rows: number }>(
    `SELECT tenant_id, ${STORED_STATE_COLUMNS.join(', ')}, count() OVER () AS total_rows
     FROM (${pick.sql})
     ${where}
     ORDER BY ${sort} ${dir}${p.sort === 'tenant_id' ? '' : ', tenant_id ASC'}
     LIMIT {limit:UInt32} OFFSET {offset:UInt64}`,
    params,
  )
  if (picked.length === 0) {
    // An empty page (offset past the end) still reports the total.
    const count = await store.rows<{ n: number }>(`SELECT count() AS n FROM (${pick.sql}) ${where}`, params)
    return { total: Number(count[0]?.n ?? 0), rows: [] }
  }
  const meta = await tenantMeta(store, picked.map((r) => r.tenant_id))
  // The broadcasts are read once for the page (and kept per change of the incident), never per row.
  const broadcasts = b ? await incidentBroadcasts(store, state, scope) : undefined
  const rows = picked.map((r) => toTenantRow(r.tenant_id, rowAt(storedState(r), scope.asOfMs, broadcasts), meta.get(r.tenant_id)))
  return { total: Number(picked[0]!.total_rows), rows }
}

/** Name and attributes of at most a page of tenants, looked up by primary key. */
export async function tenantMeta(store: Store, ids: string[]): Promise<Map<string, { name: string; attributes: Record<string, string> }>> {
  const rows = await store.rows<{ tenant_id: string; name: string; attributes: Record<string, string> }>(
    `SELECT tenant_id, name, attributes FROM ${store.db}.tenants FINAL WHERE tenant_id IN {ids:Array(String)}`,
    { ids },
  )
  return new Map(rows.map((m) => [m.tenant_id, m]))
}

/** Cells a spreadsheet would run as a formula get a leading apostrophe (CSV injection). */
export const csvSafe = (expr: string) => `if(match(${expr}, '^[=+\\\\-@\\t\\r]'), concat('''', ${expr}), ${expr})`

/** The whole tenants table as CSV, formatted by ClickHouse, sorted by downtime, as a byte stream. */
export async function tenantsCsv(store: Store, state: StateSync, scope: QueryScope): Promise<Readable> {
  if (scope.includeBroadcast) await checkBroadcastPairs(store, state, scope, 'tenants.csv')
  const core = tenantStateSql(store, scope, { meta: true, columns: ROW_FIELDS.map(([, figure]) => figure) })
  const sql = `
    SELECT ${csvSafe('tenant_id')} AS tenant_id, ${csvSafe('name')} AS name, toJSONString(attributes) AS attributes,
      ${ROW_FIELDS.map(([field, figure, format]) => `${FORMAT_SQL[format](figure)} AS ${field}`).join(',\n      ')}
    FROM (${core.sql})
    ORDER BY downtime_ms DESC, tenant_id ASC
    SETTINGS format_csv_null_representation = ''`
  return store.stream(sql, core.params, 'CSVWithNames')
}
