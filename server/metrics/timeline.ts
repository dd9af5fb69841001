import { notFound } from '../errors.js'
import { EVENT_TYPES } from '../domain/events.js'
import type { Store } from '../storage/client.js'
import { incidentBroadcasts } from './broadcasts.js'
import { chTime, inSegment, isoTime, type QueryScope } from './filters.js'
import type { StateSync } from './state-sync.js'
import { CARD_EVENT_FIELDS, decodeCard, elements, META_CARD_FIELDS, metaCardKey, TENANT_CARD_FIELDS, tenantCardKey } from '../storage/card-layout.js'
import { rowAt, storedState, STORED_STATE_COLUMNS, type StoredState } from './figures.js'
import { OPEN_END } from './packing.js'
import { CARD_EVENTS, eventsFrom, knownParams, tenantFactsSql } from './tenant-state.js'
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

/** Every stored fact a row is evaluated from is in a tenant card (a compile-time check of the layout). */
const CARD_HOLDS_STATE: readonly (typeof TENANT_CARD_FIELDS)[number][] = STORED_STATE_COLUMNS
void CARD_HOLDS_STATE

/** At most this many events are listed (a tenant normally has tens). */
export const MAX_TIMELINE_EVENTS = CARD_EVENTS


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
  const found = await readTenantCard(store, scope.incidentId, tenantId)
  const { meta } = found
  // With known_at, a tenant of the incident none of whose events had arrived then has an empty
  // timeline and no row (it was not known to be affected), rather than a 404.
  const card = found.card === null || scope.knownAtMs === undefined ? found.card : ((await knownTenantCard(store, scope, tenantId)) ?? NOTHING_KNOWN)
  // Every tenant with an event in the incident has a card, affected or not.
  if (!card) throw notFound(`no tenant "${tenantId.slice(0, 256)}" in incident "${scope.incidentId}"`)
  const { stored } = card
  const upTo = scope.asOfMs
  const events = card.eventsUpTo(upTo)
  const [broadcasts, index] = scope.includeBroadcast
    ? await Promise.all([broadcastEvents(store, scope, upTo), incidentBroadcasts(store, state, scope)])
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

/** Keys of a batch: what one statement asks for at most. */
export const MAX_BATCH_KEYS = 2000

/**
 * Key-value lookups in `cards` of concurrent requests, one statement for many: while one runs,
 * the keys asked for meanwhile wait and go together in the next. A lookup of one key and of a
 * thousand cost about the same (the statement's fixed cost dominates), so a crowd of status
 * pages or timelines costs a statement per round trip, not one each. A lookup never joins a
 * statement already running: it sees everything committed before it was asked.
 */
class CardLookups {
  private waiting: { keys: string[]; resolve(rows: Map<string, string>): void; reject(err: unknown): void }[] = []
  private running = false

  constructor(private readonly store: Store) {}

  /**
   * The cards' engine decides the read (migration 6): RocksDB keeps the last write of a key; where
   * the target has no RocksDB (ClickHouse Cloud, a replicated database) cards is a
   * ReplacingMergeTree, whose FINAL keeps the last inserted row of a key: the same answer.
   */
  private selectSql: Promise<string> | undefined
  private select(): Promise<string> {
    this.selectSql ??= this.store
      .rows<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'cards'`, { db: this.store.db })
      .then(([t]) => `SELECT key, value FROM ${this.store.db}.cards${t?.engine === 'EmbeddedRocksDB' ? '' : ' FINAL'}`)
    this.selectSql.catch(() => (this.selectSql = undefined))
    return this.selectSql
  }

  get(keys: string[]): Promise<Map<string, string>> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ keys, resolve, reject })
      if (!this.running) void this.run()
    })
  }

  private async run() {
    this.running = true
    while (this.waiting.length) {
      const batch: typeof this.waiting = []
      let n = 0
      while (this.waiting.length && n + this.waiting[0]!.keys.length <= MAX_BATCH_KEYS) {
        const w = this.waiting.shift()!
        batch.push(w)
        n += w.keys.length
      }
      if (batch.length === 0) batch.push(this.waiting.shift()!)
      try {
        const keys = [...new Set(batch.flatMap((w) => w.keys))]
        const rows = await this.store.rows<{ key: string; value: string }>(`${await this.select()} WHERE key IN {keys:Array(String)}`, { keys })
        const all = new Map(rows.map((r) => [r.key, r.value]))
        for (const w of batch) w.resolve(new Map(w.keys.flatMap((k) => (all.has(k) ? [[k, all.get(k)!] as const] : []))))
      } catch (err) {
        for (const w of batch) w.reject(err)
      }
    }
    this.running = false
  }
}
const lookups = new WeakMap<Store, CardLookups>()
function cardLookups(store: Store): CardLookups {
  let l = lookups.get(store)
  if (!l) lookups.set(store, (l = new CardLookups(store)))
  return l
}

/**
 * A tenant's card and metadata: a key-value lookup of two keys in `cards` (migration 6), shared
 * with the lookups of concurrent requests.
 * `card` is null when the incident has no event of this tenant.
 */
export async function readTenantCard(
  store: Store,
  incidentId: string,
  tenantId: string,
): Promise<{ card: TenantCard | null; meta: { name: string; attributes: Record<string, string> } | undefined }> {
  const cardKey = tenantCardKey(incidentId, tenantId)
  const metaKey = metaCardKey(tenantId)
  const found = await cardLookups(store).get([cardKey, metaKey])
  // A tenant without metadata has an empty name and no attributes, and is in no segment.
  const metaValue = found.get(metaKey)
  const meta = metaValue ? metaOf(decodeCard(META_CARD_FIELDS, metaValue)) : undefined
  const cardValue = tenantId === '' ? undefined : found.get(cardKey)
  if (!cardValue) return { card: null, meta }
  return { card: cardOf(decodeCard(TENANT_CARD_FIELDS, cardValue)), meta }
}

/**
 * With known_at (SPEC §7) a tenant's card is what its events received by then make: derived
 * afresh for this one tenant (its cost is its own events), in the same layout. Null when none of
 * its events had arrived.
 */
async function knownTenantCard(store: Store, scope: QueryScope, tenantId: string): Promise<TenantCard | null> {
  const [row] = await store.rows<Record<(typeof TENANT_CARD_FIELDS)[number], unknown>>(
    `SELECT ${TENANT_CARD_FIELDS.join(', ')} FROM (${tenantFactsSql(store.db, scope)})`,
    { incident: scope.incidentId, tenant: tenantId, ...knownParams(scope) },
  )
  return row ? cardOf(row) : null
}

/** The card of a tenant none of whose events had arrived. */
const NOTHING_KNOWN: TenantCard = {
  stored: { first_lost_ms: OPEN_END, starts: [], ends: [], stray_ms: [], rk: [], prog_ms: [], prog: [], dcomm: [], contact_ms: OPEN_END, gap_comms: [], gap_prefix: [] },
  eventsUpTo: () => [],
}

/** A tenant card's stored facts and its events up to a moment, from its fields. */
function cardOf(fields: Record<(typeof TENANT_CARD_FIELDS)[number], unknown>): TenantCard {
  const stored = storedState(fields)
  const raw = elements(fields.events)
  const eventsUpTo = (t: number) => {
    const events: TimelineEvent[] = []
    for (const r of raw) {
      // An event as a card stores it (CARD_EVENT_FIELDS); type: its code, 1-based in EVENT_TYPES order.
      const e = Object.fromEntries(CARD_EVENT_FIELDS.map((f, i) => [f, elements(r)[i]])) as Record<(typeof CARD_EVENT_FIELDS)[number], string | number | null>
      const ms = Number(e.ms)
      // The card's events are in time order: the rest are after T.
      if (ms > t) break
      events.push({
        event_id: String(e.event_id),
        type: EVENT_TYPES[Number(e.type) - 1]!,
        occurred_at: isoTime(ms),
        direct: true,
        progress: e.progress === null ? null : Number(e.progress),
        channel: String(e.channel),
        label: String(e.label),
        message: String(e.message),
      })
    }
    return events
  }
  return { stored, eventsUpTo }
}

function metaOf(fields: Record<(typeof META_CARD_FIELDS)[number], unknown>): { name: string; attributes: Record<string, string> } {
  return { name: String(fields.name ?? ''), attributes: (fields.attributes ?? {}) as Record<string, string> }
}

/**
 * The incident's broadcast communications (no tenant_id) up to T in §3 order, at most as many as
 * a timeline lists: merged with the tenant's own, the list keeps its first MAX_TIMELINE_EVENTS.
 */
async function broadcastEvents(store: Store, scope: QueryScope, upToMs: number): Promise<TimelineEvent[]> {
  const rows = await store.rows<Omit<TimelineEvent, 'direct'>>(
    `SELECT event_id, toString(type) AS type, occurred_at, progress, channel, label, message
     FROM ${eventsFrom(store.db, scope)}
     WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
     ORDER BY occurred_at, type, event_id
     LIMIT {limit:UInt32}`,
    { incident: scope.incidentId, as_of: chTime(upToMs), limit: MAX_TIMELINE_EVENTS, ...knownParams(scope) },
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
