import { createHmac } from 'node:crypto'
import type { Logger } from 'pino'
import { withLane } from '../storage/lanes.js'
import type { Delivery, WebhookStore } from './store.js'

/** A failed delivery is retried this long after it was created, then given up (SPEC §6: 24 h). */
export const RETRY_FOR_MS = 24 * 3_600_000
/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 3_600_000
/** Deliveries attempted at once. */
const CONCURRENCY = 4

/** `Aftermath-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (Stripe's scheme). */
export function signature(secret: string, body: string, unixS: number): string {
  return `t=${unixS},v1=${createHmac('sha256', secret).update(`${unixS}.${body}`).digest('hex')}`
}

export interface DelivererDeps {
  hooks: WebhookStore
  log: Logger
  backoffMs: number
  timeoutMs: number
  /** Whether this server sends (the holder of the shared-work lease, SPEC §9); default always. */
  leader?: () => boolean
}

/**
 * Sends the outbox: every pending delivery whose time has come is POSTed to its webhook, signed,
 * without following redirects; a 2xx ends it, anything else (an error, a timeout, a 3xx) is
 * retried with exponential backoff, with the same id, until 24 h after it was created. Each
 * attempt's outcome is written back (the delivery log) before the next one.
 */
export class Deliverer {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | null = null
  private again = false
  private closed = false

  constructor(private readonly deps: DelivererDeps) {}

  start(pollMs = 1000) {
    const tick = () => {
      if (this.closed) return
      this.wake()
      this.timer = setTimeout(tick, pollMs)
      this.timer.unref()
    }
    tick()
  }

  /** Look for due deliveries now (a new one was written). */
  wake() {
    if (this.closed || !(this.deps.leader?.() ?? true)) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = withLane('internal', () => this.sendDue())
      .catch((err) => this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'webhook deliveries not sent'))
      .finally(() => {
        this.running = null
        if (this.again) {
          this.again = false
          this.wake()
        }
      })
  }

  async close() {
    this.closed = true
    clearTimeout(this.timer)
    await this.running
  }

  private async sendDue() {
    for (;;) {
      const due = await this.deps.hooks.due(Date.now(), 20)
      if (due.length === 0 || this.closed) return
      for (let i = 0; i < due.length; i += CONCURRENCY) await Promise.all(due.slice(i, i + CONCURRENCY).map((d) => this.attempt(d)))
      if (due.length < 20) return
    }
  }

  private async attempt(d: Delivery) {
    const hook = await this.deps.hooks.get(d.webhook_id)
    // The outbox runs on the wall clock (the server's injected clock is the moment figures are of).
    const nowMs = Date.now()
    if (!hook) {
      await this.deps.hooks.putDeliveries([{ ...d, status: 'failed', last_error: 'webhook removed' }])
      return
    }
    let status = 0
    let error = ''
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.deps.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Aftermath-Webhooks/1',
          'aftermath-delivery': d.id,
          'aftermath-signature': signature(hook.secret, d.body, Math.floor(nowMs / 1000)),
        },
        body: d.body,
      })
      status = res.status
      await res.arrayBuffer().catch(() => {})
      if (status < 200 || status > 299) error = status >= 300 && status < 400 ? `redirect (${status}) not followed` : `HTTP ${status}`
    } catch (err) {
      error = (err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)).slice(0, 300)
    }
    const attempts = d.attempts + 1
    const delivered = error === ''
    const backoff = Math.min(this.deps.backoffMs * 2 ** (attempts - 1), MAX_BACKOFF_MS)
    const expired = nowMs + backoff - Date.parse(d.created_at) > RETRY_FOR_MS
    await this.deps.hooks.putDeliveries([
      {
        ...d,
        attempts,
        status: delivered ? 'delivered' : expired ? 'failed' : 'pending',
        last_attempt_at: new Date(nowMs).toISOString(),
        next_attempt_at: new Date(nowMs + backoff).toISOString(),
        last_status: status,
        last_error: error,
      },
    ])
    if (!delivered) this.deps.log.warn({ delivery: d.id, webhook: d.webhook_id, attempts, error }, expired ? 'webhook delivery given up after 24 h' : 'webhook delivery failed; will retry')
  }
}
