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
 *   outages, strays, restore_stage (null when up), restore_progress, comms (counted
 *   communication times ≤ T, sorted), comms_after (those ≥ first_lost_ms), first_contact_ms,
 *   communications, last_comm_ms (0 if none), stale, max_gap_ms, rst (restore_* events),
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
  // include_broadcast is a fixed choice between two SQL fragments, not a spliced value.
  const comms = scope.includeBroadcast
    ? `arraySort(arrayConcat(dcomm, (SELECT groupArray(toUnixTimestamp64Milli(occurred_at)) FROM ${db}.events FINAL
         WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')})))`
    : 'dcomm'
  const sql = `
    SELECT
      g.tenant_id AS tenant_id,
      rst,
      dcomm,
      acc.1 AS a_t,
      acc.2 AS a_ty,
      arrayPushFront(arrayPopBack(a_ty), 0) AS a_prev,
      arrayFilter((t, ty, p) -> ty = 1 AND p != 1, a_t, a_ty, a_prev) AS starts,
      arrayFilter((t, ty, p) -> ty = 2 AND p = 1, a_t, a_ty, a_prev) AS closes,
      a_ty[-1] = 1 AS down,
      if(down, arrayPushBack(closes, {as_of_ms:Int64}), closes) AS ends,
      if(down, arrayPushBack(closes, ${OPEN_END_MS}), closes) AS ends_open,
      toInt64(arraySum(ends) - arraySum(starts)) AS downtime_ms,
      length(starts) AS outages,
      starts[1] AS first_lost_ms,
      if(down, NULL, closes[-1]) AS last_restored_ms,
      arrayCount((ty, p) -> ty = 2 AND p != 1, a_ty, a_prev) AS strays,
      starts[-1] AS cur_start_ms,
      arrayFilter(r -> r.1 >= cur_start_ms, rst) AS rst_cur,
      if(down, multiIf(empty(rst_cur), 'not_started', rst_cur[-1].2 = 5, 'completed', 'in_progress'), NULL) AS restore_stage,
      if(down, arrayFilter(r -> r.2 = 4, rst_cur)[-1].4, NULL) AS restore_progress,
      ${comms} AS comms,
      arrayFilter(c -> c >= first_lost_ms, comms) AS comms_after,
      if(empty(comms_after), NULL, comms_after[1]) AS first_contact_ms,
      length(comms_after) AS communications,
      comms[-1] AS last_comm_ms,
      down AND {as_of_ms:Int64} - greatest(first_lost_ms, last_comm_ms) > {stale_ms:Int64} AS stale,
      if(down, {as_of_ms:Int64}, closes[-1]) AS end_ms,
      arrayMax(arrayDifference(arraySort(arrayConcat([first_lost_ms, end_ms],
        arrayFilter(c -> arrayExists((s, e) -> s <= c AND c <= e, starts, ends), comms_after))))) AS max_gap_ms
      ${meta ? `, m.name AS name, m.attributes AS attributes, m.num_attributes[{weight:String}] AS weight` : ''}
    FROM (
      SELECT
        tenant_id,
        arraySort(groupArrayIf((toUnixTimestamp64Milli(occurred_at), toUInt8(type), event_id),
          type IN ('access_lost', 'access_restored'))) AS acc,
        arraySort(groupArrayIf((toUnixTimestamp64Milli(occurred_at), toUInt8(type), event_id, progress),
          type IN ('restore_started', 'restore_progress', 'restore_completed'))) AS rst,
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
