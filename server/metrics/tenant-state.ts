import type { Params, Store } from '../storage/client.js'
import { chTime, segmentWhere, type QueryScope } from './filters.js'

/**
 * The per-tenant core of SPEC §3, as one ClickHouse subquery: one row per affected tenant of
 * the incident at T (`as_of`), computed from events deduplicated by FINAL (the table's key is
 * (incident_id, tenant_id, event_id), so FINAL collapses re-sent events) and filtered to one
 * incident first. All times are Int64 ms since the epoch; callers convert for output.
 *
 * Access state without a fold: after any access event the tenant is down iff that event is
 * access_lost (a lost while down and a restored while up leave the state as the event says).
 * So an access_lost is effective (opens an interval) iff the previous access event is not a
 * lost, and an access_restored is effective (closes one) iff the previous one is a lost.
 * Events are sorted by (occurred_at, type, event_id); the Enum8 puts access_lost (1) before
 * access_restored (2) at equal times.
 *
 * Columns:
 *   tenant_id, starts (interval starts), closes (closed interval ends), ends (closes + T if
 *   down), down, first_lost_ms, last_restored_ms (null while down), cur_start_ms, downtime_ms,
 *   outages, strays, restore_stage (null when up), restore_progress,
 *   comms_after (counted communication times ≥ first_lost_ms, sorted), first_contact_ms,
 *   communications, stale, max_gap_ms, rk (restore_* events as ms * 8 + type, sorted),
 *   dcomm (direct communication times),
 *   and with `meta`: name, attributes, weight.
 */
/** The end of an interval still open (far beyond any as_of), for time series that look past T. */
export const OPEN_END_MS = 'toInt64(9000000000000000)'

export interface TenantStateOptions {
  /** Join tenant metadata (name, attributes, weight). Implied by filters. */
  meta?: boolean
  /** Numeric attribute used as weight (bound). */
  weight?: string
  staleAfterMs?: number
  /** Only this tenant (timeline). */
  tenantId?: string
}

export function tenantStateSql(store: Store, scope: QueryScope, opts: TenantStateOptions = {}): { sql: string; params: Params } {
  const db = store.db
  const seg = segmentWhere(scope)
  const meta = opts.meta || scope.filters.length > 0 || opts.weight !== undefined
  const params: Params = {
    incident: scope.incidentId,
    as_of: chTime(scope.asOfMs),
    as_of_ms: scope.asOfMs,
    stale_ms: Math.round(opts.staleAfterMs ?? 86_400_000),
    weight: opts.weight ?? '',
    tenant: opts.tenantId ?? '',
    ...seg.params,
  }
  // Broadcasts at or after the tenant's first loss count for it with include_broadcast=true (a fixed
  // choice between two SQL fragments, not a spliced value). The broadcast list is a scalar
  // subquery: computed once per query, not per tenant.
  const commsAfter = scope.includeBroadcast
    ? `arraySort(arrayConcat(arrayFilter(c -> c >= first_lost_ms, dcomm), arrayFilter(b -> b >= first_lost_ms,
         (SELECT groupArray(toUnixTimestamp64Milli(occurred_at)) FROM ${db}.events FINAL
          WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')}))))`
    : 'arrayFilter(c -> c >= first_lost_ms, dcomm)'
  const sql = `
    SELECT
      g.tenant_id AS tenant_id,
      rk,
      dcomm,
      arrayMap(x -> intDiv(x, 8), acc) AS a_t,
      arrayMap(x -> toInt8(x % 8), acc) AS a_ty,
      arrayPopFront(arrayDifference(arrayPushFront(a_ty, toInt8(2)))) AS a_d,
      arrayFilter((t, d) -> d = -1, a_t, a_d) AS starts,
      arrayFilter((t, d) -> d = 1, a_t, a_d) AS closes,
      a_ty[-1] = 1 AS down,
      if(down, arrayPushBack(closes, {as_of_ms:Int64}), closes) AS ends,
      if(down, arrayPushBack(closes, ${OPEN_END_MS}), closes) AS ends_open,
      toInt64(arraySum(closes) - arraySum(starts) + if(down, {as_of_ms:Int64}, 0)) AS downtime_ms,
      length(starts) AS outages,
      starts[1] AS first_lost_ms,
      if(down, NULL, closes[-1]) AS last_restored_ms,
      arrayCount((ty, d) -> ty = 2 AND d = 0, a_ty, a_d) AS strays,
      starts[-1] AS cur_start_ms,
      if(down, multiIf(last_restore_key < cur_start_ms * 8, 'not_started', last_restore_key % 8 = 5, 'completed', 'in_progress'), NULL) AS restore_stage,
      if(down AND last_progress_ms >= cur_start_ms, last_progress, NULL) AS restore_progress,
      ${commsAfter} AS comms_after,
      if(empty(comms_after), NULL, comms_after[1]) AS first_contact_ms,
      length(comms_after) AS communications,
      down AND {as_of_ms:Int64} - if(empty(comms_after), first_lost_ms, comms_after[-1]) > {stale_ms:Int64} AS stale,
      if(down, {as_of_ms:Int64}, closes[-1]) AS end_ms,
      arrayMax(arrayDifference(arrayConcat([first_lost_ms],
        if(outages = 1, arrayFilter(c -> c <= end_ms, comms_after),
                        arrayFilter(c -> arrayExists((s, e) -> s <= c AND c <= e, starts, ends), comms_after)),
        [end_ms]))) AS max_gap_ms
      ${meta ? `, m.name AS name, m.attributes AS attributes, m.num_attributes[{weight:String}] AS weight` : ''}
    FROM (
      SELECT
        tenant_id,
        -- Sort keys ms * 8 + type: the §3 order (occurred_at, access_lost before access_restored);
        -- equal keys are interchangeable, so event_id is not needed for access events.
        arraySort(groupArrayIf(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type),
          type IN ('access_lost', 'access_restored'))) AS acc,
        arraySort(groupArrayIf(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type),
          type IN ('restore_started', 'restore_progress', 'restore_completed'))) AS rk,
        -- Only the latest restore_* event and the latest progress can be in the current outage:
        -- if the latest is before its start, all are. (-1: none.)
        maxIf(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type),
          type IN ('restore_started', 'restore_progress', 'restore_completed')) AS last_restore_key_raw,
        if(countIf(type IN ('restore_started', 'restore_progress', 'restore_completed')) = 0, toInt64(-1), toInt64(last_restore_key_raw)) AS last_restore_key,
        if(countIf(type = 'restore_progress') = 0, toInt64(-1), maxIf(toUnixTimestamp64Milli(occurred_at), type = 'restore_progress')) AS last_progress_ms,
        -- At equal times the latest progress is the one with the greatest event_id.
        argMaxIf(progress, (occurred_at, event_id), type = 'restore_progress') AS last_progress,
        arraySort(groupArrayIf(toUnixTimestamp64Milli(occurred_at), type = 'communication')) AS dcomm
      FROM ${db}.events FINAL
      WHERE incident_id = {incident:String} AND ${opts.tenantId === undefined ? "tenant_id != ''" : 'tenant_id = {tenant:String}'} AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
      GROUP BY tenant_id
      HAVING countIf(type = 'access_lost') > 0
    ) AS g
    ${meta ? `LEFT JOIN (SELECT tenant_id, name, attributes, num_attributes FROM ${db}.tenants FINAL${opts.tenantId === undefined ? '' : ' WHERE tenant_id = {tenant:String}'}) AS m ON m.tenant_id = g.tenant_id` : ''}
    ${meta ? `WHERE ${seg.sql}` : ''}`
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
