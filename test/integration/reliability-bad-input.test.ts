import { request } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BAD_REQUESTS, CORPUS_LIMITS, INCIDENT, NOW_MS, type BadRequest } from '../helpers/bad-requests.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * The bad-input corpus (test/helpers/bad-requests.ts) against the real server: no 5xx, no
 * hang, a JSON error that says what is wrong (and, per event, where), and the valid events
 * sent alongside the bad ones are stored.
 */
const SLOW_BODY_IDLE_MS = 1000
let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer(testConfig({ ...CORPUS_LIMITS, rateLimitRps: 0, queryRateLimitRps: 0, bodyIdleTimeoutMs: SLOW_BODY_IDLE_MS }), { now: () => new Date(NOW_MS) })
})
afterAll(async () => srv?.stop())

interface Answer {
  status: number
  type: string
  text: string
}

/** Send with node:http so an early answer (413 while the body is still going out) is still read. */
function send(c: BadRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(srv.url + c.path)
    const headers: Record<string, string> = { ...c.headers, authorization: `Bearer ${c.method === 'GET' ? TOKENS.read : TOKENS.ingest}` }
    if (c.body) headers['content-length'] = String(c.body.length)
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: c.method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')))
    req.on('error', (err) => {
      // The server may close the connection after answering early; the answer is what counts.
      if (!('code' in err && (err.code === 'EPIPE' || err.code === 'ECONNRESET'))) reject(err)
    })
    req.end(c.body)
  })
}

const sentIds = new Set<string>()

describe('bad input corpus', () => {
  it(`has at least 200 cases (${BAD_REQUESTS.length})`, () => {
    expect(BAD_REQUESTS.length).toBeGreaterThanOrEqual(200)
    expect(new Set(BAD_REQUESTS.map((c) => c.name)).size).toBe(BAD_REQUESTS.length)
  })

  it.each(BAD_REQUESTS.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await send(c)
    for (const id of c.kept) sentIds.add(id)
    expect(res.status, res.text.slice(0, 300)).toBeLessThan(500)
    expect(res.status, res.text.slice(0, 300)).toBe(c.expect.status)
    expect(res.type).toMatch(/^application\/json/)
    const body = JSON.parse(res.text)
    expect(res.text).not.toMatch(/\n\s+at |node_modules/) // no stack trace
    if (res.status !== 200) {
      expect(typeof body.error?.code).toBe('string')
      expect(body.error.message.length).toBeGreaterThan(5)
      if (c.expect.code) expect(body.error.code).toBe(c.expect.code)
      if (c.expect.message) expect(body.error.message).toMatch(c.expect.message)
      return
    }
    if (!('accepted' in body)) return // PUT /incidents answers with the incident
    if (c.expect.accepted !== undefined) expect(body.accepted).toBe(c.expect.accepted)
    if (c.expect.rejected !== undefined) expect(body.rejected).toBe(c.expect.rejected)
    expect(body.errors.length).toBeLessThanOrEqual(100)
    if (body.rejected > 0) expect(body.errors.length).toBeGreaterThan(0)
    if (c.expect.errorAt) {
      const first = body.errors[0]
      expect({ index: first.index, field: first.field }).toEqual(c.expect.errorAt)
      expect(first.message.length).toBeGreaterThan(5)
      if (c.expect.message) expect(first.message).toMatch(c.expect.message)
    }
  })

  it('stored exactly the valid events sent alongside the bad ones, and none of the bad ones', async () => {
    const rows = await srv.store.rows<{ event_id: string }>(`SELECT event_id FROM ${srv.store.db}.events FINAL WHERE incident_id = {i:String}`, { i: INCIDENT })
    const stored = new Set(rows.map((r) => r.event_id).filter((id) => id !== 'over-limit'))
    expect(sentIds.size).toBeGreaterThan(150)
    expect([...sentIds].filter((id) => !stored.has(id))).toEqual([])
    expect([...stored].filter((id) => id.includes('-bad'))).toEqual([])
    expect(stored.size).toBe(sentIds.size)
  })

  it('the server is still healthy afterwards', async () => {
    const res = await fetch(srv.url + '/healthz')
    expect(res.status).toBe(200)
  })
})

/**
 * A raw HTTP/1.1 request whose body parts go out with pauses between them; resolves with the
 * status line and body once the server answers and closes, and when that happened.
 */
function trickle(path: string, type: string, parts: string[], pauseMs: number, declaredLength: number): Promise<{ status: number; body: string; ms: number }> {
  const url = new URL(srv.url)
  const start = performance.now()
  return new Promise((resolve, reject) => {
    const sock = connect(Number(url.port), url.hostname)
    let out = ''
    let i = 0
    let timer: NodeJS.Timeout | undefined
    sock.setTimeout(30_000, () => {
      sock.destroy()
      reject(new Error(`no answer within 30 s: ${out}`))
    })
    sock.on('data', (d) => (out += d.toString()))
    sock.on('error', () => {})
    sock.on('close', () => {
      clearTimeout(timer)
      const m = /^HTTP\/1\.1 (\d{3})/.exec(out)
      resolve({ status: m ? Number(m[1]) : 0, body: out.slice(out.indexOf('\r\n\r\n') + 4), ms: performance.now() - start })
    })
    sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.ingest}\r\nContent-Type: ${type}\r\nContent-Length: ${declaredLength}\r\nConnection: close\r\n\r\n`)
    const next = () => {
      if (i < parts.length) sock.write(parts[i++]!)
      if (i < parts.length) timer = setTimeout(next, pauseMs)
    }
    next()
  })
}

describe('slow bodies', () => {
  const line = (id: string) => JSON.stringify({ event_id: id, incident_id: 'inc-slow', type: 'access_lost', occurred_at: '2025-12-31T23:00:00Z', tenant_id: 'acme' })

  it('a JSON body that stops sending is cut with 408 after the idle timeout, and the server keeps serving others meanwhile', async () => {
    const body = JSON.stringify([JSON.parse(line('slow-json-1'))])
    const pending = trickle('/api/v1/events', 'application/json', [body.slice(0, 20)], 0, body.length)
    const other = await srv.api('/api/v1/events', { method: 'POST', body, headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
    expect(other.status).toBe(200)
    const res = await pending
    expect(res.status).toBe(408)
    expect(JSON.parse(res.body).error).toEqual({ code: 'body_timeout', message: 'no request body bytes for 1 s; the upload was cut: resend it (resent events are deduplicated)' })
    expect(res.ms).toBeGreaterThanOrEqual(SLOW_BODY_IDLE_MS - 50)
    expect(res.ms).toBeLessThan(SLOW_BODY_IDLE_MS + 5000)
  })

  it('an NDJSON upload that goes silent mid-line is cut with 408', async () => {
    const text = line('slow-nd-1') + '\n' + line('slow-nd-2').slice(0, 30)
    const res = await trickle('/api/v1/events', 'application/x-ndjson', [text], 0, text.length + 1000)
    expect(res.status).toBe(408)
    expect(JSON.parse(res.body).error.code).toBe('body_timeout')
  })

  it('a tenants upload that goes silent is cut with 408', async () => {
    const res = await trickle('/api/v1/tenants', 'application/x-ndjson', ['{"tenant_id":'], 0, 100)
    expect(res.status).toBe(408)
  })

  it('a slow body that keeps sending (a byte group every 300 ms, under the idle timeout) is not cut', async () => {
    const text = [line('slow-ok-1'), line('slow-ok-2'), line('slow-ok-3')].join('\n') + '\n'
    const parts = Array.from({ length: 8 }, (_, i) => text.slice((i * text.length) / 8, ((i + 1) * text.length) / 8))
    const res = await trickle('/api/v1/events', 'application/x-ndjson', parts, 300, text.length)
    expect([res.status, JSON.parse(res.body)]).toEqual([200, { accepted: 3, rejected: 0, errors: [] }])
    expect(res.ms).toBeGreaterThan(SLOW_BODY_IDLE_MS + 500) // it did take longer than one idle period
  })
})
