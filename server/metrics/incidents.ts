import { notFound } from '../errors.js'
import type { Store } from '../storage/client.js'
import { chTime, segmentWhere, type QueryScope } from './filters.js'
import { incidentExists } from './tenant-state.js'

export async function assertIncident(store: Store, incidentId: string): Promise<void> {
  if (!(await incidentExists(store, incidentId))) throw notFound(`no incident "${incidentId}" (no events and no metadata)`)
}

export interface IncidentListItem {
  incident_id: string
  title: string
  status: string
  first_event_at: string | null
  last_event_at: string | null
  affected: number
  restored: number
  recovery_pct: number | null
}

/**
 * Every incident with events or metadata, most recent activity first, with affected/restored at
 * T. Dedup is not needed here: first/last times, "has an access_lost" and the last access event
 * by (occurred_at, type, event_id) are the same however often an event was re-sent.
 * Without metadata the title is the incident id and the status `ongoing`. Segment filters narrow
 * affected/restored; first/last event times stay incident-wide.
 */
export async function listIncidents(store: Store, asOfMs: number, filters: QueryScope['filters'] = []): Promise<IncidentListItem[]> {
  const db = store.db
  // With segment filters, affected/restored count the segment's tenants only.
  const seg = segmentWhere({ incidentId: '', asOfMs, filters, includeBroadcast: false }, 'attributes')
  const inSegment = filters.length ? `tenant_id IN (SELECT tenant_id FROM ${db}.tenants FINAL WHERE ${seg.sql})` : '1'
  const rows = await store.rows<IncidentListItem>(
    `SELECT
       if(e.incident_id != '', e.incident_id, m.incident_id) AS incident_id,
       if(m.title != '', m.title, incident_id) AS title,
       if(m.status != '', m.status, 'ongoing') AS status,
       if(e.incident_id != '', fromUnixTimestamp64Milli(e.first_ms, 'UTC'), NULL) AS first_event_at,
       if(e.incident_id != '', fromUnixTimestamp64Milli(e.last_ms, 'UTC'), NULL) AS last_event_at,
       e.affected AS affected,
       e.restored AS restored,
       if(e.affected = 0, NULL, 100 * e.restored / e.affected) AS recovery_pct
     FROM (
       SELECT incident_id, min(f) AS first_ms, max(l) AS last_ms,
         countIf(lost AND in_segment) AS affected, countIf(lost AND in_segment AND last_access = 2) AS restored
       FROM (
         SELECT incident_id, tenant_id,
           min(toUnixTimestamp64Milli(occurred_at)) AS f, max(toUnixTimestamp64Milli(occurred_at)) AS l,
           countIf(type = 'access_lost') > 0 AS lost,
           ${inSegment} AS in_segment,
           argMaxIf(toUInt8(type), (occurred_at, toUInt8(type), event_id), type IN ('access_lost', 'access_restored')) AS last_access
         FROM ${db}.events
         WHERE occurred_at <= {as_of:DateTime64(3, 'UTC')}
         GROUP BY incident_id, tenant_id
       )
       GROUP BY incident_id
     ) AS e
     FULL OUTER JOIN (SELECT incident_id, title, status FROM ${db}.incidents FINAL) AS m ON m.incident_id = e.incident_id
     ORDER BY last_event_at DESC NULLS LAST, incident_id`,
    { as_of: chTime(asOfMs), ...seg.params },
  )
  return rows.map((r) => ({ ...r, affected: Number(r.affected), restored: Number(r.restored) }))
}

/** The incident's title from its metadata, or its id. */
export async function incidentTitle(store: Store, incidentId: string): Promise<string> {
  const rows = await store.rows<{ title: string }>(
    `SELECT title FROM ${store.db}.incidents FINAL WHERE incident_id = {incident:String} LIMIT 1`,
    { incident: incidentId },
  )
  return rows[0]?.title || incidentId
}
