import type { Store } from '../storage/client.js'
import { parseInteger, type QueryScope, type RawQuery } from './filters.js'
import { tenantStateSql } from './tenant-state.js'

export interface DowntimeHistogram {
  bins: { from_s: number; to_s: number; tenants: number }[]
}

/** Bin widths (s) a reader can take in at a glance: 1 s … 1 d, then whole days. */
const NICE_WIDTHS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]

export function parseBins(q: RawQuery): number {
  return parseInteger(q, 'bins', 20, 1, 200)
}

/**
 * Downtime distribution of the affected tenants: bins [from_s, to_s) starting at 0, of the
 * smallest nice width that covers the longest downtime in at most `bins` bins; the last bin also
 * holds a downtime equal to its upper edge. Every bin up to the longest downtime is listed, empty
 * ones included. No affected tenants → no bins.
 */
export async function downtimeHistogram(store: Store, scope: QueryScope, bins: number): Promise<DowntimeHistogram> {
  const core = tenantStateSql(store, scope, { columns: ['downtime_ms'] })
  const rows = await store.rows<{ width_ms: number; max_ms: number; idx: number[]; counts: number[] }>(
    `SELECT width_ms, max_ms, groupArray(i) AS idx, groupArray(c) AS counts FROM (
       SELECT width_ms, max_ms, least(intDiv(downtime_ms, width_ms), greatest(toInt64(ceil(max_ms / width_ms)) - 1, 0)) AS i, count() AS c
       FROM (
         SELECT downtime_ms, max(downtime_ms) OVER () AS max_ms,
           if(arrayExists(w -> w * {bins:Int64} >= max_ms, {nice:Array(Int64)}),
              arrayFirst(w -> w * {bins:Int64} >= max_ms, {nice:Array(Int64)}),
              toInt64(ceil(max_ms / ({bins:Int64} * 86400000))) * 86400000) AS width_ms
         FROM (${core.sql})
       )
       GROUP BY width_ms, max_ms, i
     ) GROUP BY width_ms, max_ms`,
    { ...core.params, bins, nice: NICE_WIDTHS_S.map((s) => s * 1000) },
  )
  const r = rows[0]
  if (!r) return { bins: [] }
  const widthMs = Number(r.width_ms)
  const count = Math.max(1, Math.ceil(Number(r.max_ms) / widthMs))
  const counts = new Map(r.idx.map((i, j) => [Number(i), Number(r.counts[j])]))
  return {
    bins: Array.from({ length: count }, (_, i) => ({ from_s: (i * widthMs) / 1000, to_s: ((i + 1) * widthMs) / 1000, tenants: counts.get(i) ?? 0 })),
  }
}
