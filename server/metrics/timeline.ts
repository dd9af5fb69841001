import { notFound } from '../errors.js'
import type { Store } from '../storage/client.js'
import { chTime, type QueryScope } from './filters.js'
import { tenantRow, type TenantRow } from './tenants.js'

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

/**
 * One tenant's events up to T in the §3 order (occurred_at, then type, then event_id), with
 * broadcasts interleaved when they count, plus its row. 404 when the incident has no event of
 * this tenant at all.
 */
export async function tenantTimeline(store: Store, scope: QueryScope, tenantId: string): Promise<TenantTimeline> {
  const db = store.db
  const rows = await store.rows<Omit<TimelineEvent, 'type'> & { type_name: string; meta: [string, Record<string, string>] | null }>(
    `SELECT event_id, toString(type) AS type_name, occurred_at, tenant_id != '' AS direct, progress, channel, label, message,
       (SELECT tuple(name, attributes) FROM ${db}.tenants FINAL WHERE tenant_id = {tenant:String}) AS meta
     FROM ${db}.events FINAL
     WHERE incident_id = {incident:String}
       AND (tenant_id = {tenant:String} ${scope.includeBroadcast ? "OR (tenant_id = '' AND type = 'communication')" : ''})
       AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
     ORDER BY occurred_at, type, event_id
     LIMIT {limit:UInt32}`,
    { incident: scope.incidentId, tenant: tenantId, as_of: chTime(scope.asOfMs), limit: MAX_TIMELINE_EVENTS },
  )
  const events = rows.map(({ meta: _, ...e }) => e)
  if (!events.some((e) => e.direct)) {
    const any = await store.rows<{ n: number }>(
      `SELECT count() AS n FROM (SELECT 1 FROM ${db}.events WHERE incident_id = {incident:String} AND tenant_id = {tenant:String} LIMIT 1)`,
      { incident: scope.incidentId, tenant: tenantId },
    )
    if (tenantId === '' || Number(any[0]?.n ?? 0) === 0) throw notFound(`no tenant "${tenantId.slice(0, 256)}" in incident "${scope.incidentId}"`)
  }
  // A tenant without metadata has an empty name and no attributes (a row of defaults, or none at all).
  const [name = '', attributes = {}] = rows[0]?.meta ?? []
  const state = await tenantRow(store, scope, tenantId, { name, attributes })
  return {
    incident_id: scope.incidentId,
    tenant_id: tenantId,
    as_of: new Date(scope.asOfMs).toISOString(),
    events: events.map(({ type_name, ...e }) => ({
      event_id: e.event_id,
      type: type_name,
      occurred_at: e.occurred_at,
      direct: Boolean(e.direct),
      progress: e.progress,
      channel: e.channel,
      label: e.label,
      message: e.message,
    })),
    row: state.row,
    diagnostics: { stray_restores: state.strays },
  }
}
