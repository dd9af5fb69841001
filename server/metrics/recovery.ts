import type { Store } from '../storage/client.js'
import { isoTime, parseAttributeName, parseWindow, single, type QueryScope, type RawQuery } from './filters.js'
import { bucketCodes, firstEventMs, seriesFrame } from './series.js'
import { logSource } from './source.js'
import type { StateSync } from './state-sync.js'
import { changeCodeSql, changeMsSql, changesAfterSql, RECOVERY_CODES } from './packing.js'
import { tenantStateSql } from './tenant-state.js'

const KINDS = ['affected', 'down', 'not_started', 'in_progress', 'completed'] as const
/** The per-bucket series accumulated per group: the counts, and the weights of affected and down. */
const SERIES_KINDS = [...KINDS, 'w_affected', 'w_down'] as const

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
  // Every tenant's changes (rdeltas: packed ms and code), counted per bucket and code; the codes are
  // expanded below. The default view reads them from the incident log when it is current.
  const log = await logSource(store, state, scope, { communications: false, weight, groupBy })
  // Per group: its (bucket, code) counts as parallel arrays (one row per group, not one per
  // count: a group_by answer of 50 groups × 500 buckets × 9 codes is 50 JSON lines to parse).
  let rows: { grp: string; ks: number[]; codes: number[]; ns: number[]; wns: number[] }[]
  if (log) {
    const counted = bucketCodes(log.recovery, frame)
    rows = [{ grp: '', ks: counted.map((r) => r.k), codes: counted.map((r) => r.code), ns: counted.map((r) => r.n), wns: [] }]
  } else {
    const core = tenantStateSql(store, at, { weight, meta: groupBy !== undefined, columns: ['rdeltas'] })
    // group_by: the MAX_GROUPS groups with the most affected tenants at the window's end are
    // chosen first, and only their tenants' changes are counted, so the answer's size does not
    // grow with the number of distinct values (an attribute such as seats has thousands).
    const topGroups = groupBy
      ? `AND grp IN (SELECT attributes[{group_by:String}] AS g FROM (${core.sql}) GROUP BY g ORDER BY count() DESC, g ASC LIMIT ${MAX_GROUPS})`
      : ''
    rows = await store.rows(
      `SELECT grp, groupArray(k) AS ks, groupArray(code) AS codes, groupArray(n) AS ns, groupArray(wn) AS wns FROM (
         SELECT grp, ${frame.bucketOf(changeMsSql('d'))} AS k, ${changeCodeSql('d')} AS code, count() AS n, ${weight ? 'sum(weight)' : '0'} AS wn
         FROM (SELECT ${groupBy ? 'attributes[{group_by:String}]' : "''"} AS grp, ${weight ? 'weight' : '0'} AS weight, rdeltas FROM (${core.sql}))
         ARRAY JOIN rdeltas AS d
         WHERE d < ${changesAfterSql('{sf_to:Int64}')} ${topGroups}
         GROUP BY grp, k, code)
       GROUP BY grp`,
      { ...core.params, ...frame.params, group_by: groupBy ?? '' },
    )
  }
  const n = frame.times.length
  /** Per group, per kind, the deltas of each bucket, then (in place) their prefix sums: the series. */
  const groups = new Map<string, Record<(typeof SERIES_KINDS)[number], Float64Array>>()
  for (const r of rows) {
    const g = Object.fromEntries(SERIES_KINDS.map((kind) => [kind, new Float64Array(n)])) as Record<(typeof SERIES_KINDS)[number], Float64Array>
    groups.set(r.grp, g)
    for (let i = 0; i < r.ks.length; i++) {
      const c = RECOVERY_CODES[Number(r.codes[i])]!
      const k = Number(r.ks[i])
      const cnt = Number(r.ns[i])
      for (const kind of KINDS) g[kind][k]! += c[kind] * cnt
      if (weight) {
        g.w_affected[k]! += c.affected * Number(r.wns[i])
        g.w_down[k]! += c.down * Number(r.wns[i])
      }
    }
    for (const series of Object.values(g)) for (let k = 1; k < n; k++) series[k]! += series[k - 1]!
  }
  const empty = Object.fromEntries(SERIES_KINDS.map((kind) => [kind, new Float64Array(n)])) as Record<(typeof SERIES_KINDS)[number], Float64Array>
  // The bucket times as text once, for every series (50 series × 500 points of a group_by answer).
  const times = frame.times.map(isoTime)
  const build = (g = empty): RecoveryPoint[] =>
    times.map((t, k) => {
      const aff = g.affected[k]!
      const restored = aff - g.down[k]!
      const p: RecoveryPoint = {
        t,
        affected: aff,
        restored,
        recovery_pct: aff > 0 ? (100 * restored) / aff : null,
        not_started: g.not_started[k]!,
        in_progress: g.in_progress[k]!,
        completed: g.completed[k]!,
      }
      if (weight) p.weighted_recovery_pct = g.w_affected[k]! > 0 ? (100 * (g.w_affected[k]! - g.w_down[k]!)) / g.w_affected[k]! : null
      return p
    })
  if (!groupBy) return { bucket_s: w.bucketMs / 1000, series: [{ group: null, points: build(groups.get('')) }] }
  const series = [...groups.entries()]
    .map(([group, g]) => ({ group, points: build(g) }))
    .sort((a, b) => (b.points.at(-1)?.affected ?? 0) - (a.points.at(-1)?.affected ?? 0) || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0))
    .slice(0, MAX_GROUPS)
  return { bucket_s: w.bucketMs / 1000, series }
}
