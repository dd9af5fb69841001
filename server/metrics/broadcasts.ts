import { badRequest } from '../errors.js'
import type { Store } from '../storage/client.js'
import { knownKey, type QueryScope } from './filters.js'
import { upperBound } from './incident-log.js'
import type { StateSync } from './state-sync.js'
import { eventsFrom, knownParams, tenantStateFrom } from './tenant-state.js'

/**
 * An incident's broadcast communications (no tenant_id), which with include_broadcast=true count
 * for every tenant from its first loss on (SPEC §3). An incident may have tens of thousands, so
 * nothing here copies them per tenant: a row asks for counts and first/last times by binary
 * search, and for the longest gap between consecutive broadcasts of an index range from a sparse
 * table (built on first use), so one tenant's row costs O(log n) per outage and direct
 * communication instead of O(n).
 */
export class BroadcastIndex {
  private gapTable: Float64Array[] | null = null

  /** `times`: ms, ascending. */
  constructor(readonly times: Float64Array) {}

  get length(): number {
    return this.times.length
  }

  /** How many are at or before t. */
  countUpTo(t: number): number {
    return upperBound(this.times, t)
  }

  /** How many are before t. */
  countBefore(t: number): number {
    return upperBound(this.times, t - 1)
  }

  /** How many consecutive pairs up to t are more than `ms` apart. */
  gapsOver(ms: number, t: number): number {
    const to = this.countUpTo(t)
    let n = 0
    for (let k = 1; k < to; k++) if (this.times[k]! - this.times[k - 1]! > ms) n++
    return n
  }

  /** The longest of times[k+1] − times[k] for from ≤ k < to (0 when the range is empty). */
  maxGap(from: number, to: number): number {
    if (to <= from) return 0
    const table = (this.gapTable ??= sparseMaxTable(this.times))
    const level = 31 - Math.clz32(to - from)
    const row = table[level]!
    return Math.max(row[from]!, row[to - (1 << level)]!)
  }
}

/** table[j][i] = max gap over k in [i, i + 2^j): range maxima in O(1). */
function sparseMaxTable(times: Float64Array): Float64Array[] {
  const n = Math.max(0, times.length - 1)
  const base = new Float64Array(n)
  for (let i = 0; i < n; i++) base[i] = times[i + 1]! - times[i]!
  const table = [base]
  for (let j = 1; 1 << j <= n; j++) {
    const prev = table[j - 1]!
    const half = 1 << (j - 1)
    const row = new Float64Array(n - (1 << j) + 1)
    for (let i = 0; i < row.length; i++) row[i] = Math.max(prev[i]!, prev[i + half]!)
    table.push(row)
  }
  return table
}

/** The incident's broadcast times (every one received by known_at; callers cut at T), read once per change of the incident. */
export function incidentBroadcasts(store: Store, state: StateSync, scope: Pick<QueryScope, 'incidentId' | 'knownAtMs'>): Promise<BroadcastIndex> {
  return state.cached(scope.incidentId, knownKey(scope, 'broadcast times'), false, async () => {
    const [row] = await store.rows<{ times: number[] }>(
      `SELECT arraySort(groupArray(toUnixTimestamp64Milli(occurred_at))) AS times FROM ${eventsFrom(store.db, scope)}
       WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication'`,
      { incident: scope.incidentId, ...knownParams(scope) },
    )
    return new BroadcastIndex(Float64Array.from((row?.times ?? []).map(Number)))
  })
}

/**
 * The most (tenant, broadcast) pairs a view may walk in ClickHouse. Two figures that count
 * broadcasts cost affected tenants × something about the broadcasts: the longest gap between
 * communications (sort=max_comm_gap_s, the CSV export) reads each tenant's copy of the
 * broadcasts up to T, and the stale series intersects each tenant's stale spans with the long
 * gaps between broadcasts (all of them when stale_after is shorter than their spacing). Beyond
 * this a request is refused with 400 naming the limit, before it runs into the engine's (at 50M
 * pairs a statement needed over 1 GiB).
 */
export const MAX_BROADCAST_PAIRS = 30_000_000

/**
 * Refuse (400) a view whose cost, affected tenants × `perTenant` (of the broadcasts up to T:
 * all of them by default), exceeds MAX_BROADCAST_PAIRS.
 */
export async function checkBroadcastPairs(
  store: Store,
  state: StateSync,
  scope: QueryScope,
  what: string,
  perTenant: (b: BroadcastIndex) => number = (b) => b.countUpTo(scope.asOfMs),
): Promise<void> {
  const broadcasts = perTenant(await incidentBroadcasts(store, state, scope))
  if (broadcasts === 0) return
  const [row] = await store.rows<{ n: number }>(
    `SELECT count() AS n FROM ${tenantStateFrom(store.db, scope)} WHERE s.incident_id = {incident:String} AND s.first_lost_ms <= {t:Int64}`,
    { incident: scope.incidentId, t: scope.asOfMs, ...knownParams(scope) },
  )
  const pairs = Number(row?.n ?? 0) * broadcasts
  if (pairs > MAX_BROADCAST_PAIRS) {
    throw badRequest(
      `${what} with include_broadcast=true compares each of ${Number(row?.n)} affected tenants with ${broadcasts} broadcasts or gaps between them (${pairs.toLocaleString('en')} pairs); at most ${MAX_BROADCAST_PAIRS.toLocaleString('en')}: narrow it with a segment filter (attr.<name>=<value>) or an earlier as_of`,
      'too_expensive',
    )
  }
}
