import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

// Small limits so they can be provoked cheaply: 2 KiB JSON bodies, 1 request/s per token (burst 2).
let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer(testConfig({ maxJsonBytes: 2048, rateLimitRps: 1 }))
})
afterAll(async () => srv?.stop())

const ev = (id: string) => ({ event_id: id, incident_id: 'inc-limits', type: 'access_lost', occurred_at: '2022-04-05T07:38:00Z', tenant_id: 'acme' })
const post = (path: string, body: string, type: string, token: string) =>
  srv.api(path, { method: 'POST', body, headers: { 'content-type': type }, token })
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('ingest limits', () => {
  it('413 for a JSON body over maxJsonBytes, and for an atomic NDJSON body over it', async () => {
    const big = JSON.stringify(Array.from({ length: 40 }, (_, i) => ev(`big-${i}`)))
    expect(big.length).toBeGreaterThan(2048)
    const res = await post('/api/v1/events', big, 'application/json', TOKENS.admin)
    expect(res.status).toBe(413)
    expect((await res.json()).error).toEqual({ code: 'too_large', message: 'request body exceeds 2048 bytes; split it, or send NDJSON (application/x-ndjson), which is streamed' })

    await pause(2100) // the rate limit window
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify(ev(`nd-${i}`))).join('\n')
    const atomic = await post('/api/v1/events?atomic=true', lines, 'application/x-ndjson', TOKENS.admin)
    expect(atomic.status).toBe(413)
    expect((await atomic.json()).error.message).toMatch(/^NDJSON body exceeds 2048 bytes \(atomic=true requests are held in memory/)

    // Without atomic the same NDJSON body streams through.
    const streamed = await post('/api/v1/events', lines, 'application/x-ndjson', TOKENS.ingest)
    expect([streamed.status, await streamed.json()]).toEqual([200, { accepted: 40, rejected: 0, errors: [] }])
    const n = await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM ${srv.store.db}.events FINAL WHERE incident_id = 'inc-limits'`)
    expect(n).toEqual([{ n: 40 }])
  })

  it('429 with Retry-After once a token exceeds its rate, per token', async () => {
    await pause(2100)
    const statuses: number[] = []
    let limited: Response | null = null
    for (let i = 0; i < 4; i++) {
      const res = await post('/api/v1/events', JSON.stringify(ev(`rl-${i}`)), 'application/json', TOKENS.ingest)
      statuses.push(res.status)
      if (res.status === 429) limited = res
      else await res.body?.cancel()
    }
    expect(statuses).toEqual([200, 200, 429, 429]) // burst of 2 s worth at 1/s
    const body = await limited!.json()
    expect(body.error.code).toBe('rate_limited')
    const retryAfter = Number(limited!.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(2)
    // Another token has its own budget.
    const other = await post('/api/v1/events', JSON.stringify(ev('rl-admin')), 'application/json', TOKENS.admin)
    expect(other.status).toBe(200)
  })
})
