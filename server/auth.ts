import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import type { RequestHandler } from 'express'
import type { Config, Scope } from './config.js'
import { HttpError } from './errors.js'

export type TokenEntry = { scope: Scope; token: string }

export interface Auth {
  /** The scope of a presented token, or null. Constant time in the token's content. */
  scopeOf(token: string): Scope | null
  /** Express middleware: 401 without a valid token, 403 when its scope is not enough. */
  require(scope: Exclude<Scope, 'admin'>): RequestHandler
}

/** The configured tokens, or the generated admin token kept in the data directory (mode 0600). */
export function loadTokens(config: Config): { tokens: TokenEntry[]; generated: string | null } {
  if (config.tokens) return { tokens: config.tokens, generated: null }
  mkdirSync(config.dataDir, { recursive: true })
  const file = join(config.dataDir, 'admin-token')
  let token: string
  if (existsSync(file)) {
    token = readFileSync(file, 'utf8').trim()
    chmodSync(file, 0o600)
  } else {
    token = randomBytes(24).toString('base64url')
    writeFileSync(file, token + '\n', { mode: 0o600 })
  }
  return { tokens: [{ scope: 'admin', token }], generated: token }
}

const digest = (s: string) => createHash('sha256').update(s).digest()

export function createAuth(tokens: TokenEntry[]): Auth {
  // Compare fixed-length digests with timingSafeEqual, and always against every token, so
  // neither the content nor the position of a match leaks through timing.
  const entries = tokens.map((t) => ({ scope: t.scope, hash: digest(t.token) }))
  const scopeOf = (token: string): Scope | null => {
    const h = digest(token)
    let found: Scope | null = null
    for (const e of entries) if (timingSafeEqual(h, e.hash) && found === null) found = e.scope
    return found
  }
  return {
    scopeOf,
    require(scope) {
      return (req, res, next) => {
        const header = req.get('authorization') ?? ''
        const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
        if (!match) throw new HttpError(401, 'unauthorized', 'missing bearer token: send Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' })
        const has = scopeOf(match[1]!)
        if (!has) throw new HttpError(401, 'unauthorized', 'invalid token', { 'WWW-Authenticate': 'Bearer error="invalid_token"' })
        if (has !== 'admin' && has !== scope) throw new HttpError(403, 'forbidden', `this token has scope "${has}"; this endpoint needs "${scope}"`)
        res.locals.tokenKey = digest(match[1]!).toString('hex').slice(0, 16)
        next()
      }
    },
  }
}
