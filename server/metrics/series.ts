import type { Params, Store } from '../storage/client.js'
import { pointTimes, type QueryScope, type Window } from './filters.js'
import type { StateSync } from './state-sync.js'
import { OPEN_END, OPEN_END_MS } from './tenant-state.js'

/**
 * Shared machinery of the time series. A series value at a bucket end t is the state at t,
 * which changes only at event times; so each tenant contributes signed deltas (+1 when it
 * becomes affected, +1/−1 when an outage opens/closes, …) and the state at t_k is the prefix
 * sum of the deltas up to bucket k. ClickHouse buckets and sums the deltas; the prefix sum over
 * at most MAX_BUCKETS values is done here.
 */
export interface SeriesFrame {
  times: number[]
  params: Params
  /** SQL: the bucket index of a time expression (ms), clamped to [0, last]: earlier deltas fold into the first point. */
  bucketOf(expr: string): string
  /** SQL: true when a time (ms) falls inside one of the buckets (for counts "in the bucket"). */
  inWindow(expr: string): string
  /** SQL: true when a time (ms) is at or before the last point (stale spans start in the future too). */
  upToEnd(expr: string): string
}

export function seriesFrame(w: Window): SeriesFrame {
  const times = pointTimes(w)
  const params: Params = { sf_to: w.toMs, sf_first: times[0]!, sf_b: w.bucketMs, sf_last: times.length - 1, sf_lo: times[0]! - w.bucketMs }
  return {
    times,
    params,
    bucketOf: (e) => `greatest(0, least({sf_last:Int64}, intDiv(${e} - {sf_first:Int64} + {sf_b:Int64} - 1, {sf_b:Int64})))`,
    inWindow: (e) => `(${e} > {sf_lo:Int64})`,
    upToEnd: (e) => `(${e} <= {sf_to:Int64})`,
  }
}

/** Prefix sums of per-bucket deltas. */
export function prefixSum(deltas: Map<number, number>, n: number): number[] {
  const out = new Array<number>(n)
  let acc = 0
  for (let k = 0; k < n; k++) {
    acc += deltas.get(k) ?? 0
    out[k] = acc
  }
  return out
}

/**
 * The first event time of the incident at or before T (the default `from` of a series): the
 * earliest event of all time, if that is not after T. Tenant events come from tenant_state
 * (min_ms); broadcasts and milestones (no tenant) from their own small key range of events.
 */
export async function firstEventMs(store: Store, state: StateSync, scope: QueryScope): Promise<number | null> {
  const db = store.db
  // The earliest event does not depend on T: computed once per change of the incident.
  const first = await state.cached(scope.incidentId, 'first event', false, async () => {
    const rows = await store.rows<{ ms: number | null }>(
      `SELECT least(
         (SELECT ifNull(minOrNull(min_ms), ${OPEN_END_MS}) FROM ${db}.tenant_state FINAL WHERE incident_id = {incident:String}),
         (SELECT ifNull(minOrNull(toUnixTimestamp64Milli(occurred_at)), ${OPEN_END_MS}) FROM ${db}.events WHERE incident_id = {incident:String} AND tenant_id = '')) AS ms`,
      { incident: scope.incidentId },
    )
    const ms = Number(rows[0]?.ms ?? OPEN_END)
    return ms >= OPEN_END ? null : ms
  })
  return first === null || first > scope.asOfMs ? null : first
}
