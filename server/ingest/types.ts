import type { EventType } from '../domain/events.js'

/** A validated event, shaped as the `events` table row (occurred_at as 'YYYY-MM-DD hh:mm:ss.sss' UTC). */
export interface EventRow {
  incident_id: string
  tenant_id: string // '' when absent (broadcast communication, milestone)
  event_id: string
  type: EventType
  occurred_at: string
  progress: number | null
  channel: string // '' unless communication
  label: string
  message: string
}

/** The durable write path: resolves only when every row is in the fsynced spool (and from there goes to ClickHouse). */
export interface IngestPipeline {
  /** Queue rows for the next group commit; resolves when durable. Rejects with Unavailable when neither storage nor spool can take them. */
  submit(rows: EventRow[]): Promise<void>
  /** Called with the incident ids of every committed batch (drives the SSE stream). */
  onCommitted(listener: (incidentIds: Set<string>) => void): () => void
  /** Events acknowledged but not yet in ClickHouse (in the spool). */
  spoolDepth(): number
  /** Spool segments that held unreadable records, kept in spool/quarantine for inspection. */
  spoolQuarantined(): number
  /**
   * Resolve once every event acknowledged before the call (of `incidentId` only, when given) is
   * in ClickHouse (true), or with false when storage is failing or `timeoutMs` passes first.
   */
  drained(timeoutMs: number, incidentId?: string): Promise<boolean>
  /** Stop accepting, flush what is queued, close. */
  close(): Promise<void>
}
