import { notFound } from '../errors.js'
import type { Store } from '../storage/client.js'
import { chTime, inSegment, type QueryScope } from './filters.js'
import { rowAt, storedState, STORED_STATE_COLUMNS } from './tenant-row.js'
import { broadcastsSql } from './tenant-state.js'
import { toTenantRow, type TenantRow } from './tenants.js'

export interface TimelineEvent {
  event_id: string
  type: string
  occurred_at: string
  /** False for a broadcast (shown only with include_broadcast=true). */
  direct: boolean
  progress: number | null
  channel: string
  label: string
  message: string
}

export interface TenantTimeline {
  incident_id: string
  tenant_id: string
  as_of: string
  events: TimelineEvent[]
  /** The tenant's tenants-table row at T; null when it is not affected at T (or outside the segment). */
  row: TenantRow | null
  /** Data-quality hints: access_restored events received while the tenant was already up (ignored by §3). */
  diagnostics: { stray_restores: number }
}

/** At most this many events are listed (a tenant normally has tens). */
export const MAX_TIMELINE_EVENTS = 10_000

type EventTuple = [string, string, string, number | boolean, number | null, string, string, string]

/**
 * One tenant's events up to T in the §3 order (occurred_at, then type, then event_id), with
 * broadcasts interleaved when they count, plus its row. 404 when the incident has no event of
 * this tenant at all. One statement: the events, the tenant's stored state (its row at T is
 * evaluated from it by rowAt) and its metadata, each an array of at most one element for "none".
 */
export async function tenantTimeline(store: Store, scope: QueryScope, tenantId: string): Promise<TenantTimeline> {
  const db = store.db
  const b = scope.includeBroadcast
  const [r] = await store.rows<{
    events: EventTuple[]
    state: unknown[][]
    meta: [string, Record<string, string>][]
    broadcasts: number[]
  }>(
    `SELECT
       (SELECT groupArray(tuple(event_id, toString(type), occurred_at, tenant_id != '', progress, channel, label, message)) FROM (
          SELECT event_id, type, occurred_at, tenant_id, progress, channel, label, message
          FROM ${db}.events FINAL
          WHERE incident_id = {incident:String}
            AND (tenant_id = {tenant:String} ${b ? "OR (tenant_id = '' AND type = 'communication')" : ''})
            AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
          ORDER BY occurred_at, type, event_id
          LIMIT {limit:UInt32})) AS events,
       (SELECT groupArray(tuple(${STORED_STATE_COLUMNS.join(', ')})) FROM ${db}.tenant_state FINAL
        WHERE incident_id = {incident:String} AND tenant_id = {tenant:String}) AS state,
       (SELECT groupArray(tuple(name, attributes)) FROM ${db}.tenants FINAL WHERE tenant_id = {tenant:String}) AS meta,
       ${b ? broadcastsSql(db) : 'CAST([], \'Array(Int64)\')'} AS broadcasts`,
    { incident: scope.incidentId, tenant: tenantId, as_of: chTime(scope.asOfMs), limit: MAX_TIMELINE_EVENTS },
  )
  // tenant_state has a row for every tenant with an event in the incident, affected or not.
  const stateRow = r?.state[0]
  if (tenantId === '' || !stateRow) throw notFound(`no tenant "${tenantId.slice(0, 256)}" in incident "${scope.incidentId}"`)
  const state = storedState(Object.fromEntries(STORED_STATE_COLUMNS.map((c, i) => [c, stateRow[i]])))
  // A tenant without metadata has an empty name and no attributes, and is in no segment.
  const meta = r.meta[0] ? { name: r.meta[0][0], attributes: r.meta[0][1] } : undefined
  const affected = state.first_lost_ms <= scope.asOfMs && inSegment(meta?.attributes, scope.filters)
  const at = affected ? rowAt(state, scope.asOfMs, b ? r.broadcasts.map(Number) : undefined) : null
  return {
    incident_id: scope.incidentId,
    tenant_id: tenantId,
    as_of: new Date(scope.asOfMs).toISOString(),
    events: r.events.map(([event_id, type, occurred_at, direct, progress, channel, label, message]) => ({
      event_id,
      type,
      occurred_at,
      direct: Boolean(direct),
      progress,
      channel,
      label,
      message,
    })),
    row: at ? toTenantRow(tenantId, at, meta) : null,
    diagnostics: { stray_restores: at?.strays ?? 0 },
  }
}
