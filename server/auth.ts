import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import type { Request, RequestHandler, Response } from 'express'
import type { Config, Scope } from './config.js'
import { HttpError } from './errors.js'
import { linkStatus, type ShareLink } from './sharing/links.js'

export type TokenEntry = { scope: Scope; token: string }

/** Who a request's token is: a configured token's scope, or a share link (SPEC §8). */
export type Principal = { kind: 'token'; scope: Scope } | { kind: 'link'; link: ShareLink }

/** Share links as auth sees them (sharing/links.ts). */
export interface LinkResolver {
  resolve(token: string): ShareLink | undefined
  recordUse(id: string, nowMs: number): void
}

export interface Auth {
  /** The scope of a presented token, or null. Constant time in the token's content. */
  scopeOf(token: string): Scope | null
  /**
   * Express middleware: 401 without a valid token, 403 when its scope is not enough. An
   * incident link passes `read` only on a route whose `:id` is its incident.
   */
  require(scope: Scope): RequestHandler
  /** Any valid token or link (res.locals.principal says which); for /whoami. */
  identify(): RequestHandler
  /** Only a tenant link (the customer status): every other token gets 403. */
  requireTenantLink(): RequestHandler
}

/** Where the generated admin token is kept. */
export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token')

/**
 * The configured tokens, or the generated admin token kept in the data directory (mode 0600).
 * `created` is true only on the start that created it: the login link is printed then, not at
 * every start (service logs keep what is printed); `npm run cli -- login-link` prints it again.
 */
export function loadTokens(config: Config): { tokens: TokenEntry[]; generated: string | null; created: boolean } {
  if (config.tokens) return { tokens: config.tokens, generated: null, created: false }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const file = adminTokenFile(config.dataDir)
  let token: string
  let created = false
  if (existsSync(file)) {
    token = readFileSync(file, 'utf8').trim()
    chmodSync(file, 0o600)
  } else {
    token = randomBytes(24).toString('base64url')
    writeFileSync(file, token + '\n', { mode: 0o600 })
    created = true
  }
  return { tokens: [{ scope: 'admin', token }], generated: token, created }
}

const digest = (s: string) => createHash('sha256').update(s).digest()

/**
 * Failed authentications per client address, as a token bucket: `perMin` failures in a burst,
 * refilled at `perMin` a minute. An address that has used them up gets 429 + Retry-After for
 * every request with a token until it refills (checked before the token, so guessing stops).
 */
class FailureThrottle {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>()
  constructor(private readonly perMin: number) {}

  /** Seconds until this address may try again, or 0. */
  blockedFor(address: string, nowMs: number): number {
    const b = this.refilled(address, nowMs)
    return b && b.tokens < 1 ? Math.ceil(((1 - b.tokens) * 60) / this.perMin) : 0
  }

  fail(address: string, nowMs: number) {
    const b = this.refilled(address, nowMs) ?? { tokens: this.perMin, atMs: nowMs }
    b.tokens -= 1
    this.buckets.delete(address)
    this.buckets.set(address, b)
    // Bounded memory under a spray of addresses: the least recently failing are forgotten.
    while (this.buckets.size > MAX_THROTTLED_ADDRESSES) this.buckets.delete(this.buckets.keys().next().value!)
  }

  private refilled(address: string, nowMs: number) {
    const b = this.buckets.get(address)
    if (!b) return undefined
    b.tokens = Math.min(this.perMin, b.tokens + ((nowMs - b.atMs) / 60_000) * this.perMin)
    b.atMs = nowMs
    if (b.tokens >= this.perMin) this.buckets.delete(address)
    return b
  }
}
const MAX_THROTTLED_ADDRESSES = 100_000

export function createAuth(tokens: TokenEntry[], opts: { failuresPerMin?: number; links?: LinkResolver; now?: () => number } = {}): Auth {
  const throttle = opts.failuresPerMin ? new FailureThrottle(opts.failuresPerMin) : null
  const now = opts.now ?? Date.now
  // Compare fixed-length digests with timingSafeEqual, and always against every token, so
  // neither the content nor the position of a match leaks through timing.
  const entries = tokens.map((t) => ({ scope: t.scope, hash: digest(t.token) }))
  const scopeOf = (token: string): Scope | null => {
    const h = digest(token)
    let found: Scope | null = null
    for (const e of entries) if (timingSafeEqual(h, e.hash) && found === null) found = e.scope
    return found
  }

  /** The principal of a request, stored in res.locals; throws 401/429. */
  const identify = (req: Request, res: Response): Principal => {
    const address = req.socket.remoteAddress ?? ''
    const wallMs = Date.now()
    const wait = throttle?.blockedFor(address, wallMs) ?? 0
    if (wait > 0) throw new HttpError(429, 'too_many_failed_auth', `too many failed authentications from this address; retry in ${wait} s`, { 'Retry-After': String(wait) })
    const header = req.get('authorization') ?? ''
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!match) {
      throttle?.fail(address, wallMs)
      throw new HttpError(401, 'unauthorized', 'missing bearer token: send Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' })
    }
    const token = match[1]!
    const scope = scopeOf(token)
    let principal: Principal
    if (scope) {
      principal = { kind: 'token', scope }
      res.locals.tokenKey = digest(token).toString('hex').slice(0, 16)
    } else {
      const link = opts.links?.resolve(token)
      if (!link) {
        throttle?.fail(address, wallMs)
        throw new HttpError(401, 'unauthorized', 'invalid token', { 'WWW-Authenticate': 'Bearer error="invalid_token"' })
      }
      // A known link that no longer works is not a guess: it does not count against the address.
      const status = linkStatus(link, now())
      if (status === 'revoked') throw new HttpError(401, 'link_revoked', 'this link was revoked; ask for a new one', { 'WWW-Authenticate': 'Bearer error="invalid_token"' })
      if (status === 'expired') throw new HttpError(401, 'link_expired', 'this link has expired; ask for a new one', { 'WWW-Authenticate': 'Bearer error="invalid_token"' })
      principal = { kind: 'link', link }
      res.locals.tokenKey = link.id
    }
    res.locals.principal = principal
    return principal
  }
  /** Count a link's use once it is allowed through. */
  const used = (p: Principal) => {
    if (p.kind === 'link') opts.links?.recordUse(p.link.id, now())
  }

  return {
    scopeOf,
    require(scope) {
      return (req, res, next) => {
        const p = identify(req, res)
        if (p.kind === 'token') {
          if (p.scope !== 'admin' && p.scope !== scope) throw new HttpError(403, 'forbidden', `this token has scope "${p.scope}"; this endpoint needs "${scope}"`)
        } else {
          const { link } = p
          if (link.tenant_id !== null) throw new HttpError(403, 'forbidden', 'this is a customer status link: it reads only GET /api/v1/status')
          if (scope !== 'read' || req.params.id !== link.incident_id) throw new HttpError(403, 'forbidden', `this share link reads only the views of incident "${link.incident_id}"`)
        }
        used(p)
        next()
      }
    },
    identify() {
      return (req, res, next) => {
        used(identify(req, res))
        next()
      }
    },
    requireTenantLink() {
      return (req, res, next) => {
        const p = identify(req, res)
        if (p.kind !== 'link' || p.link.tenant_id === null) throw new HttpError(403, 'forbidden', 'only a customer status link (a share link for one tenant) reads this')
        used(p)
        next()
      }
    },
  }
}
