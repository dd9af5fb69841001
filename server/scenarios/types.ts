/** An event as sent over the wire (SPEC §2): the body of POST /api/v1/events. */
export interface WireEvent {
  event_id: string
  incident_id: string
  type: 'access_lost' | 'access_restored' | 'restore_started' | 'restore_progress' | 'restore_completed' | 'communication' | 'milestone'
  /** RFC 3339 UTC with milliseconds. */
  occurred_at: string
  tenant_id?: string
  progress?: number
  channel?: 'email' | 'ticket' | 'status_page' | 'phone' | 'chat' | 'social' | 'other'
  label?: string
  message?: string
}

/** Tenant metadata as sent to POST /api/v1/tenants. */
export interface TenantMeta {
  tenant_id: string
  name: string
  attributes: Record<string, string | number>
}

/** Incident metadata as sent to PUT /api/v1/incidents/{incident_id}. */
export interface IncidentMeta {
  incident_id: string
  title: string
  description?: string
  severity?: string
  status: 'ongoing' | 'resolved'
}

/**
 * A generated incident. Pure and deterministic for a given seed and options: every call of
 * `events()` yields the same events. Events are produced lazily, so a scenario of any size
 * streams without being held in memory.
 */
export interface Scenario {
  readonly incident: IncidentMeta
  /** Exact number of events `events()` yields. */
  readonly eventCount: number
  readonly tenantCount: number
  /** Time of the first and last event, ms since the epoch. */
  readonly startMs: number
  readonly endMs: number
  tenants(): Iterable<TenantMeta>
  /** Events in occurred_at order (ties: stable, deterministic) unless `ordered` is false (faster for bulk loads). */
  events(opts?: { ordered?: boolean }): Iterable<WireEvent>
}
