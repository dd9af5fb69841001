import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * Auth on every route of SPEC §4 (+ /readyz, /metrics), scope enforcement, security headers
 * and CSP on the dashboard, per-token rate limits on query routes.
 */
const clientDir = mkdtempSync(join(tmpdir(), 'aftermath-sec-client-'))
writeFileSync(join(clientDir, 'index.html'), '<!doctype html><title>Aftermath</title><script type="module" src="/main.js"></script>')
writeFileSync(join(clientDir, 'main.js'), 'console.log(1)')

let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer(testConfig({ queryRateLimitRps: 3 }), { clientDir })
  // One incident with a tenant, so every incident route has something to find when allowed.
  const ev = { event_id: 'sec-1', incident_id: 'inc-sec', type: 'access_lost', occurred_at: '2022-04-05T07:38:00Z', tenant_id: 'acme' }
  const res = await srv.api('/api/v1/events', { method: 'POST', body: JSON.stringify(ev), headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
  expect(res.status).toBe(200)
})
afterAll(async () => {
  await srv?.stop()
  rmSync(clientDir, { recursive: true, force: true })
})

type Route = { method: 'GET' | 'POST' | 'PUT'; path: string; scope: 'read' | 'ingest'; body?: string; type?: string }
const event = JSON.stringify({ event_id: 'sec-2', incident_id: 'inc-sec', type: 'access_restored', occurred_at: '2022-04-05T09:00:00Z', tenant_id: 'acme' })
const ROUTES: Route[] = [
  { method: 'POST', path: '/api/v1/events', scope: 'ingest', body: event, type: 'application/json' },
  { method: 'POST', path: '/api/v1/events', scope: 'ingest', body: event, type: 'application/x-ndjson' },
  { method: 'POST', path: '/api/v1/tenants', scope: 'ingest', body: JSON.stringify([{ tenant_id: 'acme', name: 'Acme' }]), type: 'application/json' },
  { method: 'PUT', path: '/api/v1/incidents/inc-sec', scope: 'ingest', body: JSON.stringify({ title: 'Security test' }), type: 'application/json' },
  { method: 'GET', path: '/api/v1/incidents', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/summary', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/recovery', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/communications', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/tenants', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/tenants/acme/timeline', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/downtime-histogram', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/tenants.csv', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/report.md', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/overdue', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/overdue.csv', scope: 'read' },
  { method: 'GET', path: '/api/v1/whoami', scope: 'read' },
  { method: 'GET', path: '/api/v1/incidents/inc-sec/stream', scope: 'read' },
  { method: 'GET', path: '/readyz', scope: 'read' },
  { method: 'GET', path: '/metrics', scope: 'read' },
]
const label = (r: Route) => `${r.method} ${r.path}${r.type ? ` (${r.type})` : ''}`
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Call a route with raw headers; the SSE stream is read only up to its status. */
async function call(r: Route, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Headers }> {
  const controller = new AbortController()
  const res = await fetch(srv.url + r.path, {
    method: r.method,
    body: r.body,
    headers: { ...(r.type ? { 'content-type': r.type } : {}), ...headers },
    signal: controller.signal,
  })
  const body = r.path.endsWith('/stream') && res.status === 200 ? '' : await res.text()
  controller.abort()
  return { status: res.status, body, headers: res.headers }
}

describe('every route but /healthz demands a token', () => {
  it.each(ROUTES.map((r) => [label(r), r] as const))('%s: 401 without a token, and with a malformed or unknown one', async (_l, r) => {
    for (const headers of <Record<string, string>[]>[
      {},
      { authorization: 'Bearer' },
      { authorization: `Basic ${Buffer.from(`x:${TOKENS.admin}`).toString('base64')}` },
      { authorization: `Bearer ${TOKENS.admin}x` },
      { authorization: `Bearer ${TOKENS.admin.slice(0, -1)}` },
      { authorization: 'Bearer ' + 'a'.repeat(4000) },
    ]) {
      const res = await call(r, headers)
      expect([res.status, JSON.parse(res.body).error.code], JSON.stringify(headers).slice(0, 80)).toEqual([401, 'unauthorized'])
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
    }
  })

  it.each(ROUTES.map((r) => [label(r), r] as const))('%s: 403 with the other scope, allowed with its own scope and with admin', async (_l, r) => {
    const other = r.scope === 'read' ? TOKENS.ingest : TOKENS.read
    const denied = await call(r, { authorization: `Bearer ${other}` })
    expect(denied.status).toBe(403)
    expect(JSON.parse(denied.body).error).toEqual({ code: 'forbidden', message: `this token has scope "${r.scope === 'read' ? 'ingest' : 'read'}"; this endpoint needs "${r.scope}"` })
    for (const token of [TOKENS[r.scope], TOKENS.admin]) {
      await pause(r.scope === 'read' ? 700 : 0) // stay under the small query rate limit of this file
      const ok = await call(r, { authorization: `Bearer ${token}` })
      expect(ok.status, ok.body.slice(0, 200)).toBe(200)
    }
  })

  it('/healthz answers without a token', async () => {
    const res = await fetch(srv.url + '/healthz')
    expect([res.status, await res.json()]).toEqual([200, { status: 'ok' }])
  })

  it('a query string token is not a credential', async () => {
    const res = await fetch(`${srv.url}/api/v1/incidents?token=${TOKENS.admin}&access_token=${TOKENS.admin}`)
    expect(res.status).toBe(401)
  })

  it('an unknown API path without a token is 401 or 404, never data', async () => {
    const res = await fetch(srv.url + '/api/v1/nope')
    expect([401, 404]).toContain(res.status)
    expect((await res.json()).error).toBeDefined()
  })
})

describe('per-token rate limit on query routes', () => {
  it('429 with Retry-After once a read token exceeds its query rate; another token is not affected', async () => {
    await pause(2100)
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 10; i++) {
      const res = await srv.api('/api/v1/incidents', { token: TOKENS.read })
      statuses.push(res.status)
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after')
        expect((await res.json()).error.code).toBe('rate_limited')
      } else await res.body?.cancel()
    }
    // 3 rps over a 2 s window: a burst of 6 passes, the rest are refused.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429])
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
    const admin = await srv.api('/api/v1/incidents', { token: TOKENS.admin })
    expect(admin.status).toBe(200)
    // Ingest has its own budget: the read token's exhaustion does not touch it.
    const ingest = await srv.api('/api/v1/events', { method: 'POST', body: event, headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
    expect(ingest.status).toBe(200)
  })
})

describe('security headers', () => {
  it('the dashboard is served with a strict Content-Security-Policy and hardening headers', async () => {
    const res = await fetch(srv.url + '/')
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('<title>Aftermath</title>')
    const csp = res.headers.get('content-security-policy')!
    const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(' ')]))
    expect(directives).toEqual({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'img-src': "'self' data: blob:",
      'connect-src': "'self'",
      'font-src': "'self'",
      'object-src': "'none'",
      'base-uri': "'none'",
      'frame-ancestors': "'none'",
      'form-action': "'none'",
    })
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN')
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/)
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin')
    expect(res.headers.get('x-powered-by')).toBeNull()
  })

  it('API answers carry the same headers, and errors have no stack', async () => {
    const res = await srv.api('/api/v1/incidents/inc-sec/summary?as_of=not-a-time', { token: TOKENS.admin })
    expect(res.status).toBe(400)
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const text = await res.text()
    expect(text).not.toMatch(/\bat \S+ \(|node_modules|\.ts:\d+/)
  })
})
