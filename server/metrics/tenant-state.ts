import { DEFAULT_COMM_POLICY, type CommPolicy } from '../domain/comm-policy.js'
import type { Params, Store } from '../storage/client.js'
import { chTime, segmentWhere, type QueryScope } from './filters.js'
import { COMMS_CODES, KEY_TYPES, keyMsSql, keysAfterSql, keyTypeSql, packChangeSql, packKeySql } from './packing.js'

/**
 * The per-tenant core of SPEC §3 in two steps.
 *
 * 1. Derivation (`deriveTenantStateSql`, run by the state sync whenever a tenant's events change):
 *    events, deduplicated by FINAL, become one `tenant_state` row per (incident, tenant) holding
 *    the facts that do not depend on the moment T. They do not, because the fold of §3 is
 *    sequential: the state at T uses only events at or before T, so the outage intervals at T
 *    are the intervals of all events with those starting after T dropped and those ending after
 *    T still open; likewise the restore stage, first contact and stale spans at any moment t
 *    depend only on events at or before t.
 * 2. Reading (`tenantStateSql`): the state at T of every affected tenant, from those facts, with
 *    cheap array expressions and no grouping of events.
 *
 * tenant_state columns (times are Int64 ms since the epoch; OPEN_END = "never" / "still open"; the
 * table as ClickHouse reports it: server/storage/schema.sql). A tenant's final state is not stored
 * (tenant-row.ts evaluates rows from these facts): migration 13 dropped the retired fin_* columns.
 *   min_ms          earliest event of the tenant, any type
 *   first_lost_ms   start of the first outage (OPEN_END if never lost: such tenants are never affected)
 *   starts, ends    outage intervals [start, end), ascending; the last end is OPEN_END while down
 *   stray_ms        access_restored events that found the tenant up (ignored by §3, reported as diagnostics)
 *   rk              restore_* events as keys (packing.ts: ms * 8 + type), ascending
 *   prog_ms, prog   restore_progress times and values, in (occurred_at, event_id) order
 *   dcomm           direct communication times, ascending (also those before the first loss)
 *   contact_ms      first direct communication at or after first_lost_ms (OPEN_END if none)
 *   gap_comms       direct communications inside an outage interval, ascending, and
 *   gap_prefix      gap_prefix[i] = the longest gap between consecutive points of
 *                   [first_lost_ms, gap_comms[1..i]] (for max_comm_gap_s at any T)
 *   last_ms         latest event of the tenant, any type
 *   rdeltas         the tenant's changes to the recovery series, as packed changes (packing.ts: RECOVERY_CODES)
 *   cdeltas         its changes to the communications series for the default stale_after and direct
 *                   communications only, as packed changes (COMMS_CODES)
 *
 * Access state without a fold: after any access event the tenant is down iff that event is
 * access_lost. So an access_lost opens an interval iff the previous access event is not a lost,
 * and an access_restored closes one iff the previous one is a lost. Access events sort by
 * (occurred_at, type): the Enum8 puts access_lost (1) before access_restored (2) at equal times,
 * and the event_id tie-break of §3 cannot change any figure (equal time and type are
 * interchangeable).
 */

export const OPEN_END = 9_000_000_000_000_000
/** SQL for OPEN_END: beyond any as_of, and ×16 still fits an Int64. */
export const OPEN_END_MS = 'toInt64(9000000000000000)'
/** A moment after every event (the last one DateTime64 holds): "as of all time". */
export const ALL_TIME_MS = Date.UTC(2299, 11, 31)
/** The stale_after whose stale spans are precomputed (cdeltas); others are computed per query. */
export const DEFAULT_STALE_AFTER_MS = 86_400_000

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

/** A tenant's card (migration 6) keeps its first this many events in §3 order: what a timeline lists at most. */
export const CARD_EVENTS = 10_000

/**
 * INSERT … SELECT that rewrites the tenant_state rows of one incident: all of its tenants, or
 * (incremental) those with an events row written in a block numbered above {from:UInt64}.
 * It goes through tenant_state_input (migration 6), which also writes each tenant's card: its
 * stored state with its events, read by the timeline in one key-value lookup.
 * Parameters: incident, version, from; with `inParts`, also parts and part: only the tenants
 * whose id hashes to `part` of `parts` (a large derivation runs in several statements, each
 * holding a share of the tenants' events in memory).
 */
export function deriveTenantStateSql(db: string, incremental: boolean, inParts = false): string {
  // Per interval (s, e, i) and its restore events rr in [s, e): the code at s, the stage changes, the code at e.
  const stages = `arrayFlatten(arrayMap((s, e, i) -> arrayMap(rr -> arrayMap(sts -> arrayConcat(
        [${packChangeSql('s', 'if(i = 1, 1, 2)')}],
        arrayFilter(x -> x >= 0, arrayMap((t, a, b) -> if(a = b, toInt64(-1), ${packChangeSql('t', 'multiIf(a = 0 AND b = 1, 6, a = 0, 7, a = 1, 8, 9)')}),
          arrayMap(x -> ${keyMsSql('x')}, rr), arrayPopBack(arrayPushFront(sts, 0)), sts)),
        if(e < ${OPEN_END_MS}, [${packChangeSql('e', '3 + if(empty(sts), 0, sts[-1])')}], CAST([], 'Array(Int64)'))
      ), [arrayMap(x -> if(${keyTypeSql('x')} = ${KEY_TYPES.restore_completed}, 2, 1), rr)])[1],
      [arrayFilter(r -> r >= ${packKeySql('s', 0)} AND r < ${packKeySql('e', 0)}, rk)])[1], starts, ends, arrayEnumerate(starts)))`
  const comms = `arrayConcat(
      if(empty(starts), CAST([], 'Array(Int64)'), [${packChangeSql('first_lost_ms', COMMS_CODES.affected)}]),
      if(contact_ms < ${OPEN_END_MS}, [${packChangeSql('contact_ms', COMMS_CODES.contacted)}], CAST([], 'Array(Int64)')),
      ${spansToChangesSql(staleSpansSql('comms_after', String(DEFAULT_STALE_AFTER_MS)))})`
  const ms = 'toUnixTimestamp64Milli(occurred_at)'
  return `
    INSERT INTO ${db}.tenant_state_input (incident_id, tenant_id, version, min_ms, first_lost_ms, starts, ends, stray_ms, rk, prog_ms, prog,
      dcomm, contact_ms, gap_comms, gap_prefix, last_ms, rdeltas, cdeltas, events)
    SELECT incident_id, tenant_id, {version:UInt64} AS version, min_ms, first_lost_ms, starts, ends, stray_ms, rk,
      pv.1 AS prog_ms, pv.2 AS prog, dcomm, contact_ms, gap_comms,
      arrayMap(i -> arrayMax(arraySlice(gap_diffs, 1, i)), arrayEnumerate(gap_diffs)) AS gap_prefix,
      last_ms,
      if(empty(starts), CAST([], 'Array(Int64)'), ${stages}) AS rdeltas,
      ${comms} AS cdeltas,
      events
    FROM (
      SELECT incident_id, tenant_id, min_ms, last_ms, rk, dcomm, pv, events,
        arrayMap(x -> ${keyMsSql('x')}, acc) AS a_t,
        arrayMap(x -> toInt8(${keyTypeSql('x')}), acc) AS a_ty,
        arrayPopFront(arrayDifference(arrayPushFront(a_ty, toInt8(2)))) AS a_d,
        arrayFilter((t, d) -> d = -1, a_t, a_d) AS starts,
        arrayFilter((t, d) -> d = 1, a_t, a_d) AS closes,
        if(length(closes) < length(starts), arrayPushBack(closes, ${OPEN_END_MS}), closes) AS ends,
        arrayFilter((t, ty, d) -> ty = 2 AND d = 0, a_t, a_ty, a_d) AS stray_ms,
        if(empty(starts), ${OPEN_END_MS}, starts[1]) AS first_lost_ms,
        arrayFilter(c -> c >= first_lost_ms, dcomm) AS comms_after,
        if(empty(comms_after), ${OPEN_END_MS}, comms_after[1]) AS contact_ms,
        arrayFilter(c -> arrayExists((s, e) -> s <= c AND c <= e, starts, ends), comms_after) AS gap_comms,
        arrayPopFront(arrayDifference(arrayPushFront(gap_comms, first_lost_ms))) AS gap_diffs
      FROM (
        SELECT incident_id, tenant_id,
          min(${ms}) AS min_ms,
          max(${ms}) AS last_ms,
          arraySort(groupArrayIf(${packKeySql(ms, 'toUInt8(type)')}, type IN ('access_lost', 'access_restored'))) AS acc,
          arraySort(groupArrayIf(${packKeySql(ms, 'toUInt8(type)')}, type IN ('restore_started', 'restore_progress', 'restore_completed'))) AS rk,
          arraySort(groupArrayIf(${ms}, type = 'communication')) AS dcomm,
          arrayMap(x -> (x.1, x.3), arraySort(groupArrayIf((${ms}, event_id, assumeNotNull(progress)), type = 'restore_progress'))) AS pv,
          -- The timeline's order: occurred_at, then type, then event_id.
          arraySlice(arraySort(x -> (x.2, x.3, x.1), groupArray((event_id, ${ms}, toUInt8(type), progress, channel, label, message))), 1, ${CARD_EVENTS}) AS events
        FROM ${db}.events FINAL
        WHERE incident_id = {incident:String} AND tenant_id != ''
          ${inParts ? 'AND cityHash64(tenant_id) % {parts:UInt32} = {part:UInt32}' : ''}
          ${incremental ? `AND tenant_id IN (SELECT tenant_id FROM ${db}.events WHERE incident_id = {incident:String} AND tenant_id != '' AND _block_number > {from:UInt64})` : ''}
        GROUP BY incident_id, tenant_id
      )
    )`
}

export interface TenantStateOptions {
  /** Join tenant metadata (name, attributes, weight). */
  meta?: boolean
  /** Numeric attribute used as weight (bound). */
  weight?: string
  staleAfterMs?: number
  /** The incident's communication policy (SPEC §6), for the overdue columns; default DEFAULT_COMM_POLICY. */
  policy?: CommPolicy
  /**
   * The columns the caller reads (their dependencies are added). Selecting only those keeps
   * ClickHouse from computing the rest. Default: all.
   */
  columns?: TenantColumn[]
}

/** T in SQL. */
const T = '{as_of_ms:Int64}'

/**
 * Per-tenant columns at T, in dependency order; `deps` name other columns (`bdeps` instead with
 * include_broadcast=true). Stored columns of tenant_state are read as they are (listed with an
 * empty expression).
 */
const COLUMNS = {
  first_lost_ms: { expr: '', deps: [] },
  min_ms: { expr: '', deps: [] },
  starts: { expr: '', deps: [] },
  ends: { expr: '', deps: [] },
  rk: { expr: '', deps: [] },
  dcomm: { expr: '', deps: [] },
  rdeltas: { expr: '', deps: [] },
  cdeltas: { expr: '', deps: [] },
  contact_ms: { expr: '', deps: [] },
  stray_ms: { expr: '', deps: [] },
  prog_ms: { expr: '', deps: [] },
  prog: { expr: '', deps: [] },
  gap_comms: { expr: '', deps: [] },
  gap_prefix: { expr: '', deps: [] },
  outages: { expr: `arrayCount(s -> s <= ${T}, starts)`, deps: ['starts'] },
  down: { expr: `ends[outages] > ${T}`, deps: ['ends', 'outages'] },
  downtime_ms: { expr: `toInt64(arraySum((s, e) -> if(s <= ${T}, least(e, ${T}) - s, 0), starts, ends))`, deps: ['starts', 'ends'] },
  cur_start_ms: { expr: 'starts[outages]', deps: ['starts', 'outages'] },
  last_restored_ms: { expr: 'if(down, NULL, ends[outages])', deps: ['down', 'ends', 'outages'] },
  /** Interval ends up to T (a restore), for the ETA's trailing window. */
  closes_at: { expr: `arrayFilter(e -> e <= ${T}, ends)`, deps: ['ends'] },
  // The latest restore_* event at or before T (0 when none): only one in the current outage counts.
  restore_key: { expr: `arrayLast(r -> r < ${keysAfterSql(T)}, rk)`, deps: ['rk'] },
  restore_stage: {
    expr: `if(down, multiIf(restore_key < ${packKeySql('cur_start_ms', 0)}, 'not_started', ${keyTypeSql('restore_key')} = ${KEY_TYPES.restore_completed}, 'completed', 'in_progress'), NULL)`,
    deps: ['down', 'restore_key', 'cur_start_ms'],
  },
  // The latest restore_progress at or before T (at equal times the greatest event_id: the last in prog order).
  progress_idx: { expr: `arrayCount(t -> t <= ${T}, prog_ms)`, deps: [] },
  restore_progress: {
    expr: 'if(down AND progress_idx > 0 AND prog_ms[progress_idx] >= cur_start_ms, prog[progress_idx], NULL)',
    deps: ['down', 'progress_idx', 'cur_start_ms'],
  },
  /** Direct communications at or after the first loss and at or before T, ascending (with include_broadcast, broadcasts too: see MAX_GAP). */
  comms_after: { expr: 'COMMS_AFTER', deps: ['first_lost_ms', 'dcomm'] },
  /** Direct communications at or after the first loss, at any time (series look past no T). */
  comms_all: { expr: 'arrayFilter(c -> c >= first_lost_ms, dcomm)', deps: ['first_lost_ms', 'dcomm'] },
  /**
   * include_broadcast only: the first broadcast at or after the first loss (and at or before T;
   * OPEN_END if none) and its rank among the broadcasts up to T (ties share the lowest; 0 if
   * none), found by an ASOF join, so no tenant copies the broadcast list.
   */
  fb_ms: { expr: `if(fb.j_rank = 0, ${OPEN_END_MS}, fb.j_ms)`, deps: [] },
  fb_rank: { expr: 'fb.j_rank', deps: [] },
  first_contact_ms: { expr: 'FIRST_CONTACT', deps: ['contact_ms'], bdeps: ['contact_ms', 'fb_ms'] },
  /** First counted contact at any time (OPEN_END if none), for series. */
  contact_all_ms: { expr: 'CONTACT_ALL', deps: ['contact_ms'], bdeps: ['contact_ms', 'fb_ms'] },
  communications: { expr: 'COMMUNICATIONS', deps: ['comms_after'], bdeps: ['first_lost_ms', 'dcomm', 'fb_rank'] },
  /** The later of the first loss and the last counted communication up to T. */
  last_anchor_ms: { expr: 'LAST_ANCHOR', deps: ['first_lost_ms', 'dcomm'] },
  /** Stale spans [L, R) over all time (series), as (L, R) tuples: see staleSpansSql. */
  stale_spans: { expr: 'STALE_SPANS', deps: ['first_lost_ms', 'comms_all', 'starts', 'ends'], bdeps: ['first_lost_ms', 'comms_all', 'starts', 'ends', 'fb_ms'] },
  stale: { expr: `down AND ${T} - last_anchor_ms > {stale_ms:Int64}`, deps: ['down', 'last_anchor_ms'] },
  /** The last counted communication at or after the first loss and at or before T (NULL if none). */
  last_contact_ms: { expr: 'LAST_CONTACT', deps: ['first_lost_ms', 'dcomm'] },
  /**
   * SPEC §6 at T: while down, the moment the next contact was due: the first loss plus
   * first_contact_within before any contact, else the last contact plus update_every.
   */
  overdue_due_ms: {
    expr: `if(NOT down, NULL, if(first_contact_ms IS NULL, first_lost_ms + {fcw_ms:Int64}, last_contact_ms + {ue_ms:Int64}))`,
    deps: ['down', 'first_contact_ms', 'first_lost_ms', 'last_contact_ms'],
  },
  overdue: { expr: `ifNull(overdue_due_ms < ${T}, false)`, deps: ['overdue_due_ms'] },
  overdue_kind: { expr: `if(first_contact_ms IS NULL, 'first_contact', 'update')`, deps: ['first_contact_ms'] },
  /** first_contact_on_time_pct: the tenant counts (contacted, or its deadline passed), and was contacted in time. */
  fc_counted: { expr: `first_contact_ms IS NOT NULL OR ${T} - first_lost_ms > {fcw_ms:Int64}`, deps: ['first_contact_ms', 'first_lost_ms'] },
  fc_on_time: { expr: `first_contact_ms IS NOT NULL AND first_contact_ms - first_lost_ms <= {fcw_ms:Int64}`, deps: ['first_contact_ms', 'first_lost_ms'] },
  /** Overdue spans [L, R) over all time (series), as (L, R) tuples: see overdueSpansSql. */
  overdue_spans: { expr: 'OVERDUE_SPANS', deps: ['first_lost_ms', 'comms_all', 'contact_all_ms', 'starts', 'ends'], bdeps: ['first_lost_ms', 'comms_all', 'contact_all_ms', 'starts', 'ends', 'fb_ms'] },
  end_ms: { expr: `if(down, ${T}, ends[outages])`, deps: ['down', 'ends', 'outages'] },
  starts_at: { expr: 'arraySlice(starts, 1, outages)', deps: ['starts', 'outages'] },
  ends_at: { expr: `arrayMap(e -> least(e, ${T}), arraySlice(ends, 1, outages))`, deps: ['ends', 'outages'] },
  gap_k: { expr: `arrayCount(c -> c <= ${T}, gap_comms)`, deps: [] },
  max_gap_ms: {
    expr: 'MAX_GAP',
    deps: ['first_lost_ms', 'end_ms', 'gap_k'],
    bdeps: ['first_lost_ms', 'end_ms', 'outages', 'comms_after', 'starts_at', 'ends_at'],
  },
} satisfies Record<string, { expr: string; deps: string[]; bdeps?: string[] }>

export type TenantColumn = keyof typeof COLUMNS

/** SQL (a CTE named `bc`): the incident's broadcast times at or before T. */
function broadcastsCte(db: string): string {
  return `bc AS (SELECT toUnixTimestamp64Milli(occurred_at) AS ms FROM ${db}.events FINAL
     WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')})`
}
/** Scalars over `bc`, each computed once per statement: the count, the last time (0 if none), all times ascending. */
const BC_COUNT = '(SELECT count() FROM bc)'
const BC_LAST = '(SELECT toInt64(max(ms)) FROM bc)'
const BC_TIMES = '(SELECT arraySort(groupArray(ms)) FROM bc)'
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
const BROADCAST_UNCOVERED = broadcastUncovered('{stale_ms:Int64}')

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
function overdueSpansSql(withBroadcasts: boolean): string {
  const ue = '{ue_ms:Int64}'
  const direct = `arrayConcat([(first_lost_ms, if(empty(comms_all), ${OPEN_END_MS}, comms_all[1]))],
      arrayMap((a, n) -> (a + ${ue} + 1, n), comms_all, arrayPopFront(arrayPushBack(comms_all, ${OPEN_END_MS}))))`
  const uncovered = withBroadcasts ? intersectSpans(direct, broadcastUncovered(ue)) : direct
  const updates = intersectSpans(uncovered, `[(contact_all_ms, ${OPEN_END_MS})]`)
  const spans = `arrayConcat([(first_lost_ms + {fcw_ms:Int64} + 1, contact_all_ms)], ${updates})`
  return intersectSpans(spans, 'arrayZip(starts, ends)')
}

/**
 * One row per tenant affected at T (scope.asOfMs) with the requested columns, plus with `meta`
 * name, attributes and weight. Segment filters narrow the rows read (tenant_id IN …); a tenant
 * without metadata is in no segment.
 */
export function tenantStateSql(store: Store, scope: QueryScope, opts: TenantStateOptions = {}): { sql: string; params: Params } {
  const db = store.db
  const seg = segmentWhere(scope, 'attributes')
  const meta = opts.meta || opts.weight !== undefined
  const params: Params = {
    incident: scope.incidentId,
    as_of: chTime(scope.asOfMs),
    as_of_ms: scope.asOfMs,
    stale_ms: Math.round(opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS),
    fcw_ms: (opts.policy ?? DEFAULT_COMM_POLICY).firstContactWithinMs,
    ue_ms: (opts.policy ?? DEFAULT_COMM_POLICY).updateEveryMs,
    weight: opts.weight ?? '',
    ...seg.params,
  }
  // With include_broadcast=true, broadcasts at or after a tenant's first loss count for it (a
  // fixed choice between SQL fragments, not a spliced value).
  const b = scope.includeBroadcast
  const directSpans = staleSpansSql('comms_all', '{stale_ms:Int64}')
  const fragments: Record<string, string> = {
    // With broadcasts, only MAX_GAP reads every counted communication (a copy of the broadcasts
    // per tenant: callers bound its cost, see checkBroadcastCost).
    COMMS_AFTER: b
      ? `arraySort(arrayConcat(arrayFilter(c -> c >= first_lost_ms AND c <= ${T}, dcomm), arrayFilter(x -> x >= first_lost_ms, ${BC_TIMES})))`
      : `arrayFilter(c -> c >= first_lost_ms AND c <= ${T}, dcomm)`,
    FIRST_CONTACT: b
      ? `if(least(if(contact_ms <= ${T}, contact_ms, ${OPEN_END_MS}), fb_ms) < ${OPEN_END_MS}, least(if(contact_ms <= ${T}, contact_ms, ${OPEN_END_MS}), fb_ms), NULL)`
      : `if(contact_ms <= ${T}, contact_ms, NULL)`,
    CONTACT_ALL: b ? 'least(contact_ms, fb_ms)' : 'contact_ms',
    COMMUNICATIONS: b ? `length(arrayFilter(c -> c >= first_lost_ms AND c <= ${T}, dcomm)) + if(fb_rank = 0, 0, ${BC_COUNT} - fb_rank + 1)` : 'length(comms_after)',
    STALE_SPANS: b
      ? `arrayFilter(x -> x.1 < x.2, arrayFlatten(arrayMap(a -> arrayMap(u -> (greatest(a.1, u.1), least(a.2, u.2)), ${BROADCAST_UNCOVERED}), ${directSpans})))`
      : directSpans,
    // Direct only: from the precomputed gaps (the points up to T are a prefix of all of them).
    // With broadcasts: over the points first loss, each counted communication while down, end.
    MAX_GAP: b
      ? `arrayMax(arrayDifference(arrayConcat([first_lost_ms],
          if(outages = 1, arrayFilter(c -> c <= end_ms, comms_after),
                          arrayFilter(c -> arrayExists((s, e) -> s <= c AND c <= e, starts_at, ends_at), comms_after)),
          [end_ms])))`
      : `greatest(if(gap_k = 0, toInt64(0), gap_prefix[gap_k]), end_ms - if(gap_k = 0, first_lost_ms, gap_comms[gap_k]))`,
    LAST_ANCHOR: b
      ? `greatest(first_lost_ms, arrayLast(c -> c <= ${T}, dcomm), if(${BC_LAST} >= first_lost_ms, ${BC_LAST}, 0))`
      : `greatest(first_lost_ms, arrayLast(c -> c <= ${T}, dcomm))`,
    LAST_CONTACT: b
      ? `nullIf(greatest(arrayLast(c -> c >= first_lost_ms AND c <= ${T}, dcomm), if(${BC_LAST} >= first_lost_ms, ${BC_LAST}, 0)), 0)`
      : `nullIf(arrayLast(c -> c >= first_lost_ms AND c <= ${T}, dcomm), 0)`,
    OVERDUE_SPANS: overdueSpansSql(b),
  }
  // Close the requested columns over their dependencies; keep the declaration order.
  const wanted = new Set<string>()
  const visit = (name: string) => {
    if (!(name in COLUMNS)) throw new Error(`unknown tenant state column ${name}`)
    if (wanted.has(name)) return
    wanted.add(name)
    const col: { deps: string[]; bdeps?: string[] } = COLUMNS[name as TenantColumn]
    for (const d of (b && col.bdeps) || col.deps) visit(d)
  }
  for (const c of opts.columns ?? (Object.keys(COLUMNS) as TenantColumn[])) visit(c)
  const select = (Object.keys(COLUMNS) as TenantColumn[])
    .filter((c) => wanted.has(c))
    .map((c) => {
      const expr = COLUMNS[c].expr.replace(/^(COMMS_AFTER|FIRST_CONTACT|CONTACT_ALL|COMMUNICATIONS|STALE_SPANS|LAST_ANCHOR|LAST_CONTACT|OVERDUE_SPANS|MAX_GAP)$/, (k) => fragments[k]!)
      return expr === '' ? `s.${c} AS ${c}` : `${expr} AS ${c}`
    })

  if (meta) select.push('m.name AS name', 'm.attributes AS attributes', 'm.num_attributes[{weight:String}] AS weight')
  // The broadcasts up to T, when a column reads them: one short key range of events, once.
  const broadcasts = b && [...wanted].some((c) => c === 'fb_ms' || c === 'fb_rank' || c === 'last_anchor_ms' || c === 'last_contact_ms' || c === 'comms_after')
  const sql = `
    ${broadcasts ? `WITH ${broadcastsCte(db)}` : ''}
    SELECT s.tenant_id AS tenant_id${select.map((c) => `,\n      ${c}`).join('')}
    FROM ${db}.tenant_state AS s FINAL
    ${meta ? `LEFT JOIN (SELECT tenant_id, name, attributes, num_attributes FROM ${db}.tenants FINAL) AS m ON m.tenant_id = s.tenant_id` : ''}
    ${
      broadcasts && (wanted.has('fb_ms') || wanted.has('fb_rank'))
        ? `ASOF LEFT JOIN (SELECT {incident:String} AS incident_id, ms AS j_ms, toInt64(rank() OVER (ORDER BY ms)) AS j_rank FROM bc) AS fb
           ON fb.incident_id = s.incident_id AND fb.j_ms >= s.first_lost_ms`
        : ''
    }
    WHERE s.incident_id = {incident:String} AND s.first_lost_ms <= ${T}
      ${scope.filters.length ? `AND s.tenant_id IN (SELECT tenant_id FROM ${db}.tenants FINAL WHERE ${seg.sql})` : ''}`
  return { sql, params }
}

/** Milliseconds → a DateTime64 output expression (RFC 3339 with ms under date_time_output_format=iso). */
export const msToTime = (expr: string) => `fromUnixTimestamp64Milli(toInt64(${expr}), 'UTC')`
export const msToNullableTime = (expr: string) => `if(isNull(${expr}), NULL, fromUnixTimestamp64Milli(toInt64(assumeNotNull(${expr})), 'UTC'))`

/** True when the incident has any event or metadata (SPEC: it exists as soon as it has an event). */
export async function incidentExists(store: Store, incidentId: string): Promise<boolean> {
  const rows = await store.rows<{ n: number }>(
    `SELECT (SELECT count() FROM (SELECT 1 FROM ${store.db}.events WHERE incident_id = {incident:String} LIMIT 1))
          + (SELECT count() FROM (SELECT 1 FROM ${store.db}.incidents WHERE incident_id = {incident:String} LIMIT 1)) AS n`,
    { incident: incidentId },
  )
  return Number(rows[0]?.n ?? 0) > 0
}
