import type { TenantSort, ViewParams } from '../../api.js'
import type { TableState } from '../table.js'

/** What the address bar holds: a reload or a shared address shows the same view. */
export interface UrlState {
  asOf: string | null
  attrs: [string, string][]
  unit: 'customers' | 'users'
  groupBy: string
  includeBroadcast: boolean
  /** stale_after as the API takes it ('' = the server's default, 24 h). */
  staleAfter: string
  table: TableState
}

/** The choices of "Stale after" (SPEC §3 stale_after); the first is the server's default. */
export const STALE_AFTER = [
  ['', '24 h'],
  ['4h', '4 h'],
  ['12h', '12 h'],
  ['48h', '2 days'],
  ['72h', '3 days'],
  ['7d', '7 days'],
] as const

const SORTS: TenantSort[] = ['downtime_s', 'first_contact_latency_s', 'max_comm_gap_s', 'first_lost_at', 'tenant_id']

export function stateFromUrl(): UrlState {
  const q = new URLSearchParams(location.search)
  const attrs: [string, string][] = []
  for (const [k, v] of q) if (k.startsWith('attr.') && k.length > 5) attrs.push([k.slice(5), v])
  const sort = q.get('sort') as TenantSort | null
  return {
    asOf: q.get('as_of'),
    attrs,
    unit: q.get('unit') === 'users' ? 'users' : 'customers',
    groupBy: q.get('group_by') ?? '',
    includeBroadcast: q.get('include_broadcast') === 'true',
    staleAfter: STALE_AFTER.some(([v]) => v && v === q.get('stale_after')) ? q.get('stale_after')! : '',
    table: {
      sort: sort && SORTS.includes(sort) ? sort : 'downtime_s',
      order: q.get('order') === 'asc' ? 'asc' : 'desc',
      q: q.get('q') ?? '',
      state: q.get('state') === 'down' || q.get('state') === 'up' ? (q.get('state') as 'down' | 'up') : '',
      offset: Math.max(0, Number(q.get('offset')) || 0),
    },
  }
}

/** Writes the state to the address bar (replacing the entry: the back button leaves the view). */
export function stateToUrl(s: UrlState) {
  const q = new URLSearchParams()
  if (s.asOf) q.set('as_of', s.asOf)
  for (const [k, v] of s.attrs) q.append(`attr.${k}`, v)
  if (s.unit === 'users') q.set('unit', 'users')
  if (s.groupBy) q.set('group_by', s.groupBy)
  if (s.includeBroadcast) q.set('include_broadcast', 'true')
  if (s.staleAfter) q.set('stale_after', s.staleAfter)
  if (s.table.sort !== 'downtime_s') q.set('sort', s.table.sort)
  if (s.table.order !== 'desc') q.set('order', s.table.order)
  if (s.table.q) q.set('q', s.table.q)
  if (s.table.state) q.set('state', s.table.state)
  if (s.table.offset) q.set('offset', String(s.table.offset))
  const qs = q.toString()
  history.replaceState(history.state, '', location.pathname + (qs ? `?${qs}` : ''))
}

/** The parameters every request of the view shares. */
export function viewParamsOf(s: UrlState): ViewParams {
  return { asOf: s.asOf ?? undefined, attrs: s.attrs, includeBroadcast: s.includeBroadcast }
}

/** The table's default order is the worst-hit order: its first page starts with that list. */
export function isWorstOrder(t: TableState): boolean {
  return t.sort === 'downtime_s' && t.order === 'desc' && !t.q && !t.state && t.offset === 0
}
