import type { Params, Store } from '../storage/client.js'
import { knownKey, pointTimes, type QueryScope, type Window } from './filters.js'
import type { StateSync } from './state-sync.js'
import { countCodes, upperBound, type Changes } from './incident-log.js'
import { OPEN_END, OPEN_END_MS } from './packing.js'
import { eventsFrom, knownParams, tenantStateFrom } from './tenant-state.js'

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
  /** The bounds inWindow and upToEnd test: a time t counts in some bucket when lowMs < t <= toMs. */
  lowMs: number
  toMs: number
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
    lowMs: times[0]! - w.bucketMs,
    toMs: w.toMs,
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
  const first = await state.cached(scope.incidentId, knownKey(scope, 'first event'), false, async () => {
    const rows = await store.rows<{ ms: number | null }>(
      `SELECT least(
         (SELECT ifNull(minOrNull(min_ms), ${OPEN_END_MS}) FROM ${tenantStateFrom(db, scope)} WHERE s.incident_id = {incident:String}),
         (SELECT ifNull(minOrNull(toUnixTimestamp64Milli(occurred_at)), ${OPEN_END_MS}) FROM ${eventsFrom(db, scope)} WHERE incident_id = {incident:String} AND tenant_id = '')) AS ms`,
      { incident: scope.incidentId, ...knownParams(scope) },
    )
    const ms = Number(rows[0]?.ms ?? OPEN_END)
    return ms >= OPEN_END ? null : ms
  })
  return first === null || first > scope.asOfMs ? null : first
}

/**
 * Counts per (bucket, code) of logged changes at or before the frame's end, in the shape of the
 * series queries' rows. Changes before the window fold into the first bucket.
 */
export function bucketCodes(changes: Changes, frame: SeriesFrame): { k: number; code: number; n: number }[] {
  const out: { k: number; code: number; n: number }[] = []
  let start = 0
  // Changes are sorted by time: each bucket is the run up to its end, found by binary search
  // (the same buckets bucketOf gives, without a division per change).
  frame.times.forEach((end, k) => {
    const stop = upperBound(changes.ms, end)
    countCodes(changes, start, stop).forEach((n, code) => n > 0 && out.push({ k, code, n }))
    start = stop
  })
  return out
}

/** The index runs [start, stop) of an ascending array's times in each bucket of the window (empty runs left out). */
export function bucketRuns(times: Float64Array, frame: SeriesFrame): { k: number; start: number; stop: number }[] {
  const out: { k: number; start: number; stop: number }[] = []
  let start = upperBound(times, frame.lowMs)
  frame.times.forEach((end, k) => {
    const stop = upperBound(times, end)
    if (stop > start) out.push({ k, start, stop })
    start = Math.max(start, stop)
  })
  return out
}

/**
 * ClickHouse's quantileExactInclusive(p) (linear interpolation between order statistics, as
 * Excel's PERCENTILE.INC), without sorting: the one or two order statistics it interpolates
 * between are selected in place (quickselect, linear on average). Reorders `values`.
 */
export function quantileInclusiveUnsorted(values: Float64Array, p: number): number | null {
  const n = values.length
  if (n === 0) return null
  const h = p * (n - 1) + 1
  const i = Math.min(n, Math.max(1, Math.floor(h)))
  const lo = select(values, i - 1)
  if (i >= n || h === i) return lo
  // The next order statistic is the smallest value right of the selected one.
  let hi = Infinity
  for (let j = i; j < n; j++) if (values[j]! < hi) hi = values[j]!
  return lo + (h - i) * (hi - lo)
}

/** Rearranges xs so that xs[k] is the k-th smallest, smaller ones before it and larger after; returns it. */
function select(xs: Float64Array, k: number): number {
  let left = 0
  let right = xs.length - 1
  while (right > left) {
    const pivot = xs[(left + right) >>> 1]!
    let i = left
    let j = right
    while (i <= j) {
      while (xs[i]! < pivot) i++
      while (xs[j]! > pivot) j--
      if (i <= j) {
        const t = xs[i]!
        xs[i] = xs[j]!
        xs[j] = t
        i++
        j--
      }
    }
    if (k <= j) right = j
    else if (k >= i) left = i
    else return xs[k]!
  }
  return xs[k]!
}
