import type { Store } from '../storage/client.js'
import { isoTime, parseAttributeName, parseWindow, single, type QueryScope, type RawQuery } from './filters.js'
import { firstEventMs, prefixSum, seriesFrame } from './series.js'
import { OPEN_END_MS, tenantStateSql } from './tenant-state.js'

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

/** Delta kinds: 1 affected, 2 down, 3 not_started, 4 in_progress, 5 completed. */
const STAGE_DELTAS = `
  arrayFlatten(arrayMap((s, e) -> arrayMap(rr -> arrayConcat(
      arrayMap((t, c) -> (t, c, toInt8(1)), arrayPushFront(arrayMap(x -> intDiv(x, 8), rr), s), arrayPushFront(arrayMap(x -> toUInt8(if(x % 8 = 5, 5, 4)), rr), toUInt8(3))),
      arrayMap((t, c) -> (t, c, toInt8(-1)), arrayMap(x -> intDiv(x, 8), rr), arrayPopBack(arrayPushFront(arrayMap(x -> toUInt8(if(x % 8 = 5, 5, 4)), rr), toUInt8(3)))),
      if(e < ${OPEN_END_MS}, [(e, if(empty(rr), toUInt8(3), toUInt8(if(rr[-1] % 8 = 5, 5, 4))), toInt8(-1))],
         CAST([], 'Array(Tuple(Int64, UInt8, Int8))'))
    ), [arrayFilter(r -> r >= s * 8 AND r < e * 8, rk)])[1], starts, ends_open))`

const DELTAS = `arrayConcat(
  [(first_lost_ms, toUInt8(1), toInt8(1))],
  arrayMap(s -> (s, toUInt8(2), toInt8(1)), starts),
  arrayMap(c -> (c, toUInt8(2), toInt8(-1)), closes),
  ${STAGE_DELTAS})`

export async function recoverySeries(store: Store, scope: QueryScope, q: RawQuery): Promise<RecoverySeries> {
  const weight = parseAttributeName(q, 'weight')
  const groupBy = parseAttributeName(q, 'group_by')
  const w = parseWindow(q, scope.asOfMs, single(q, 'from') ? null : await firstEventMs(store, scope))
  const frame = seriesFrame(w)
  const at = { ...scope, asOfMs: w.toMs }
  const core = tenantStateSql(store, at, { weight, meta: groupBy !== undefined, columns: ['first_lost_ms', 'starts', 'closes', 'ends_open', 'rk'] })
  const rows = await store.rows<{ grp: string; k: number; kind: number; n: number; wn: number }>(
    `SELECT grp, ${frame.bucketOf('d.1')} AS k, d.2 AS kind, sum(d.3) AS n, ${weight ? 'sum(d.3 * weight)' : '0'} AS wn
     FROM (SELECT ${groupBy ? 'attributes[{group_by:String}]' : "''"} AS grp, ${weight ? 'weight' : '0'} AS weight, arrayJoin(${DELTAS}) AS d
           FROM (${core.sql}))
     WHERE ${frame.upToEnd('d.1')}
     GROUP BY grp, k, kind`,
    { ...core.params, ...frame.params, group_by: groupBy ?? '' },
  )
  const n = frame.times.length
  const groups = new Map<string, Map<string, Map<number, number>>>()
  const add = (grp: string, key: string, k: number, v: number) => {
    if (!groups.has(grp)) groups.set(grp, new Map())
    const g = groups.get(grp)!
    if (!g.has(key)) g.set(key, new Map())
    g.get(key)!.set(k, (g.get(key)!.get(k) ?? 0) + v)
  }
  const KIND = ['', 'affected', 'down', 'not_started', 'in_progress', 'completed']
  for (const r of rows) {
    add(r.grp, KIND[Number(r.kind)]!, Number(r.k), Number(r.n))
    if (weight && Number(r.kind) <= 2) add(r.grp, `w_${KIND[Number(r.kind)]}`, Number(r.k), Number(r.wn))
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
