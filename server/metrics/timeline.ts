import { notFound } from '../errors.js'
import { EVENT_TYPES } from '../ingest/types.js'
import type { Store } from '../storage/client.js'
import { incidentBroadcasts } from './broadcasts.js'
import { chTime, inSegment, isoTime, type QueryScope } from './filters.js'
import type { StateSync } from './state-sync.js'
import { rowAt, storedState, STORED_STATE_COLUMNS, type StoredState } from './tenant-row.js'
import { CARD_EVENTS } from './tenant-state.js'
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
export const MAX_TIMELINE_EVENTS = CARD_EVENTS

/** An event as a card stores it: [event_id, occurred_at ms, type code (1-based, EVENT_TYPES order), progress, channel, label, message]. */
type CardEvent = [string, number | string, number | string, number | null, string, string, string]

/**
 * One tenant's events up to T in the §3 order (occurred_at, then type, then event_id), with
 * broadcasts interleaved when they count, plus its row. 404 when the incident has no event of
 * this tenant at all.
 *
 * One key-value lookup of two keys in `cards` (migration 6): the tenant's card (its stored
 * state, from which rowAt evaluates its row at T, and its events) and its metadata. The
 * incident's broadcasts are read once per change of the incident.
 */
export async function tenantTimeline(store: Store, state: StateSync, scope: QueryScope, tenantId: string): Promise<TenantTimeline> {
  const { card, meta } = await readTenantCard(store, scope.incidentId, tenantId)
  // Every tenant with an event in the incident has a card, affected or not.
  if (!card) throw notFound(`no tenant "${tenantId.slice(0, 256)}" in incident "${scope.incidentId}"`)
  const { stored } = card
  const upTo = scope.asOfMs
  const events = card.eventsUpTo(upTo)
  const [broadcasts, index] = scope.includeBroadcast
    ? await Promise.all([broadcastEvents(store, scope.incidentId, upTo), incidentBroadcasts(store, state, scope.incidentId)])
    : [[], undefined]
  const affected = stored.first_lost_ms <= upTo && inSegment(meta?.attributes, scope.filters)
  const at = affected ? rowAt(stored, upTo, index) : null
  return {
    incident_id: scope.incidentId,
    tenant_id: tenantId,
    as_of: new Date(upTo).toISOString(),
    events: broadcasts.length ? mergeInOrder(events, broadcasts).slice(0, MAX_TIMELINE_EVENTS) : events,
    row: at ? toTenantRow(tenantId, at, meta) : null,
    diagnostics: { stray_restores: at?.strays ?? 0 },
  }
}

export interface TenantCard {
  /** The stored facts rowAt evaluates a row from. */
  stored: StoredState
  /** The tenant's own events up to T, in §3 order. */
  eventsUpTo(t: number): TimelineEvent[]
}

/**
 * A tenant's card and metadata: one key-value lookup of two keys in `cards` (migration 6).
 * `card` is null when the incident has no event of this tenant.
 */
export async function readTenantCard(
  store: Store,
  incidentId: string,
  tenantId: string,
): Promise<{ card: TenantCard | null; meta: { name: string; attributes: Record<string, string> } | undefined }> {
  const cardKey = `t${incidentId}\u0000${tenantId}`
  const metaKey = `m${tenantId}`
  const found = await store.rows<{ key: string; value: string }>(`SELECT key, value FROM ${store.db}.cards WHERE key IN ({card:String}, {meta:String})`, {
    card: cardKey,
    meta: metaKey,
  })
  // A tenant without metadata has an empty name and no attributes, and is in no segment.
  const metaRow = found.find((r) => r.key === metaKey)
  const meta = metaRow ? metaOf(elements(JSON.parse(metaRow.value))) : undefined
  const cardRow = tenantId === '' ? undefined : found.find((r) => r.key === cardKey)
  if (!cardRow) return { card: null, meta }
  const fields = elements(JSON.parse(cardRow.value))
  const stored = storedState(Object.fromEntries(STORED_STATE_COLUMNS.map((c, i) => [c, fields[i]])))
  const raw = elements(fields[STORED_STATE_COLUMNS.length])
  const eventsUpTo = (t: number) => {
    const events: TimelineEvent[] = []
    for (const r of raw) {
      const e = elements(r) as CardEvent
      const ms = Number(e[1])
      // The card's events are in time order: the rest are after T.
      if (ms > t) break
      events.push({ event_id: e[0], type: EVENT_TYPES[Number(e[2]) - 1]!, occurred_at: isoTime(ms), direct: true, progress: e[3], channel: e[4], label: e[5], message: e[6] })
    }
    return events
  }
  return { card: { stored, eventsUpTo }, meta }
}

/** A tuple as JSON gives it: an array, or an object of its elements when the engine names them. */
function elements(v: unknown): unknown[] {
  if (Array.isArray(v)) return v
  return v !== null && typeof v === 'object' ? Object.values(v) : []
}

function metaOf(fields: unknown[]): { name: string; attributes: Record<string, string> } {
  return { name: String(fields[0] ?? ''), attributes: (fields[1] ?? {}) as Record<string, string> }
}

/**
 * The incident's broadcast communications (no tenant_id) up to T in §3 order, at most as many as
 * a timeline lists: merged with the tenant's own, the list keeps its first MAX_TIMELINE_EVENTS.
 */
async function broadcastEvents(store: Store, incidentId: string, upToMs: number): Promise<TimelineEvent[]> {
  const rows = await store.rows<Omit<TimelineEvent, 'direct'>>(
    `SELECT event_id, toString(type) AS type, occurred_at, progress, channel, label, message
     FROM ${store.db}.events FINAL
     WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
     ORDER BY occurred_at, type, event_id
     LIMIT {limit:UInt32}`,
    { incident: incidentId, as_of: chTime(upToMs), limit: MAX_TIMELINE_EVENTS },
  )
  return rows.map((e) => ({ ...e, direct: false }))
}

/** The §3 order of events: occurred_at, then type (EVENT_TYPES order), then event_id as bytes (as ClickHouse compares strings). */
function compareEvents(a: TimelineEvent, b: TimelineEvent): number {
  if (a.occurred_at !== b.occurred_at) return a.occurred_at < b.occurred_at ? -1 : 1
  const ta = EVENT_TYPES.indexOf(a.type as never)
  const tb = EVENT_TYPES.indexOf(b.type as never)
  if (ta !== tb) return ta - tb
  return Buffer.compare(Buffer.from(a.event_id), Buffer.from(b.event_id))
}

/** Merge two lists each already in §3 order. */
function mergeInOrder(xs: TimelineEvent[], ys: TimelineEvent[]): TimelineEvent[] {
  const out: TimelineEvent[] = []
  let i = 0
  let j = 0
  while (i < xs.length || j < ys.length) {
    if (j >= ys.length || (i < xs.length && compareEvents(xs[i]!, ys[j]!) <= 0)) out.push(xs[i++]!)
    else out.push(ys[j++]!)
  }
  return out
}
