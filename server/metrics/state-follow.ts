import type { Logger } from 'pino'
import type { Store } from '../storage/client.js'
import type { Lease } from '../storage/lease.js'

/** With a shared database, how often a server looks for changes made through the others (ms). */
export const FOLLOW_MS = 500
/** A server without the lease waits at most this long for the holder to derive what a query needs (ms). */
export const CATCH_UP_MS = 5_000

/** What the follower needs of the state sync it serves (state-sync.ts). */
export interface FollowedSync {
  store: Store
  lease: Lease
  log: Logger
  /** Take in the holder's recorded position and version (a later takeover continues from them). */
  advance(scanFrom: number, version: number): void
  /** Incidents whose derived state changed: bump their caches, tell listeners. */
  changed(incidentIds: Set<string>): void
  /** Tenant or incident metadata written (through another server). */
  metaChanged(table: 'tenants' | 'incidents'): void
  /** True when a query should look for new events now (a local insert, or none looked for lately); marks the look. */
  shouldLook(): boolean
  /** The holder's sync (derive what is new). */
  derive(): Promise<void>
}

/**
 * Several servers on one database (SPEC §9): the servers without the shared-work lease follow the
 * holder's derivation instead of deriving, and every server notices metadata written through the
 * others. Runs every FOLLOW_MS while the database is shared; nothing at all on a server alone.
 */
export class Follower {
  /** The derived position (state_sync) taken in: incidents with events up to it are announced. */
  private followed: number
  private following: Promise<void> | null = null
  /** Highest block of the metadata tables seen, to notice writes through other servers. */
  private readonly metaSeen = { tenants: -1, incidents: -1 }
  private readonly timer: NodeJS.Timeout | undefined

  constructor(
    private readonly sync: FollowedSync,
    position: number,
  ) {
    this.followed = position
    const { lease, log } = sync
    lease.onChange((held) => {
      if (held) void this.takeOver().catch((err) => log.warn({ err: errText(err) }, 'takeover sync failed'))
    })
    if (lease.holder === 'local') return
    this.timer = setInterval(() => {
      const work = lease.held ? sync.derive() : this.follow()
      void Promise.all([work, this.followMeta()]).catch((err) => log.warn({ err: errText(err) }, 'following other servers failed'))
    }, FOLLOW_MS)
    this.timer.unref()
  }

  /** The holder derived up to `position` itself. */
  derivedTo(position: number) {
    this.followed = Math.max(this.followed, position)
  }

  /** Take in what the lease holder derived since we last looked. */
  follow(): Promise<void> {
    const { store } = this.sync
    this.following ??= (async () => {
      const [pos] = await store.rows<{ s: number; v: number }>(`SELECT max(scan_from) AS s, max(version) AS v FROM ${store.db}.state_sync FINAL`)
      const s = Number(pos?.s ?? 0)
      if (s <= this.followed) return
      const changed = await store.rows<{ incident_id: string }>(
        `SELECT DISTINCT incident_id FROM ${store.db}.events WHERE _block_number > {a:UInt64} AND _block_number <= {b:UInt64}`,
        { a: this.followed, b: s },
      )
      this.followed = s
      this.sync.advance(s, Number(pos?.v ?? 0))
      this.sync.changed(new Set(changed.map((c) => c.incident_id)))
    })().finally(() => {
      this.following = null
    })
    return this.following
  }

  /**
   * A query on a server without the lease: resolve once the holder has derived every events block
   * committed now (ours included), or after CATCH_UP_MS (then answer with what is derived). Takes
   * over when the lease falls to this server meanwhile.
   */
  async caughtUp(): Promise<void> {
    if (!this.sync.shouldLook()) return
    const target = await eventsTop(this.sync.store)
    const deadline = Date.now() + CATCH_UP_MS
    while (this.followed < target) {
      if (this.sync.lease.held) return this.sync.derive()
      if (Date.now() > deadline) {
        this.sync.log.debug({ target, followed: this.followed }, 'query served before the lease holder derived every committed event')
        return
      }
      await new Promise((r) => setTimeout(r, 50))
      await this.follow()
    }
  }

  close() {
    clearInterval(this.timer)
  }

  /** Metadata written through other servers: tenants and incidents caches move on. */
  private async followMeta(): Promise<void> {
    const { store } = this.sync
    const rows = await store.rows<{ table: string; b: number }>(
      `SELECT table, max(max_block_number) AS b FROM system.parts WHERE database = '${store.db}' AND table IN ('tenants', 'incidents') AND active GROUP BY table`,
    )
    for (const { table, b } of rows) {
      const key = table as keyof Follower['metaSeen']
      if (this.metaSeen[key] >= 0 && Number(b) !== this.metaSeen[key]) this.sync.metaChanged(key)
      this.metaSeen[key] = Number(b)
    }
  }

  /** Continue from what the last holder recorded, with versions above any it wrote (it may have died mid-derivation). */
  private async takeOver() {
    const { store } = this.sync
    await this.follow()
    const [v] = await store.rows<{ v: number }>(`SELECT max(version) AS v FROM ${store.db}.tenant_state`)
    this.sync.advance(0, Number(v?.v ?? 0))
    await this.sync.derive()
  }
}

/** The highest events block committed (no bound parameters: it runs beside the engine's queue). */
export async function eventsTop(store: Store): Promise<number> {
  const [top] = await store.rows<{ b: number }>(`SELECT max(max_block_number) AS b FROM system.parts WHERE database = '${store.db}' AND table = 'events' AND active`)
  return Number(top?.b ?? 0)
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err))
