import type { Store } from '../storage/client.js'
import type { QueryScope } from './filters.js'
import type { IncidentLog } from './incident-log.js'
import { incidentPolicy } from './policy.js'
import type { StateSync } from './state-sync.js'
import { DEFAULT_STALE_AFTER_MS } from './tenant-state.js'

/** What a view asks for beyond its scope, as far as the choice of source is concerned. */
export interface ViewAsk {
  /** The view counts communications (so include_broadcast and stale_after change its figures). */
  communications: boolean
  weight?: string
  groupBy?: string
  staleAfterMs?: number
}

/**
 * The one choice of source for every view (summary, recovery, communications): the incident's
 * change log held in memory (incident-log.ts) answers the default view (no known_at, segment
 * filter, weight or group_by; for communication figures the precomputed stale_after and no broadcasts)
 * when the log is current (caches.ts decides: built once the incident has been quiet, dropped on
 * every change). Null: compute in ClickHouse from tenant_state (tenantStateSql). Both sources
 * return the same typed counts; the property tests run both against the reference.
 */
export async function logSource(store: Store, state: StateSync, scope: QueryScope, ask: ViewAsk): Promise<IncidentLog | null> {
  const defaultView =
    scope.knownAtMs === undefined &&
    scope.filters.length === 0 &&
    ask.weight === undefined &&
    ask.groupBy === undefined &&
    (!ask.communications || (!scope.includeBroadcast && (ask.staleAfterMs ?? DEFAULT_STALE_AFTER_MS) === DEFAULT_STALE_AFTER_MS))
  return defaultView ? state.incidentLog(scope.incidentId, await incidentPolicy(store, state, scope.incidentId)) : null
}
