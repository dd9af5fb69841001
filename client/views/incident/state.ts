import type { Incident, Summary, ViewParams } from '../../api.js'
import type { AppContext, SharedView } from '../view.js'
import { stateFromUrl, viewParamsOf, type UrlState } from './url-state.js'

/** Weighted recovery ("% of users") uses this numeric tenant attribute (SPEC §3). */
export const WEIGHT = 'seats'
export const DAY_MS = 86_400_000

/**
 * What the parts of the incident view share, in one object: the orchestrator (incident.ts)
 * creates it and passes it to every part. Anything else a part needs stays inside that part.
 */
export interface IncidentState {
  readonly incidentId: string
  readonly app: AppContext
  /** An incident link: this incident only, read-only (no list to go back to, no sharing). */
  readonly shared: SharedView | null
  /** The address: moment shown, filters, unit, segment lines, table order. */
  readonly url: UrlState
  /** Title, status and window; null until the first load finds the incident. */
  meta: Incident | null
  /** The key figures shown (from the last load or stream update). */
  summary: Summary | null
  /** A load is under way. */
  loading: boolean
  /** When the latest load began (epoch ms). */
  lastLoadAt: number
  destroyed: boolean
}

export function createState(app: AppContext, incidentId: string): IncidentState {
  return { incidentId, app, shared: app.shared(), url: stateFromUrl(), meta: null, summary: null, loading: false, lastLoadAt: 0, destroyed: false }
}

export function viewParams(s: IncidentState): ViewParams {
  return viewParamsOf(s.url)
}

/** stale_after for the requests that take it (undefined = the server's default). */
export function staleAfter(s: IncidentState): string | undefined {
  return s.url.staleAfter || undefined
}
