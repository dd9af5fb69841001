import { COMMS_CODES, OPEN_END_MS, packChangeSql } from './packing.js'

/**
 * SQL of the spans the communication figures are made of (stale, overdue), over a tenant's
 * tenant_state columns, and the incident's broadcasts up to T (the CTE `bc`) that count for every
 * tenant with include_broadcast=true. Used by the derivation (the precomputed cdeltas) and by
 * the figure catalogue (figures.ts).
 */

/** Stale spans [L, R) as (L, R) tuples, from anchors (first loss, then each counted communication) and intervals. */
export function staleSpansSql(comms: string, staleMs: string, starts = 'starts', ends = 'ends'): string {
  return `arrayFilter(x -> x.1 < x.2, arrayFlatten(arrayMap((a, an) ->
      arrayMap((s, e) -> (greatest(a + ${staleMs} + 1, s), least(an, e)), ${starts}, ${ends}),
      arrayPushFront(${comms}, first_lost_ms),
      arrayPushBack(${comms}, ${OPEN_END_MS}))))`
}

/** Spans (an Array of (L, R) tuples) as packed changes: `from` where one starts, `to` where it ends (stale: 3 and 4, overdue: 5 and 6). */
export function spansToChangesSql(spans: string, from: number = COMMS_CODES.staleFrom, to: number = COMMS_CODES.staleTo): string {
  return `arrayFlatten(arrayMap(x -> if(x.2 < ${OPEN_END_MS}, [${packChangeSql('x.1', from)}, ${packChangeSql('x.2', to)}], [${packChangeSql('x.1', from)}]), ${spans}))`
}

/** SQL (a CTE named `bc`): the incident's broadcast times at or before T, from `eventsFrom` (tenant-state.ts eventsFrom). */
export function broadcastsCte(eventsFrom: string): string {
  return `bc AS (SELECT toUnixTimestamp64Milli(occurred_at) AS ms FROM ${eventsFrom}
     WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')})`
}
/** Scalars over `bc`, each computed once per statement: the count, the last time (0 if none), all times ascending. */
export const BC_COUNT = '(SELECT count() FROM bc)'
export const BC_LAST = '(SELECT toInt64(max(ms)) FROM bc)'
export const BC_TIMES = '(SELECT arraySort(groupArray(ms)) FROM bc)'
/** The consecutive broadcasts more than stale_after apart, as (earlier, later) pairs. */
const bcLongGaps = (periodMs: string) =>
  `(SELECT arrayFilter(x -> x.2 - x.1 > ${periodMs}, arrayZip(arrayPopBack(a), arrayPopFront(a))) FROM (SELECT arraySort(groupArray(ms)) AS a FROM bc))`

/**
 * include_broadcast: the times at or after the first loss when no broadcast was sent within
 * `periodMs` before, as [L, R) spans: before the first broadcast, inside each long gap between
 * two broadcasts, after the last. A tenant is stale at t when t is in one of these and in the
 * spans of its own first loss and direct communications (staleSpansSql); overdue for an update
 * likewise (overdueSpansSql).
 */
const broadcastUncovered = (periodMs: string) => `if(fb_ms >= ${OPEN_END_MS}, [(first_lost_ms, ${OPEN_END_MS})],
      arrayConcat([(first_lost_ms, fb_ms)],
        arrayMap(g -> (g.1 + ${periodMs} + 1, g.2), arrayFilter(g -> g.1 >= first_lost_ms, ${bcLongGaps(periodMs)})),
        [(${BC_LAST} + ${periodMs} + 1, ${OPEN_END_MS})]))`
export const BROADCAST_UNCOVERED = broadcastUncovered('{stale_ms:Int64}')

/** The [L, R) spans two sorted lists of disjoint spans have in common. */
const intersectSpans = (a: string, b: string) =>
  `arrayFilter(x -> x.1 < x.2, arrayFlatten(arrayMap(p -> arrayMap(q -> (greatest(p.1, q.1), least(p.2, q.2)), ${b}), ${a})))`

/**
 * Overdue spans (SPEC §6) over all time, [L, R) tuples: while down, from first_contact_within
 * after the first loss until the first contact; and from the first contact on, every time more
 * than update_every has passed since the last counted communication. The second part is where
 * no direct communication (nor, with include_broadcast, broadcast: the broadcasts' own
 * uncovered spans) was sent within update_every.
 */
export function overdueSpansSql(withBroadcasts: boolean): string {
  const ue = '{ue_ms:Int64}'
  const direct = `arrayConcat([(first_lost_ms, if(empty(comms_all), ${OPEN_END_MS}, comms_all[1]))],
      arrayMap((a, n) -> (a + ${ue} + 1, n), comms_all, arrayPopFront(arrayPushBack(comms_all, ${OPEN_END_MS}))))`
  const uncovered = withBroadcasts ? intersectSpans(direct, broadcastUncovered(ue)) : direct
  const updates = intersectSpans(uncovered, `[(contact_all_ms, ${OPEN_END_MS})]`)
  const spans = `arrayConcat([(first_lost_ms + {fcw_ms:Int64} + 1, contact_all_ms)], ${updates})`
  return intersectSpans(spans, 'arrayZip(starts, ends)')
}

