import type { Store } from '../storage/client.js'
import { isoTime, parseAttributeName, parseWindow, single, type QueryScope, type RawQuery } from './filters.js'
import { bucketCodes, firstEventMs, prefixSum, seriesFrame } from './series.js'
import type { StateSync } from './state-sync.js'
import { RECOVERY_CODES, tenantStateSql } from './tenant-state.js'

const KINDS = ['affected', 'down', 'not_started', 'in_progress', 'completed'] as const

export interface RecoveryPoint {
  t: string
  affected: number
  restored: number
  recovery_pct: number | null
  weighted_recovery_pct?: number | null
  not_started: number
  in_progress: number
  completed: number
}
export interface RecoverySeries {
  bucket_s: number
  series: { group: string | null; points: RecoveryPoint[] }[]
}

/** Groups beyond this many (largest by affected first) are left out of a group_by answer. */
export const MAX_GROUPS = 50
/**
 * Points per series of a group_by answer: MAX_GROUPS series of this many points each is the most
 * one answer holds (25,000 points, a few MB of JSON), whatever the bucket asked for.
 */
export const MAX_GROUP_BUCKETS = 500

export async function recoverySeries(store: Store, state: StateSync, scope: QueryScope, q: RawQuery): Promise<RecoverySeries> {
  const weight = parseAttributeName(q, 'weight')
  const groupBy = parseAttributeName(q, 'group_by')
  const w = parseWindow(q, scope.asOfMs, single(q, 'from') ? null : await firstEventMs(store, state, scope), groupBy === undefined ? undefined : MAX_GROUP_BUCKETS)
  const frame = seriesFrame(w)
  const at = { ...scope, asOfMs: w.toMs }
  // Every tenant's changes (rdeltas: ms * 16 + code), counted per bucket and code; the codes are
  // expanded below. The default view reads them from the incident log when it is current.
  const log = weight === undefined && groupBy === undefined && scope.filters.length === 0 ? await state.incidentLog(scope.incidentId) : null
  let rows: { grp: string; k: number; code: number; n: number; wn: number }[]
  if (log) rows = bucketCodes(log.recovery, frame).map((r) => ({ ...r, grp: '', wn: 0 }))
  else {
    const core = tenantStateSql(store, at, { weight, meta: groupBy !== undefined, columns: ['rdeltas'] })
    // group_by: the MAX_GROUPS groups with the most affected tenants at the window's end are
    // chosen first, and only their tenants' changes are counted, so the answer's size does not
    // grow with the number of distinct values (an attribute such as seats has thousands).
    const topGroups = groupBy
      ? `AND grp IN (SELECT attributes[{group_by:String}] AS g FROM (${core.sql}) GROUP BY g ORDER BY count() DESC, g ASC LIMIT ${MAX_GROUPS})`
      : ''
    rows = await store.rows(
      `SELECT grp, ${frame.bucketOf('intDiv(d, 16)')} AS k, d % 16 AS code, count() AS n, ${weight ? 'sum(weight)' : '0'} AS wn
       FROM (SELECT ${groupBy ? 'attributes[{group_by:String}]' : "''"} AS grp, ${weight ? 'weight' : '0'} AS weight, rdeltas FROM (${core.sql}))
       ARRAY JOIN rdeltas AS d
       WHERE d < ({sf_to:Int64} + 1) * 16 ${topGroups}
       GROUP BY grp, k, code`,
      { ...core.params, ...frame.params, group_by: groupBy ?? '' },
    )
  }
  const n = frame.times.length
  const groups = new Map<string, Map<string, Map<number, number>>>()
  const add = (grp: string, key: string, k: number, v: number) => {
    if (v === 0) return
    if (!groups.has(grp)) groups.set(grp, new Map())
    const g = groups.get(grp)!
    if (!g.has(key)) g.set(key, new Map())
    g.get(key)!.set(k, (g.get(key)!.get(k) ?? 0) + v)
  }
  for (const r of rows) {
    const c = RECOVERY_CODES[Number(r.code)]!
    const k = Number(r.k)
    const cnt = Number(r.n)
    // Make sure a group with deltas exists even when they cancel out.
    if (!groups.has(r.grp)) groups.set(r.grp, new Map())
    for (const kind of KINDS) add(r.grp, kind, k, c[kind] * cnt)
    if (weight) {
      add(r.grp, 'w_affected', k, c.affected * Number(r.wn))
      add(r.grp, 'w_down', k, c.down * Number(r.wn))
    }
  }
  const build = (g: Map<string, Map<number, number>> | undefined): RecoveryPoint[] => {
    const sum = (key: string) => prefixSum(g?.get(key) ?? new Map(), n)
    const [aff, dn, ns, ip, cp] = ['affected', 'down', 'not_started', 'in_progress', 'completed'].map(sum)
    const [waff, wdn] = weight ? [sum('w_affected'), sum('w_down')] : [[], []]
    return frame.times.map((t, k) => {
      const p: RecoveryPoint = {
        t: isoTime(t),
        affected: aff![k]!,
        restored: aff![k]! - dn![k]!,
        recovery_pct: aff![k]! > 0 ? (100 * (aff![k]! - dn![k]!)) / aff![k]! : null,
        not_started: ns![k]!,
        in_progress: ip![k]!,
        completed: cp![k]!,
      }
      if (weight) p.weighted_recovery_pct = waff![k]! > 0 ? (100 * (waff![k]! - wdn![k]!)) / waff![k]! : null
      return p
    })
  }
  if (!groupBy) return { bucket_s: w.bucketMs / 1000, series: [{ group: null, points: build(groups.get('')) }] }
  const series = [...groups.entries()]
    .map(([group, g]) => ({ group, points: build(g) }))
    .sort((a, b) => (b.points.at(-1)?.affected ?? 0) - (a.points.at(-1)?.affected ?? 0) || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0))
    .slice(0, MAX_GROUPS)
  return { bucket_s: w.bucketMs / 1000, series }
}
