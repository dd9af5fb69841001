import type { BroadcastIndex } from './broadcasts.js'
import { upperBound } from './incident-log.js'
import { KEY_TYPES, keysAfter, keyType, packKey } from './packing.js'

/**
 * One tenant's row at T, evaluated in JavaScript from its stored `tenant_state` facts (the
 * columns described in tenant-state.ts). Views over every tenant (summary, series, histogram,
 * CSV) compute the same figures in SQL through `tenantStateSql`; a single row or a page of rows
 * is cheaper here: ClickHouse spends 10-15 ms of CPU planning the ~20 lambda expressions of a
 * row, more than reading it. The property tests check both against the reference.
 *
 * Times are Int64 ms in ClickHouse and exact JS numbers here (OPEN_END < 2^53).
 */
export interface StoredState {
  first_lost_ms: number
  starts: number[]
  ends: number[]
  stray_ms: number[]
  rk: number[]
  prog_ms: number[]
  prog: number[]
  dcomm: number[]
  contact_ms: number
  gap_comms: number[]
  gap_prefix: number[]
}

/** The stored columns a row is evaluated from, as SQL over `tenant_state` (arrays of Int64 come back as numbers). */
export const STORED_STATE_COLUMNS = ['first_lost_ms', 'starts', 'ends', 'stray_ms', 'rk', 'prog_ms', 'prog', 'dcomm', 'contact_ms', 'gap_comms', 'gap_prefix'] as const

export interface RowAt {
  down: boolean
  first_lost_ms: number
  last_restored_ms: number | null
  /** Start of the outage interval open at T; null when up. */
  down_since_ms: number | null
  downtime_ms: number
  outages: number
  restore_stage: 'not_started' | 'in_progress' | 'completed' | null
  restore_progress: number | null
  first_contact_ms: number | null
  communications: number
  max_gap_ms: number
  /** access_restored events at or before T that found the tenant up (diagnostics). */
  strays: number
}

/** Normalize a row as JSON gives it (Int64 may arrive as numbers or strings). */
export function storedState(raw: Record<string, unknown>): StoredState {
  const nums = (v: unknown) => (Array.isArray(v) ? v.map(Number) : [])
  return {
    first_lost_ms: Number(raw.first_lost_ms),
    starts: nums(raw.starts),
    ends: nums(raw.ends),
    stray_ms: nums(raw.stray_ms),
    rk: nums(raw.rk),
    prog_ms: nums(raw.prog_ms),
    prog: nums(raw.prog),
    dcomm: nums(raw.dcomm),
    contact_ms: Number(raw.contact_ms),
    gap_comms: nums(raw.gap_comms),
    gap_prefix: nums(raw.gap_prefix),
  }
}

/**
 * The row at T of a tenant affected at T (first_lost_ms <= T). `broadcasts`: the incident's
 * broadcasts when include_broadcast=true (those at or before T count as communications to every
 * tenant); undefined otherwise.
 */
export function rowAt(s: StoredState, t: number, broadcasts?: BroadcastIndex): RowAt {
  const outages = upperBound(s.starts, t)
  const end = s.ends[outages - 1]!
  const down = end > t
  const curStart = s.starts[outages - 1]!
  let downtime = 0
  for (let i = 0; i < outages; i++) downtime += Math.min(s.ends[i]!, t) - s.starts[i]!

  // The latest restore_* event at or before T (rk: keys), if it is in the current outage.
  const rkUpTo = upperBound(s.rk, keysAfter(t) - 1)
  const restoreKey = rkUpTo > 0 ? s.rk[rkUpTo - 1]! : 0
  const stage = !down ? null : restoreKey < packKey(curStart, 0) ? 'not_started' : keyType(restoreKey) === KEY_TYPES.restore_completed ? 'completed' : 'in_progress'
  const progIdx = upperBound(s.prog_ms, t)
  const progress = down && progIdx > 0 && s.prog_ms[progIdx - 1]! >= curStart ? s.prog[progIdx - 1]! : null

  const endMs = down ? t : end
  let firstContact: number | null
  let communications: number
  let maxGap: number
  if (broadcasts === undefined) {
    firstContact = s.contact_ms <= t ? s.contact_ms : null
    communications = 0
    for (const c of s.dcomm) if (c >= s.first_lost_ms && c <= t) communications++
    // Gaps between the first loss and the counted communications inside outages, precomputed as prefix maxima.
    const k = upperBound(s.gap_comms, t)
    maxGap = Math.max(k === 0 ? 0 : s.gap_prefix[k - 1]!, endMs - (k === 0 ? s.first_lost_ms : s.gap_comms[k - 1]!))
  } else {
    const direct = s.dcomm.filter((c) => c >= s.first_lost_ms && c <= t)
    // Broadcasts [lo, hi) are the ones at or after the first loss and at or before T.
    const lo = broadcasts.countBefore(s.first_lost_ms)
    const hi = broadcasts.countUpTo(t)
    const firstBroadcast = lo < hi ? broadcasts.times[lo]! : Infinity
    firstContact = Math.min(direct[0] ?? Infinity, firstBroadcast)
    if (firstContact === Infinity) firstContact = null
    communications = direct.length + Math.max(0, hi - lo)
    maxGap = maxGapWithBroadcasts(s, t, outages, endMs, direct, broadcasts)
  }
  return {
    down,
    first_lost_ms: s.first_lost_ms,
    last_restored_ms: down ? null : end,
    down_since_ms: down ? curStart : null,
    downtime_ms: downtime,
    outages,
    restore_stage: stage,
    restore_progress: progress,
    first_contact_ms: firstContact,
    communications,
    max_gap_ms: maxGap,
    strays: upperBound(s.stray_ms, t),
  }
}

/**
 * max_comm_gap_s counting broadcasts: the longest stretch between consecutive points of [first
 * loss, each direct or broadcast communication inside an outage interval up to T, the end].
 * The few points that are not broadcasts (first loss, end, direct communications) split each
 * outage's run of broadcasts into runs with no other point inside; a run contributes its first
 * and last time and its longest inner gap (BroadcastIndex.maxGap), so the cost does not grow
 * with the number of broadcasts.
 */
function maxGapWithBroadcasts(s: StoredState, t: number, outages: number, endMs: number, direct: number[], b: BroadcastIndex): number {
  const within = (c: number) => {
    for (let i = 0; i < outages; i++) if (s.starts[i]! <= c && c <= Math.min(s.ends[i]!, t)) return true
    return false
  }
  const points = [s.first_lost_ms, ...direct.filter(within), endMs].sort((x, y) => x - y)
  const items: { first: number; last: number; inner: number }[] = points.map((p) => ({ first: p, last: p, inner: 0 }))
  for (let i = 0; i < outages; i++) {
    let from = b.countBefore(s.starts[i]!)
    const to = b.countUpTo(Math.min(s.ends[i]!, t))
    if (from >= to) continue
    // Split the run at every other point strictly inside it.
    for (const p of points) {
      if (p <= b.times[from]! || p >= b.times[to - 1]!) continue
      const cut = b.countUpTo(p)
      items.push({ first: b.times[from]!, last: b.times[cut - 1]!, inner: b.maxGap(from, cut - 1) })
      from = cut
    }
    items.push({ first: b.times[from]!, last: b.times[to - 1]!, inner: b.maxGap(from, to - 1) })
  }
  items.sort((x, y) => x.first - y.first || x.last - y.last)
  let gap = 0
  for (let k = 0; k < items.length; k++) {
    gap = Math.max(gap, items[k]!.inner)
    if (k > 0) gap = Math.max(gap, items[k]!.first - items[k - 1]!.last)
  }
  return gap
}
