import { createHash, randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { formatRowTime } from '../domain/time.js'
import type { Store } from '../storage/client.js'
import { nextVersion } from '../storage/version.js'

/**
 * Share links (SPEC §8): a bearer token that reads one incident's views (an incident link) or
 * one tenant's status in one incident (a tenant link). The token is shown once, at creation;
 * only its SHA-256 is kept (migration 10). A token of 192 random bits needs no slow hash: there
 * is nothing to guess from its digest.
 */
export interface ShareLink {
  id: string
  /** Hex SHA-256 of the token. */
  token_hash: string
  incident_id: string
  /** null: an incident link. */
  tenant_id: string | null
  created_ms: number
  expires_ms: number
  revoked_ms: number | null
}

export type LinkStatus = 'active' | 'expired' | 'revoked'

export interface ShareLinkView {
  id: string
  kind: 'incident' | 'tenant'
  incident_id: string
  tenant_id: string | null
  created_at: string
  expires_at: string
  revoked_at: string | null
  status: LinkStatus
  last_used_at: string | null
  uses: number
}

/** Tokens start with this, so a leaked one is recognisable (secret scanners, logs) and told apart from configured tokens. */
export const LINK_TOKEN_PREFIX = 'shl_'

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export function linkStatus(link: ShareLink, nowMs: number): LinkStatus {
  if (link.revoked_ms !== null) return 'revoked'
  return nowMs >= link.expires_ms ? 'expired' : 'active'
}

interface LinkRow {
  id: string
  token_hash: string
  incident_id: string
  tenant_id: string | null
  created_ms: string | number
  expires_ms: string | number
  revoked_ms: string | number | null
  version: string | number
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/**
 * The share links, kept whole in memory (a link is ~200 bytes: 100,000 links are 20 MB) so a
 * token resolves without a statement. Writes go to ClickHouse first, then to memory, so a
 * revocation is effective on this server the moment DELETE answers; other servers on the same
 * database read changed rows every `refreshMs` (SPEC §9).
 *
 * Uses are counted in memory and added to `share_link_uses` every `flushMs` and at close: a
 * kill -9 loses at most that interval's counts, never a link.
 */
export class ShareLinks {
  private readonly byHash = new Map<string, ShareLink>()
  private readonly byId = new Map<string, ShareLink>()
  private pending = new Map<string, { uses: number; last_ms: number }>()
  /**
   * A flush and a list's read of stored counts never overlap: between moving the pending counts
   * out and their insert committing, a list would see them nowhere (a count going down), or in
   * both places (counted twice).
   */
  private usesLock: Promise<unknown> = Promise.resolve()
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.usesLock.then(fn, fn)
    this.usesLock = run.catch(() => {})
    return run
  }
  private seenVersion = 0
  private readonly timers: NodeJS.Timeout[] = []
  private closed = false

  private constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  static async open(store: Store, log: Logger, opts: { refreshMs: number; flushMs: number }): Promise<ShareLinks> {
    const links = new ShareLinks(store, log)
    await links.refresh()
    const every = (ms: number, fn: () => Promise<void>, what: string) => {
      if (ms <= 0) return
      const t = setInterval(() => fn().catch((err) => log.warn({ err: err instanceof Error ? err.message : String(err) }, what)), ms)
      t.unref()
      links.timers.push(t)
    }
    every(opts.refreshMs, () => links.refresh(), 'share links: refresh failed; retrying')
    every(opts.flushMs, () => links.flush(), 'share links: use counts not written yet; retrying')
    return links
  }

  /** The link a token belongs to (active, expired or revoked), or undefined. */
  resolve(token: string): ShareLink | undefined {
    if (!token.startsWith(LINK_TOKEN_PREFIX)) return undefined
    return this.byHash.get(hashToken(token))
  }

  get(id: string): ShareLink | undefined {
    return this.byId.get(id)
  }

  /** Create links in one insert; each token is returned here and nowhere else. */
  async create(specs: { incident_id: string; tenant_id: string | null; expires_ms: number }[], nowMs: number): Promise<{ link: ShareLink; token: string }[]> {
    const made = specs.map((s) => {
      const token = LINK_TOKEN_PREFIX + randomBytes(24).toString('base64url')
      const link: ShareLink = {
        id: `sl_${randomBytes(9).toString('base64url')}`,
        token_hash: hashToken(token),
        incident_id: s.incident_id,
        tenant_id: s.tenant_id,
        created_ms: nowMs,
        expires_ms: s.expires_ms,
        revoked_ms: null,
      }
      return { link, token }
    })
    await this.write(made.map((m) => m.link))
    for (const m of made) {
      this.log.info({ link: m.link.id, incident: m.link.incident_id, tenant: m.link.tenant_id, expires_at: iso(m.link.expires_ms) }, 'share link created')
    }
    return made
  }

  /** Revoke a link; false when there is no such link. Revoking twice keeps the first time. */
  async revoke(id: string, nowMs: number): Promise<boolean> {
    const link = this.byId.get(id)
    if (!link) return false
    if (link.revoked_ms === null) {
      await this.write([{ ...link, revoked_ms: nowMs }])
      this.log.info({ link: id, incident: link.incident_id, tenant: link.tenant_id }, 'share link revoked')
    }
    return true
  }

  /** Count one use of a link (every authorised request made with it). */
  recordUse(id: string, nowMs: number) {
    const p = this.pending.get(id)
    if (p) {
      p.uses++
      p.last_ms = Math.max(p.last_ms, nowMs)
    } else this.pending.set(id, { uses: 1, last_ms: nowMs })
  }

  /** A page of links, newest first, with their use counts (stored plus not yet written). */
  async list(opts: { incidentId?: string; limit: number; offset: number }, nowMs: number): Promise<{ total: number; share_links: ShareLinkView[] }> {
    // byId is in creation order (links are remembered as created or read in version order, and a
    // revocation keeps its link's place): newest first without a sort, in one pass.
    const all = [...this.byId.values()].filter((l) => opts.incidentId === undefined || l.incident_id === opts.incidentId).reverse()
    const page = all.slice(opts.offset, opts.offset + opts.limit)
    const stored = new Map<string, { uses: number; last_ms: number }>()
    const pending = await this.exclusive(async () => {
      if (page.length) {
        const rows = await this.store.rows<{ id: string; uses: string | number; last_ms: string | number }>(
          `SELECT id, sum(uses) AS uses, toUnixTimestamp64Milli(max(last_used_at)) AS last_ms FROM ${this.store.db}.share_link_uses WHERE id IN {ids:Array(String)} GROUP BY id`,
          { ids: page.map((l) => l.id) },
        )
        for (const r of rows) stored.set(r.id, { uses: Number(r.uses), last_ms: Number(r.last_ms) })
      }
      return new Map(this.pending)
    })
    return {
      total: all.length,
      share_links: page.map((l) => {
        const s = stored.get(l.id)
        const p = pending.get(l.id)
        const last = Math.max(s?.last_ms ?? -Infinity, p?.last_ms ?? -Infinity)
        return {
          id: l.id,
          kind: l.tenant_id === null ? 'incident' : 'tenant',
          incident_id: l.incident_id,
          tenant_id: l.tenant_id,
          created_at: iso(l.created_ms)!,
          expires_at: iso(l.expires_ms)!,
          revoked_at: iso(l.revoked_ms),
          status: linkStatus(l, nowMs),
          last_used_at: Number.isFinite(last) ? iso(last) : null,
          uses: (s?.uses ?? 0) + (p?.uses ?? 0),
        }
      }),
    }
  }

  /** Add the counted uses to ClickHouse. */
  flush(): Promise<void> {
    return this.exclusive(() => this.flushNow())
  }

  private async flushNow(): Promise<void> {
    if (this.pending.size === 0) return
    const batch = this.pending
    this.pending = new Map()
    const body = [...batch].map(([id, p]) => JSON.stringify({ id, uses: p.uses, last_used_at: formatRowTime(p.last_ms) })).join('\n') + '\n'
    try {
      await this.store.insert(`${this.store.db}.share_link_uses`, Buffer.from(body))
    } catch (err) {
      // Put them back: counted at the next flush.
      for (const [id, p] of batch) {
        const q = this.pending.get(id)
        this.pending.set(id, q ? { uses: q.uses + p.uses, last_ms: Math.max(q.last_ms, p.last_ms) } : p)
      }
      throw err
    }
  }

  /** Read links written since the last read (by this or another server). */
  async refresh(): Promise<void> {
    const rows = await this.store.rows<LinkRow>(
      `SELECT id, token_hash, incident_id, tenant_id, toUnixTimestamp64Milli(created_at) AS created_ms, toUnixTimestamp64Milli(expires_at) AS expires_ms,
              toUnixTimestamp64Milli(revoked_at) AS revoked_ms, version
       FROM ${this.store.db}.share_links WHERE version > {seen:UInt64} ORDER BY version`,
      { seen: this.seenVersion },
    )
    for (const r of rows) {
      this.remember({
        id: r.id,
        token_hash: r.token_hash,
        incident_id: r.incident_id,
        tenant_id: r.tenant_id,
        created_ms: Number(r.created_ms),
        expires_ms: Number(r.expires_ms),
        revoked_ms: r.revoked_ms === null ? null : Number(r.revoked_ms),
      })
      this.seenVersion = Math.max(this.seenVersion, Number(r.version))
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearInterval(t)
    await this.flush().catch((err) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'share links: use counts lost at close'))
  }

  private async write(links: ShareLink[]) {
    const rows = links.map((l) => ({
      id: l.id,
      token_hash: l.token_hash,
      incident_id: l.incident_id,
      tenant_id: l.tenant_id,
      created_at: formatRowTime(l.created_ms),
      expires_at: formatRowTime(l.expires_ms),
      revoked_at: l.revoked_ms === null ? null : formatRowTime(l.revoked_ms),
      version: nextVersion(),
    }))
    await this.store.insert(`${this.store.db}.share_links`, Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'))
    for (const l of links) this.remember(l)
  }

  private remember(link: ShareLink) {
    // A revoked link stays revoked, whatever order rows arrive in.
    const known = this.byId.get(link.id)
    const revoked = known?.revoked_ms ?? link.revoked_ms
    const kept = { ...link, revoked_ms: link.revoked_ms ?? revoked }
    this.byId.set(link.id, kept)
    this.byHash.set(link.token_hash, kept)
  }
}
