import { EVENT_TYPES, type EventType } from '../domain/events.js'
import type { Store } from '../storage/client.js'
import { chTime, segmentWhere, type QueryScope } from './filters.js'
import { eventsFrom, knownParams } from './tenant-state.js'

/** The most delayed events listed. */
export const MOST_DELAYED = 20

export interface ReportingLag {
  /** Per event type with events: how long after it occurred each was received (received_at − occurred_at). */
  types: { type: string; events: number; median_s: number; p90_s: number; max_s: number }[]
  /** The most delayed events, longest delay first (then event_id). */
  most_delayed: { event_id: string; tenant_id: string; type: string; occurred_at: string; received_at: string; lag_s: number }[]
}

/**
 * SPEC §7 reporting lag: for the incident's events (deduplicated: the first accepted copy, whose
 * received_at is the first arrival) that occurred by as_of and were received by known_at, in
 * the segment (broadcasts and milestones, which have no tenant, always count), the delay from
 * occurred_at to received_at per event type, and the most delayed events. A negative delay (a
 * producer's clock ahead of the server's) is reported as it is.
 */
export async function reportingLag(store: Store, scope: QueryScope): Promise<ReportingLag> {
  const seg = segmentWhere(scope, 'attributes')
  const params = { incident: scope.incidentId, as_of: chTime(scope.asOfMs), limit: MOST_DELAYED, ...seg.params, ...knownParams(scope) }
  const events = `
    SELECT event_id, tenant_id, toString(type) AS type, occurred_at, received_at,
      (toUnixTimestamp64Milli(received_at) - toUnixTimestamp64Milli(occurred_at)) / 1000 AS lag_s
    FROM ${eventsFrom(store.db, scope)}
    WHERE incident_id = {incident:String} AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
      ${scope.filters.length ? `AND (tenant_id = '' OR tenant_id IN (SELECT tenant_id FROM ${store.db}.tenants FINAL WHERE ${seg.sql}))` : ''}`
  const [types, mostDelayed] = await Promise.all([
    store.rows<{ type: string; events: number; median_s: number; p90_s: number; max_s: number }>(
      `SELECT type, count() AS events, quantileExactInclusive(0.5)(lag_s) AS median_s, quantileExactInclusive(0.9)(lag_s) AS p90_s, max(lag_s) AS max_s
       FROM (${events}) GROUP BY type`,
      params,
    ),
    store.rows<ReportingLag['most_delayed'][number]>(`SELECT * FROM (${events}) ORDER BY lag_s DESC, event_id ASC LIMIT {limit:UInt32}`, params),
  ])
  return {
    // In the vocabulary's order.
    types: types
      .sort((a, b) => EVENT_TYPES.indexOf(a.type as EventType) - EVENT_TYPES.indexOf(b.type as EventType))
      .map((t) => ({ type: t.type, events: Number(t.events), median_s: Number(t.median_s), p90_s: Number(t.p90_s), max_s: Number(t.max_s) })),
    most_delayed: mostDelayed.map((e) => ({ ...e, lag_s: Number(e.lag_s) })),
  }
}
