import { notFound } from '../errors.js'
import type { Store } from '../storage/client.js'
import { chTime, segmentWhere, type QueryScope } from './filters.js'
import type { StateSync } from './state-sync.js'
import { allTenantStateFrom, eventsFrom, incidentExists, knownParams } from './tenant-state.js'

/**
 * Incidents known to exist, per store. Nothing deletes events or metadata, so once an incident
 * exists it always does: the check (two index lookups, ~10 ms on the embedded engine) runs
 * once per incident, not on every request. Unknown ids are never remembered.
 */
const knownIncidents = new WeakMap<Store, Set<string>>()
const KNOWN_INCIDENTS_MAX = 10_000
/** Lookups in flight, shared: a crowd opening the same incident at once costs one lookup, not one each. */
const lookups = new WeakMap<Store, Map<string, Promise<boolean>>>()

export async function assertIncident(store: Store, incidentId: string): Promise<void> {
  let known = knownIncidents.get(store)
  if (known?.has(incidentId)) return
  let inFlight = lookups.get(store)
  if (!inFlight) lookups.set(store, (inFlight = new Map()))
  let lookup = inFlight.get(incidentId)
  if (!lookup) {
    lookup = incidentExists(store, incidentId).finally(() => inFlight.delete(incidentId))
    inFlight.set(incidentId, lookup)
  }
  if (!(await lookup)) throw notFound(`no incident "${incidentId}" (no events and no metadata)`)
  if (!known) knownIncidents.set(store, (known = new Set()))
  if (known.size >= KNOWN_INCIDENTS_MAX) known.clear()
  known.add(incidentId)
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
 * T (from tenant_state) and its first/last event times at or before T (from events, deduplicated:
 * a re-sent copy with another time must not move them). Without metadata the title is the incident id and the status `ongoing`.
 * Segment filters narrow affected/restored; first/last event times stay incident-wide.
 */
export async function listIncidents(store: Store, asOfMs: number, filters: QueryScope['filters'] = [], knownAtMs?: number): Promise<IncidentListItem[]> {
  const known = knownAtMs === undefined ? {} : { knownAtMs }
  const db = store.db
  const seg = segmentWhere({ incidentId: '', asOfMs, filters, includeBroadcast: false }, 'attributes')
  const inSegment = filters.length ? `AND tenant_id IN (SELECT tenant_id FROM ${db}.tenants FINAL WHERE ${seg.sql})` : ''
  const rows = await store.rows<IncidentListItem>(
    `SELECT
       if(e.incident_id != '', e.incident_id, m.incident_id) AS incident_id,
       if(m.title != '', m.title, incident_id) AS title,
       if(m.status != '', m.status, 'ongoing') AS status,
       if(e.incident_id != '', fromUnixTimestamp64Milli(e.first_ms, 'UTC'), NULL) AS first_event_at,
       if(e.incident_id != '', fromUnixTimestamp64Milli(e.last_ms, 'UTC'), NULL) AS last_event_at,
       s.affected AS affected,
       s.restored AS restored,
       if(s.affected = 0, NULL, 100 * s.restored / s.affected) AS recovery_pct
     FROM (
       SELECT incident_id, min(toUnixTimestamp64Milli(occurred_at)) AS first_ms, max(toUnixTimestamp64Milli(occurred_at)) AS last_ms
       FROM ${eventsFrom(db, known, false)}
       WHERE occurred_at <= {as_of:DateTime64(3, 'UTC')} GROUP BY incident_id
     ) AS e
     LEFT JOIN (
       SELECT incident_id, count() AS affected, countIf(ends[arrayCount(x -> x <= {as_of_ms:Int64}, starts)] <= {as_of_ms:Int64}) AS restored
       FROM ${allTenantStateFrom(db, known)} WHERE first_lost_ms <= {as_of_ms:Int64} ${inSegment} GROUP BY incident_id
     ) AS s ON s.incident_id = e.incident_id
     FULL OUTER JOIN (SELECT incident_id, title, status FROM ${db}.incidents FINAL) AS m ON m.incident_id = e.incident_id
     ORDER BY last_event_at DESC NULLS LAST, incident_id`,
    { as_of: chTime(asOfMs), as_of_ms: asOfMs, ...seg.params, ...knownParams(known) },
  )
  return rows.map((r) => ({ ...r, affected: Number(r.affected), restored: Number(r.restored) }))
}

/**
 * The incident's title (its id without metadata) and status (`ongoing` without metadata), read
 * once per change of its metadata.
 */
export function incidentHeader(store: Store, state: StateSync, incidentId: string): Promise<{ title: string; status: string }> {
  return state.cached(incidentId, 'header', 'incidents', async () => {
    const rows = await store.rows<{ title: string; status: string }>(
      `SELECT title, status FROM ${store.db}.incidents FINAL WHERE incident_id = {incident:String} LIMIT 1`,
      { incident: incidentId },
    )
    return { title: rows[0]?.title || incidentId, status: rows[0]?.status || 'ongoing' }
  })
}
