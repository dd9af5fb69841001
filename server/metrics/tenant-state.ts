import { DEFAULT_COMM_POLICY, type CommPolicy } from '../domain/comm-policy.js'
import type { Params, Store } from '../storage/client.js'
import { chTime, segmentWhere, type QueryScope } from './filters.js'
import { CARD_EVENT_FIELDS } from '../storage/card-layout.js'
import { FIGURES, type TenantColumn } from './figures.js'
import { COMMS_CODES, KEY_TYPES, keyMsSql, keyTypeSql, OPEN_END_MS, packChangeSql, packKeySql } from './packing.js'
import { broadcastsCte, spansToChangesSql, staleSpansSql } from './spans.js'

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
 * (figures.ts evaluates rows from these facts): migration 13 dropped the retired fin_* columns.
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

export { type TenantColumn } from './figures.js'

/** A moment after every event (the last one DateTime64 holds): "as of all time". */
export const ALL_TIME_MS = Date.UTC(2299, 11, 31)
/** The stale_after whose stale spans are precomputed (cdeltas); others are computed per query. */
export const DEFAULT_STALE_AFTER_MS = 86_400_000

/** A tenant's card (migration 6) keeps its first this many events in §3 order: what a timeline lists at most. */
export const CARD_EVENTS = 10_000

/** Each element of a card's event (storage/card-layout.ts CARD_EVENT_FIELDS) from an events row. */
const CARD_EVENT_SQL: Record<(typeof CARD_EVENT_FIELDS)[number], string> = {
  event_id: 'event_id',
  ms: 'toUnixTimestamp64Milli(occurred_at)',
  type: 'toUInt8(type)',
  progress: 'progress',
  channel: 'channel',
  label: 'label',
  message: 'message',
}
const cardEventElement = (f: (typeof CARD_EVENT_FIELDS)[number]) => `x.${CARD_EVENT_FIELDS.indexOf(f) + 1}`

/**
 * INSERT … SELECT that rewrites the tenant_state rows of one incident: all of its tenants, or
 * (incremental) those with an events row written in a block numbered above {from:UInt64}.
 * It goes through tenant_state_input (migration 6), which also writes each tenant's card: its
 * stored state with its events, read by the timeline in one key-value lookup.
 * Parameters: incident, version, from; with `inParts`, also lo and hi (hi_open = 1: no upper
 * bound): only the tenants with lo <= tenant_id < hi, a range of the events' primary key, so a
 * large derivation runs in several statements, each reading (through the index) and holding in
 * memory only its share of the tenants' events (derivationRanges in state-sync.ts).
 */
export function deriveTenantStateSql(db: string, incremental: boolean, inParts = false): string {
  const where = [
    inParts ? 'AND tenant_id >= {lo:String} AND ({hi_open:UInt8} = 1 OR tenant_id < {hi:String})' : '',
    incremental ? `AND tenant_id IN (SELECT tenant_id FROM ${db}.events WHERE incident_id = {incident:String} AND tenant_id != '' AND _block_number > {from:UInt64})` : '',
  ].join(' ')
  return `
    INSERT INTO ${db}.tenant_state_input (incident_id, tenant_id, version, ${STORED_FACTS.join(', ')}, events)
    SELECT incident_id, tenant_id, {version:UInt64} AS version, ${STORED_FACTS.join(', ')}, events
    FROM (${factsSelectSql(`${db}.events FINAL`, where, true)})`
}

/** The columns of tenant_state besides its key and version: the facts the derivation computes. */
const STORED_FACTS = ['min_ms', 'first_lost_ms', 'starts', 'ends', 'stray_ms', 'rk', 'prog_ms', 'prog', 'dcomm', 'contact_ms', 'gap_comms', 'gap_prefix', 'last_ms', 'rdeltas', 'cdeltas']

/**
 * The derivation's SELECT: one row of facts per (incident, tenant) of the incident, from the
 * events of `eventsFrom` (a table expression, deduplicated) matching `where` (more AND terms);
 * with `withEvents`, also the tenant's card events.
 */
function factsSelectSql(eventsFrom: string, where: string, withEvents: boolean, incidentWhere = 'incident_id = {incident:String}'): string {
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
    SELECT incident_id, tenant_id, min_ms, first_lost_ms, starts, ends, stray_ms, rk,
      pv.1 AS prog_ms, pv.2 AS prog, dcomm, contact_ms, gap_comms,
      arrayMap(i -> arrayMax(arraySlice(gap_diffs, 1, i)), arrayEnumerate(gap_diffs)) AS gap_prefix,
      last_ms,
      if(empty(starts), CAST([], 'Array(Int64)'), ${stages}) AS rdeltas,
      ${comms} AS cdeltas
      ${withEvents ? ', events' : ''}
    FROM (
      SELECT incident_id, tenant_id, min_ms, last_ms, rk, dcomm, pv ${withEvents ? ', events' : ''},
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
          arrayMap(x -> (x.1, x.3), arraySort(groupArrayIf((${ms}, event_id, assumeNotNull(progress)), type = 'restore_progress'))) AS pv
          -- The card's events in the timeline's order: occurred_at, then type, then event_id.
          ${withEvents ? `, arraySlice(arraySort(x -> (${(['ms', 'type', 'event_id'] as const).map(cardEventElement).join(', ')}), groupArray((${CARD_EVENT_FIELDS.map((f) => CARD_EVENT_SQL[f]).join(', ')}))), 1, ${CARD_EVENTS}) AS events` : ''}
        FROM ${eventsFrom}
        WHERE ${incidentWhere} AND tenant_id != '' ${where}
        GROUP BY incident_id, tenant_id
      )
    )`
}

/** T in SQL. */
const T = '{as_of_ms:Int64}'
/** known_at in SQL (bound by knownParams). */
const KNOWN = "{known_at:DateTime64(3, 'UTC')}"

/** The parameters the sources below bind for a scope ({incident:String} too). */
export function knownParams(scope: Pick<QueryScope, 'knownAtMs'>): Params {
  return scope.knownAtMs === undefined ? {} : { known_at: chTime(scope.knownAtMs) }
}

/**
 * The incident's events (with oneIncident = false, every incident's), deduplicated (the first
 * accepted copy wins), as a table expression: with known_at (SPEC §7) only those received by then.
 */
export function eventsFrom(db: string, scope: Pick<QueryScope, 'knownAtMs'>, oneIncident = true): string {
  return scope.knownAtMs === undefined ? `${db}.events FINAL` : receivedEvents(db, oneIncident)
}

/** The events received by known_at, deduplicated: of the incident {incident:String}, or of every incident. */
function receivedEvents(db: string, oneIncident: boolean): string {
  return `(SELECT * FROM ${db}.events FINAL WHERE ${oneIncident ? 'incident_id = {incident:String} AND ' : ''}received_at <= ${KNOWN})`
}

/**
 * tenant_state of every incident as known at known_at (the incident list): as tenantStateFrom,
 * with the late (incident, tenant) pairs of all incidents derived afresh. No alias.
 */
export function allTenantStateFrom(db: string, scope: Pick<QueryScope, 'knownAtMs'>): string {
  return scope.knownAtMs === undefined ? `${db}.tenant_state FINAL` : knownTenantState(db, false)
}

/** One tenant's facts and card events (parameter tenant) from the events received by known_at. */
export function tenantFactsSql(db: string, scope: Pick<QueryScope, 'knownAtMs'>): string {
  return factsSelectSql(eventsFrom(db, scope), 'AND tenant_id = {tenant:String}', true)
}

/**
 * The incident's tenant_state rows as a table expression aliased `s`. With known_at: the stored
 * rows of the tenants none of whose events arrived after it (their facts are the same either way)
 * and, for the tenants with a later arrival, their facts derived afresh from the events received
 * by then, so the cost grows with the late tenants only. A tenant none of whose events had
 * arrived has no row.
 */
export function tenantStateFrom(db: string, scope: Pick<QueryScope, 'knownAtMs'>): string {
  return scope.knownAtMs === undefined ? `${db}.tenant_state AS s FINAL` : `${knownTenantState(db, true)} AS s`
}

/** tenant_state as known at known_at, of the incident {incident:String} or of every incident (see tenantStateFrom). */
function knownTenantState(db: string, oneIncident: boolean): string {
  const incident = oneIncident ? 'incident_id = {incident:String}' : '1'
  const late = `(SELECT incident_id, tenant_id FROM ${db}.events WHERE ${incident} AND tenant_id != '' AND received_at > ${KNOWN})`
  const cols = `incident_id, tenant_id, ${STORED_FACTS.join(', ')}`
  return `(
      SELECT ${cols} FROM ${db}.tenant_state FINAL WHERE ${incident} AND (incident_id, tenant_id) NOT IN ${late}
      UNION ALL
      SELECT ${cols} FROM (${factsSelectSql(receivedEvents(db, oneIncident), `AND (incident_id, tenant_id) IN ${late}`, false, incident)})
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
    ...knownParams(scope),
  }
  // With include_broadcast=true, broadcasts at or after a tenant's first loss count for it (a
  // fixed choice between SQL expressions of the catalogue, not a spliced value).
  const b = scope.includeBroadcast
  const figure = (name: string): { sql: string; deps: string[] } => {
    if (!(name in FIGURES)) throw new Error(`unknown tenant state column ${name}`)
    const f: { sql: string; deps: string[]; bsql?: string; bdeps?: string[] } = FIGURES[name as TenantColumn]
    return { sql: (b && f.bsql) || f.sql, deps: (b && f.bdeps) || f.deps }
  }
  // Close the requested figures over their dependencies; keep the catalogue's order.
  const wanted = new Set<string>()
  const visit = (name: string) => {
    if (wanted.has(name)) return
    wanted.add(name)
    for (const d of figure(name).deps) visit(d)
  }
  for (const c of opts.columns ?? (Object.keys(FIGURES) as TenantColumn[])) visit(c)
  const names = (Object.keys(FIGURES) as TenantColumn[]).filter((c) => wanted.has(c))
  const select = names.map((c) => (figure(c).sql === '' ? `s.${c} AS ${c}` : `${figure(c).sql} AS ${c}`))
  // The broadcasts up to T, when a selected expression reads them: one short key range of events, once.
  const joinsFirstBroadcast = b && names.some((c) => c === 'fb_ms' || c === 'fb_rank')
  const broadcasts = joinsFirstBroadcast || (b && names.some((c) => figure(c).sql.includes('FROM bc)')))

  if (meta) select.push('m.name AS name', 'm.attributes AS attributes', 'm.num_attributes[{weight:String}] AS weight')
  const sql = `
    ${broadcasts ? `WITH ${broadcastsCte(eventsFrom(db, scope))}` : ''}
    SELECT s.tenant_id AS tenant_id${select.map((c) => `,\n      ${c}`).join('')}
    FROM ${tenantStateFrom(db, scope)}
    ${meta ? `LEFT JOIN (SELECT tenant_id, name, attributes, num_attributes FROM ${db}.tenants FINAL) AS m ON m.tenant_id = s.tenant_id` : ''}
    ${
      joinsFirstBroadcast
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
