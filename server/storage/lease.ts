import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Store } from './client.js'

/**
 * Who does the work that must happen once per database, not once per server (SPEC §9): deriving
 * tenant state, evaluating alerts, sending webhooks. One server holds the lease and renews it;
 * when it dies, the lease expires and another takes it over.
 *
 * The lease lives in ClickHouse (`leases`, migration 12), which has no compare-and-set: a server
 * claims an expired lease by inserting a row and holds it if, read back after a pause, the newest
 * claim is its own. Two claims in one pause are settled by that read (the later claim wins); a
 * slower claimer that read the lease before the other's claim landed can believe it holds it for
 * one renewal (RENEW_MS), after which it sees the newer claim and steps down. The work it guards is
 * idempotent (a derivation rewrites rows from all events with a higher version; a webhook delivery
 * is keyed by its id), so such an overlap costs work, never a figure.
 */
export interface Lease {
  /** True while this server holds the lease. */
  readonly held: boolean
  /** This server's id in the lease table. */
  readonly holder: string
  /** Be told when this server gains or loses the lease. Returns an unsubscribe. */
  onChange(listener: (held: boolean) => void): () => void
  /** Renew now (or try to take an expired lease); resolves to `held`. */
  check(): Promise<boolean>
  /** Stop renewing and give the lease up, so another server takes over at once. */
  close(): Promise<void>
}

/** A lease is held this long after a renewal. */
export const LEASE_TTL_MS = 10_000
/** The holder renews this often; others look for an expired lease as often. */
export const RENEW_MS = 2_000
/** A claim is confirmed by reading the lease back after this pause. */
const CONFIRM_MS = 150

/** The lease of a server alone on its storage (embedded engine): always held. */
export function soleLease(): Lease {
  return { held: true, holder: 'local', onChange: () => () => {}, check: async () => true, close: async () => {} }
}

interface Row {
  holder: string
  expires_ms: number
}

/**
 * The lease `name` in the store's `leases` table, renewed every `renewMs`. Aborting `signal` stops
 * all renewal without giving the lease up, as a killed process does (tests).
 */
export async function openLease(
  store: Store,
  name: string,
  log: Logger,
  opts: { ttlMs?: number; renewMs?: number; holder?: string; signal?: AbortSignal } = {},
): Promise<Lease> {
  const ttlMs = opts.ttlMs ?? LEASE_TTL_MS
  const renewMs = opts.renewMs ?? RENEW_MS
  const holder = opts.holder ?? `${process.pid}-${randomBytes(6).toString('hex')}`
  const listeners = new Set<(held: boolean) => void>()
  let held = false
  let closed = false
  let checking: Promise<boolean> | null = null

  const read = async (): Promise<Row | undefined> =>
    (await store.rows<Row>(`SELECT holder, expires_ms FROM ${store.db}.leases FINAL WHERE name = {name:String}`, { name }))[0]
  const claim = (expiresMs: number) =>
    store.command(`INSERT INTO ${store.db}.leases (name, holder, expires_ms, claimed_us) VALUES ({name:String}, {holder:String}, {expires:Int64}, {us:UInt64})`, {
      name,
      holder,
      expires: expiresMs,
      us: Date.now() * 1000 + Math.floor(Math.random() * 1000),
    })
  const set = (now: boolean) => {
    if (now === held) return
    held = now
    log.info({ lease: name, holder }, now ? 'lease taken: this server does the shared work' : 'lease lost: another server does the shared work')
    for (const l of listeners) l(now)
  }

  async function attempt(): Promise<boolean> {
    const current = await read()
    const nowMs = Date.now()
    if (current && current.holder !== holder && Number(current.expires_ms) > nowMs) {
      set(false)
      return false
    }
    await claim(nowMs + ttlMs)
    // A renewal of a lease still ours needs no confirmation; a takeover waits for rival claims.
    if (!(current?.holder === holder && held)) await new Promise((r) => setTimeout(r, CONFIRM_MS))
    const after = await read()
    set(after?.holder === holder)
    return held
  }
  const check = () => {
    if (opts.signal?.aborted) return Promise.resolve(held)
    checking ??= attempt()
      .catch((err) => {
        // Unable to renew: storage is failing. Keep working only while the lease is surely ours.
        log.warn({ err: err instanceof Error ? err.message : String(err), lease: name }, 'lease check failed')
        return held
      })
      .finally(() => {
        checking = null
      })
    return checking
  }
  await check()
  const timer = setInterval(() => {
    if (!closed) void check()
  }, renewMs)
  timer.unref()

  return {
    get held() {
      return held
    },
    holder,
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    check,
    async close() {
      closed = true
      clearInterval(timer)
      await checking?.catch(() => {})
      if (held) {
        // Expire our claim so a successor need not wait out the TTL.
        await claim(0).catch(() => {})
        set(false)
      }
    },
  }
}
