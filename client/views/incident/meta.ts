import { listIncidents, type Incident, type Summary } from '../../api.js'
import type { SharedView } from '../view.js'
import { DAY_MS, type IncidentState } from './state.js'

/**
 * Title, status and window of the incident. Fetched on the first load and on live refreshes;
 * time travel and filters keep them.
 */
export function fetchMeta(s: IncidentState, summary: Promise<Summary>, soft: boolean, signal: AbortSignal): Promise<Incident | null> {
  const { meta, shared } = s
  if (shared) return meta ? Promise.resolve(meta) : summary.then((x) => sharedMeta(shared, x))
  if (!meta || (soft && !s.url.asOf)) return listIncidents(signal).then((list) => list.find((i) => i.incident_id === s.incidentId) ?? null)
  return Promise.resolve(meta)
}

/** The end of the series: a resolved incident's timeline ends at its last event, not at now (which may be years on). */
export function seriesRange(meta: Incident | null, asOf: string | null): { to?: string } {
  return meta?.status === 'resolved' && !asOf && meta.last_event_at ? { to: meta.last_event_at } : {}
}

/** The incident's window (epoch ms): first event to last event when resolved, else to now. */
export function windowMs(meta: Incident | null): { start: number; end: number } {
  const start = Date.parse(meta?.first_event_at ?? '')
  const last = Date.parse(meta?.last_event_at ?? '')
  const end = meta?.status === 'resolved' && Number.isFinite(last) ? last : Date.now()
  return { start: Number.isFinite(start) ? start : end - DAY_MS, end: Math.max(end, Number.isFinite(start) ? start + 60_000 : end) }
}

/**
 * An incident link cannot read the incident list, which holds the title, status and first
 * event: the title and status come from /whoami when the server sends them, the start of the
 * time slider from the summary's first impact.
 */
function sharedMeta(shared: SharedView, s: Summary): Incident {
  return {
    incident_id: shared.incidentId,
    title: shared.title || shared.incidentId,
    status: shared.status || 'ongoing',
    first_event_at: s.milestones.first_impact_at,
    last_event_at: null,
    affected: s.affected,
    restored: s.restored,
    recovery_pct: s.recovery_pct,
  }
}
