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
 * Access events are sorted by (occurred_at, type): the Enum8 puts access_lost (1) before
 * access_restored (2) at equal times, and the event_id tie-break of §3 cannot change any figure
 * (equal time and type are interchangeable).
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
  /**
   * The columns the caller reads (their dependencies are added). Selecting only those keeps
   * ClickHouse from analysing and aggregating the rest: the analysis of the full query alone
   * costs tens of ms. Default: all.
   */
  columns?: TenantColumn[]
}

/** Per-tenant aggregates over the incident's events (inner query); `deps` name other aggregates. */
const AGGREGATES: Record<string, { expr: string; deps?: string[] }> = {
  // Sort keys ms * 8 + type: the §3 order (occurred_at, access_lost before access_restored);
  // equal keys are interchangeable, so event_id is not needed for access events.
  acc: {
    expr: `arraySort(groupArrayIf(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type), type IN ('access_lost', 'access_restored')))`,
  },
  rk: {
    expr: `arraySort(groupArrayIf(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type),
      type IN ('restore_started', 'restore_progress', 'restore_completed')))`,
  },
  // Only the latest restore_* event and the latest progress can be in the current outage: if the
  // latest is before its start, all are. (-1: none.)
  last_restore_key: {
    expr: `if(countIf(type IN ('restore_started', 'restore_progress', 'restore_completed')) = 0, toInt64(-1),
      toInt64(maxIf(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type), type IN ('restore_started', 'restore_progress', 'restore_completed'))))`,
  },
  last_progress_ms: {
    expr: `if(countIf(type = 'restore_progress') = 0, toInt64(-1), maxIf(toUnixTimestamp64Milli(occurred_at), type = 'restore_progress'))`,
  },
  // At equal times the latest progress is the one with the greatest event_id.
  last_progress: { expr: `argMaxIf(progress, (occurred_at, event_id), type = 'restore_progress')` },
  dcomm: { expr: `arraySort(groupArrayIf(toUnixTimestamp64Milli(occurred_at), type = 'communication'))` },
}

/** Derived per-tenant columns (outer query), in dependency order; `deps` name columns or aggregates. */
const COLUMNS = {
  a_t: { expr: 'arrayMap(x -> intDiv(x, 8), acc)', deps: ['acc'] },
  a_ty: { expr: 'arrayMap(x -> toInt8(x % 8), acc)', deps: ['acc'] },
  a_d: { expr: 'arrayPopFront(arrayDifference(arrayPushFront(a_ty, toInt8(2))))', deps: ['a_ty'] },
  starts: { expr: 'arrayFilter((t, d) -> d = -1, a_t, a_d)', deps: ['a_t', 'a_d'] },
  closes: { expr: 'arrayFilter((t, d) -> d = 1, a_t, a_d)', deps: ['a_t', 'a_d'] },
  down: { expr: 'a_ty[-1] = 1', deps: ['a_ty'] },
  ends: { expr: 'if(down, arrayPushBack(closes, {as_of_ms:Int64}), closes)', deps: ['down', 'closes'] },
  ends_open: { expr: 'if(down, arrayPushBack(closes, OPEN_END), closes)', deps: ['down', 'closes'] },
  downtime_ms: { expr: 'toInt64(arraySum(closes) - arraySum(starts) + if(down, {as_of_ms:Int64}, 0))', deps: ['closes', 'starts', 'down'] },
  outages: { expr: 'length(starts)', deps: ['starts'] },
  first_lost_ms: { expr: 'starts[1]', deps: ['starts'] },
  last_restored_ms: { expr: 'if(down, NULL, closes[-1])', deps: ['down', 'closes'] },
  strays: { expr: 'arrayCount((ty, d) -> ty = 2 AND d = 0, a_ty, a_d)', deps: ['a_ty', 'a_d'] },
  cur_start_ms: { expr: 'starts[-1]', deps: ['starts'] },
  restore_stage: {
    expr: `if(down, multiIf(last_restore_key < cur_start_ms * 8, 'not_started', last_restore_key % 8 = 5, 'completed', 'in_progress'), NULL)`,
    deps: ['down', 'cur_start_ms', 'last_restore_key'],
  },
  restore_progress: {
    expr: 'if(down AND last_progress_ms >= cur_start_ms, last_progress, NULL)',
    deps: ['down', 'cur_start_ms', 'last_progress_ms', 'last_progress'],
  },
  comms_after: { expr: 'COMMS_AFTER', deps: ['first_lost_ms', 'dcomm'] },
  first_contact_ms: { expr: 'if(empty(comms_after), NULL, comms_after[1])', deps: ['comms_after'] },
  communications: { expr: 'length(comms_after)', deps: ['comms_after'] },
  stale: {
    expr: 'down AND {as_of_ms:Int64} - if(empty(comms_after), first_lost_ms, comms_after[-1]) > {stale_ms:Int64}',
    deps: ['down', 'comms_after', 'first_lost_ms'],
  },
  end_ms: { expr: 'if(down, {as_of_ms:Int64}, closes[-1])', deps: ['down', 'closes'] },
  max_gap_ms: {
    expr: `arrayMax(arrayDifference(arrayConcat([first_lost_ms],
      if(outages = 1, arrayFilter(c -> c <= end_ms, comms_after),
                      arrayFilter(c -> arrayExists((s, e) -> s <= c AND c <= e, starts, ends), comms_after)),
      [end_ms])))`,
    deps: ['first_lost_ms', 'outages', 'comms_after', 'end_ms', 'starts', 'ends'],
  },
  rk: { expr: 'rk', deps: ['rk'] },
  dcomm: { expr: 'dcomm', deps: ['dcomm'] },
} satisfies Record<string, { expr: string; deps: string[] }>

export type TenantColumn = keyof typeof COLUMNS

export function tenantStateSql(store: Store, scope: QueryScope, opts: TenantStateOptions = {}): { sql: string; params: Params } {
  const db = store.db
  // Segment filters go into the scan (tenant_id IN …), so filtered views read fewer events;
  // a tenant without metadata is in no segment.
  const seg = segmentWhere(scope, 'attributes')
  const meta = opts.meta || opts.weight !== undefined
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

  // Close the requested columns over their dependencies.
  const wanted = new Set<string>()
  const aggregates = new Set<string>(['acc'])
  const visit = (name: string) => {
    if (name in COLUMNS) {
      if (wanted.has(name)) return
      wanted.add(name)
      for (const d of COLUMNS[name as TenantColumn].deps) if (d !== name) visit(d)
    } else if (name in AGGREGATES) aggregates.add(name)
    else throw new Error(`unknown tenant state column ${name}`)
    if (name in AGGREGATES) aggregates.add(name)
  }
  for (const c of opts.columns ?? (Object.keys(COLUMNS) as TenantColumn[])) visit(c)
  const outer = (Object.keys(COLUMNS) as TenantColumn[])
    .filter((c) => wanted.has(c))
    .map((c) => {
      const expr = COLUMNS[c].expr.replace('COMMS_AFTER', commsAfter).replace('OPEN_END', OPEN_END_MS)
      return expr === c ? c : `${expr} AS ${c}`
    })
  const inner = [...aggregates].map((a) => `${AGGREGATES[a]!.expr} AS ${a}`)

  const sql = `
    SELECT
      g.tenant_id AS tenant_id,
      ${outer.join(',\n      ')}
      ${meta ? `, m.name AS name, m.attributes AS attributes, m.num_attributes[{weight:String}] AS weight` : ''}
    FROM (
      SELECT tenant_id, ${inner.join(',\n        ')}
      FROM ${db}.events FINAL
      WHERE incident_id = {incident:String} AND ${opts.tenantId === undefined ? "tenant_id != ''" : 'tenant_id = {tenant:String}'} AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
        ${scope.filters.length ? `AND tenant_id IN (SELECT tenant_id FROM ${db}.tenants FINAL WHERE ${seg.sql})` : ''}
      GROUP BY tenant_id
      HAVING arrayExists(x -> x % 8 = 1, acc)
    ) AS g
    ${meta ? `LEFT JOIN (SELECT tenant_id, name, attributes, num_attributes FROM ${db}.tenants FINAL${opts.tenantId === undefined ? '' : ' WHERE tenant_id = {tenant:String}'}) AS m ON m.tenant_id = g.tenant_id` : ''}
`
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
