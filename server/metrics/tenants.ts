import { badRequest } from '../errors.js'
import type { Params, Store } from '../storage/client.js'
import { parseEnum, parseInteger, single, type QueryScope, type RawQuery } from './filters.js'
import { msToNullableTime, msToTime, tenantStateSql, type TenantColumn } from './tenant-state.js'

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

/** Sort keys map to fixed expressions; ties always break by tenant_id so pages are stable. */
const SORT_SQL: Record<TenantSort, string> = {
  downtime_s: 'downtime_ms',
  first_contact_latency_s: 'first_contact_latency_s',
  max_comm_gap_s: 'max_gap_ms',
  first_lost_at: 'first_lost_ms',
  tenant_id: 'tenant_id',
}

/** The tenant state a row is made of. */
const ROW_STATE: TenantColumn[] = [
  'down',
  'first_lost_ms',
  'last_restored_ms',
  'downtime_ms',
  'outages',
  'restore_stage',
  'restore_progress',
  'first_contact_ms',
  'communications',
  'max_gap_ms',
]

/** The columns of a tenants row, from tenantStateSql's columns (with meta). */
export const TENANT_ROW_COLUMNS = `
  tenant_id, name, attributes,
  if(down, 'down', 'up') AS state,
  ${msToTime('first_lost_ms')} AS first_lost_at,
  ${msToNullableTime('last_restored_ms')} AS last_restored_at,
  downtime_ms / 1000 AS downtime_s,
  outages, restore_stage, restore_progress,
  ${msToNullableTime('first_contact_ms')} AS first_contact_at,
  (first_contact_ms - first_lost_ms) / 1000 AS first_contact_latency_s,
  communications,
  max_gap_ms / 1000 AS max_comm_gap_s`

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
 * A page of the tenants table and the total row count matching q/state. Without q (which
 * searches names), metadata is looked up for the page's rows only (by primary key) instead of
 * being joined to every affected tenant.
 */
export async function tenantPage(store: Store, scope: QueryScope, p: TenantPageParams): Promise<{ total: number; rows: TenantRow[] }> {
  const lateMeta = !p.q
  const core = tenantStateSql(store, scope, { meta: !lateMeta, columns: ROW_STATE })
  const params: Params = { ...core.params, limit: p.limit, offset: p.offset }
  const dir = p.order === 'asc' ? 'ASC' : 'DESC'
  const sql = `
    SELECT ${lateMeta ? ROW_WITHOUT_META : TENANT_ROW_COLUMNS}, count() OVER () AS total_rows
    FROM (${core.sql})
    ${pageWhere(p, params)}
    ORDER BY ${SORT_SQL[p.sort]} ${dir}${p.sort === 'tenant_id' ? '' : ', tenant_id ASC'}
    LIMIT {limit:UInt32} OFFSET {offset:UInt64}`
  const rows = await store.rows<TenantRow & { total_rows: number }>(sql, params)
  let total = rows[0]?.total_rows
  if (total === undefined) {
    // An empty page (offset past the end) still reports the total.
    const count = await store.rows<{ n: number }>(`SELECT count() AS n FROM (${core.sql}) ${pageWhere(p, params)}`, params)
    total = Number(count[0]?.n ?? 0)
  }
  for (const r of rows) delete (r as Partial<typeof r>).total_rows
  if (lateMeta) await attachMeta(store, rows)
  return { total: Number(total), rows }
}

/** Name and attributes of at most a page of rows, looked up by primary key. */
async function attachMeta(store: Store, rows: TenantRow[]): Promise<void> {
  if (rows.length === 0) return
  const meta = await store.rows<{ tenant_id: string; name: string; attributes: Record<string, string> }>(
    `SELECT tenant_id, name, attributes FROM ${store.db}.tenants FINAL WHERE tenant_id IN {ids:Array(String)}`,
    { ids: rows.map((r) => r.tenant_id) },
  )
  const byId = new Map(meta.map((m) => [m.tenant_id, m]))
  for (const r of rows) {
    const m = byId.get(r.tenant_id)
    if (m) {
      r.name = m.name
      r.attributes = m.attributes
    }
  }
}

const ROW_WITHOUT_META = TENANT_ROW_COLUMNS.replace('name, attributes,', "'' AS name, map() :: Map(String, String) AS attributes,")

/**
 * One tenant's row, or null when it is not affected at T (or outside the segment), with its
 * diagnostics: stray access_restored events (sent while the tenant was already up).
 */
export async function tenantRow(
  store: Store,
  scope: QueryScope,
  tenantId: string,
): Promise<{ row: TenantRow | null; strays: number }> {
  const core = tenantStateSql(store, scope, { tenantId, meta: true, columns: [...ROW_STATE, 'strays'] })
  const rows = await store.rows<TenantRow & { strays: number }>(`SELECT ${TENANT_ROW_COLUMNS}, strays FROM (${core.sql})`, core.params)
  const first = rows[0]
  if (!first) return { row: null, strays: 0 }
  const { strays, ...row } = first
  return { row, strays: Number(strays) }
}

/** Cells a spreadsheet would run as a formula get a leading apostrophe (CSV injection). */
const safe = (expr: string) => `if(match(${expr}, '^[=+\\\\-@\\t\\r]'), concat('''', ${expr}), ${expr})`

/** The whole tenants table as CSV bytes, formatted by ClickHouse, sorted by downtime. */
export async function tenantsCsv(store: Store, scope: QueryScope): Promise<Buffer> {
  const core = tenantStateSql(store, scope, { meta: true, columns: ROW_STATE })
  const sql = `
    SELECT ${safe('tenant_id')} AS tenant_id, ${safe('name')} AS name, toJSONString(attributes) AS attributes,
      if(down, 'down', 'up') AS state,
      ${msToTime('first_lost_ms')} AS first_lost_at,
      ${msToNullableTime('last_restored_ms')} AS last_restored_at,
      downtime_ms / 1000 AS downtime_s, outages, restore_stage, restore_progress,
      ${msToNullableTime('first_contact_ms')} AS first_contact_at,
      (first_contact_ms - first_lost_ms) / 1000 AS first_contact_latency_s,
      communications, max_gap_ms / 1000 AS max_comm_gap_s
    FROM (${core.sql})
    ORDER BY downtime_ms DESC, tenant_id ASC
    SETTINGS format_csv_null_representation = ''`
  return store.bytes(sql, core.params, 'CSVWithNames')
}
