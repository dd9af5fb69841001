import type { Store } from '../storage/client.js'
import { chTime, isoTime } from './filters.js'
import { incidentHeader } from './incidents.js'
import { readTenantCard } from './timeline.js'
import type { StateSync } from './state-sync.js'
import { rowAt } from './figures.js'

/** At most this many updates are listed, newest first. */
export const STATUS_UPDATES = 20

export interface StatusUpdate {
  at: string
  channel: string
  message: string
  /** True for a broadcast (a status page post to every customer), false for one sent to this tenant. */
  broadcast: boolean
}

/** GET /api/v1/status (SPEC §8): one tenant's own state in one incident, for the customer. */
export interface CustomerStatus {
  as_of: string
  incident: { title: string; status: string }
  tenant: { id: string; name: string }
  /** Has had an access_lost at or before now. */
  affected: boolean
  state: 'down' | 'up'
  restore_stage: 'not_started' | 'in_progress' | 'completed' | null
  restore_progress: number | null
  /** Start of the current outage interval; null when up. */
  down_since: string | null
  downtime_s: number
  /** The latest communication this tenant received, direct or broadcast. */
  last_update_at: string | null
  updates: StatusUpdate[]
}

/**
 * The customer's status at `nowMs`, from their own card (one key-value lookup), the incident's
 * latest broadcasts and its header. Everything here is keyed by the link's tenant: no statement
 * reads another tenant's row, so no other tenant's id, name or figure can reach the document.
 *
 * "When did we last hear from them" counts broadcasts as well as direct messages (a status page
 * post reaches every customer), whatever the dashboard's include_broadcast says.
 */
export async function customerStatus(store: Store, state: StateSync, incidentId: string, tenantId: string, nowMs: number): Promise<CustomerStatus> {
  const [{ card, meta }, broadcasts, header] = await Promise.all([
    readTenantCard(store, incidentId, tenantId),
    latestBroadcasts(store, state, incidentId, nowMs),
    incidentHeader(store, state, incidentId),
  ])
  const affected = card !== null && card.stored.first_lost_ms <= nowMs
  const row = affected ? rowAt(card.stored, nowMs) : null
  const direct: StatusUpdate[] = (card?.eventsUpTo(nowMs) ?? [])
    .filter((e) => e.type === 'communication')
    .map((e) => ({ at: e.occurred_at, channel: e.channel, message: e.message, broadcast: false }))
  // Both lists are in time order (ISO strings of one format compare as times): newest first.
  const updates = [...direct, ...broadcasts].sort((a, b) => (a.at === b.at ? 0 : a.at < b.at ? 1 : -1)).slice(0, STATUS_UPDATES)
  return {
    as_of: isoTime(nowMs),
    incident: header,
    tenant: { id: tenantId, name: meta?.name ?? '' },
    affected,
    state: row?.down ? 'down' : 'up',
    restore_stage: row?.restore_stage ?? null,
    restore_progress: row?.restore_progress ?? null,
    down_since: row?.down_since_ms == null ? null : isoTime(row.down_since_ms),
    downtime_s: row ? row.downtime_ms / 1000 : 0,
    last_update_at: updates[0]?.at ?? null,
    updates,
  }
}

/**
 * The incident's latest broadcast communications at or before T. Every status page of the
 * incident shows the same ones: they are read once per change of the incident, as of the moment
 * of reading (t0), with the time of the first broadcast after t0 (one sent with a time a few
 * minutes ahead). The copy answers for any T from t0 until that broadcast's time; outside that,
 * the statement runs for the request itself.
 */
async function latestBroadcasts(store: Store, state: StateSync, incidentId: string, nowMs: number): Promise<StatusUpdate[]> {
  const kept = await state.cached(incidentId, 'status broadcasts', false, async () => ({ t0: nowMs, ...(await readBroadcasts(store, incidentId, nowMs)) }))
  if (kept.t0 <= nowMs && nowMs < kept.nextMs) return kept.updates
  return (await readBroadcasts(store, incidentId, nowMs)).updates
}

async function readBroadcasts(store: Store, incidentId: string, upToMs: number): Promise<{ updates: StatusUpdate[]; nextMs: number }> {
  const where = `incident_id = {incident:String} AND tenant_id = '' AND type = 'communication'`
  const [row] = await store.rows<{ latest: [string, string, string][]; next_ms: number | string }>(
    `SELECT
       (SELECT groupArray((at, channel, message)) FROM (
          SELECT occurred_at AS at, channel, message FROM ${store.db}.events FINAL
          WHERE ${where} AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
          ORDER BY occurred_at DESC, event_id DESC LIMIT {limit:UInt32})) AS latest,
       (SELECT min(toUnixTimestamp64Milli(occurred_at)) FROM ${store.db}.events WHERE ${where} AND occurred_at > {as_of:DateTime64(3, 'UTC')}) AS next_ms`,
    { incident: incidentId, as_of: chTime(upToMs), limit: STATUS_UPDATES },
  )
  const next = Number(row?.next_ms ?? 0)
  return {
    updates: (row?.latest ?? []).map((t) => {
      const [at, channel, message] = Array.isArray(t) ? t : (Object.values(t) as string[])
      return { at: isoTime(Date.parse(at)), channel, message, broadcast: true }
    }),
    // min() over no rows is 0: no broadcast after T.
    nextMs: next > upToMs ? next : Infinity,
  }
}
