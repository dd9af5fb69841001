import { createHash, randomBytes } from 'node:crypto'
import { formatRowTime } from '../domain/time.js'
import type { Store } from '../storage/client.js'
import { nextVersion } from '../storage/version.js'

/** The events a webhook can subscribe to (SPEC §6), and the test delivery the CLI sends. */
export const WEBHOOK_EVENTS = ['tenant.overdue', 'incident.recovery_stalled', 'incident.milestone'] as const
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]
export type DeliveryType = WebhookEvent | 'webhook.test'

export interface Webhook {
  id: string
  url: string
  events: WebhookEvent[]
  /** '' = every incident. */
  incident_id: string
  format: 'json' | 'slack'
  secret: string
  created_at: string
}

export interface Delivery {
  webhook_id: string
  id: string
  type: DeliveryType
  incident_id: string
  /** What it reports, each once per webhook: `<tenant>\u0000<due ms>` for an overdue episode, `pct50`, `stall:<ms>`… */
  keys: string[]
  /** The exact bytes signed and sent. */
  body: string
  created_at: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  next_attempt_at: string
  last_attempt_at: string | null
  last_status: number
  last_error: string
}

const ms = (s: string) => Date.parse(s.replace(' ', 'T') + (s.endsWith('Z') ? '' : 'Z'))

/** The webhook tables (migration 9): one statement per function, values bound. */
export class WebhookStore {
  constructor(private readonly store: Store) {}

  private get db() {
    return this.store.db
  }

  async create(hook: Omit<Webhook, 'id' | 'secret' | 'created_at'>, nowMs: number): Promise<Webhook> {
    const created: Webhook = { ...hook, id: `wh_${randomBytes(9).toString('base64url')}`, secret: `whsec_${randomBytes(24).toString('base64url')}`, created_at: new Date(nowMs).toISOString() }
    await this.write(created, false)
    return created
  }

  async remove(id: string): Promise<boolean> {
    const hook = await this.get(id)
    if (!hook) return false
    await this.write(hook, true)
    return true
  }

  private async write(h: Webhook, deleted: boolean) {
    const row = { ...h, created_at: formatRowTime(Date.parse(h.created_at)), deleted: deleted ? 1 : 0, version: nextVersion() }
    await this.store.insert(`${this.db}.webhooks`, Buffer.from(JSON.stringify(row) + '\n'))
  }

  async get(id: string): Promise<Webhook | null> {
    const [row] = await this.store.rows<Webhook>(
      `SELECT id, url, events, incident_id, format, secret, created_at FROM ${this.db}.webhooks FINAL WHERE id = {id:String} AND deleted = 0`,
      { id },
    )
    return row ?? null
  }

  async list(): Promise<Webhook[]> {
    return this.store.rows<Webhook>(`SELECT id, url, events, incident_id, format, secret, created_at FROM ${this.db}.webhooks FINAL WHERE deleted = 0 ORDER BY created_at, id`)
  }

  /** Write a delivery (a new one, or its state after an attempt). */
  async putDeliveries(ds: Delivery[]): Promise<void> {
    if (ds.length === 0) return
    const rows = ds.map((d) =>
      JSON.stringify({
        ...d,
        created_at: formatRowTime(ms(d.created_at)),
        next_attempt_at: formatRowTime(ms(d.next_attempt_at)),
        last_attempt_at: d.last_attempt_at === null ? null : formatRowTime(ms(d.last_attempt_at)),
        version: nextVersion(),
      }),
    )
    await this.store.insert(`${this.db}.webhook_deliveries`, Buffer.from(rows.join('\n') + '\n'))
  }

  /** Pending deliveries due at `nowMs`, oldest first. */
  async due(nowMs: number, limit: number): Promise<Delivery[]> {
    return this.store.rows<Delivery>(
      `SELECT * EXCEPT version FROM ${this.db}.webhook_deliveries FINAL
       WHERE status = 'pending' AND next_attempt_at <= {now:DateTime64(3, 'UTC')}
       ORDER BY next_attempt_at, id LIMIT {limit:UInt32}`,
      { now: formatRowTime(nowMs), limit },
    )
  }

  /** A webhook's deliveries, latest first. */
  async deliveries(webhookId: string, limit: number): Promise<Delivery[]> {
    return this.store.rows<Delivery>(
      `SELECT * EXCEPT version FROM ${this.db}.webhook_deliveries FINAL WHERE webhook_id = {id:String} ORDER BY created_at DESC, id DESC LIMIT {limit:UInt32}`,
      { id: webhookId, limit },
    )
  }

  /** Of `keys`, those already reported to the webhook for the incident and type. */
  async reported(webhookId: string, type: DeliveryType, incidentId: string, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set()
    const rows = await this.store.rows<{ k: string }>(
      `SELECT DISTINCT arrayJoin(keys) AS k FROM ${this.db}.webhook_deliveries FINAL
       WHERE webhook_id = {id:String} AND type = {type:String} AND incident_id = {incident:String} AND has({keys:Array(String)}, k)`,
      { id: webhookId, type, incident: incidentId, keys },
    )
    return new Set(rows.map((r) => r.k))
  }
}

/**
 * A delivery's id, from what it reports: the same report is the same delivery, so an evaluation
 * repeated after a crash writes the same row again instead of a second one.
 */
export function deliveryId(webhookId: string, type: DeliveryType, incidentId: string, keys: string[]): string {
  return `dl_${createHash('sha256').update(JSON.stringify([webhookId, type, incidentId, keys])).digest('base64url').slice(0, 24)}`
}
