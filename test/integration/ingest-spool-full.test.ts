import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StorageUnavailableError } from '../../server/errors.js'
import type { Store } from '../../server/storage/client.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

// A spool of 8 KiB: while storage fails, events are acknowledged into it until it is full, then
// 503 + Retry-After and nothing of the refused request is kept.
let failing = true
const wrapStore = (store: Store): Store => ({
  ...store,
  async insert(table, body, format) {
    if (failing) throw new StorageUnavailableError('injected: connection refused')
    await store.insert(table, body, format)
  },
})

let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer(testConfig({ spoolMaxBytes: 8192 }), { wrapStore })
})
afterAll(async () => srv?.stop())

const ev = (id: string) => ({ event_id: id, incident_id: 'inc-full', type: 'access_lost', occurred_at: '2022-04-05T07:38:00Z', tenant_id: 'acme' })
const post = (path: string, body: unknown, method = 'POST') =>
  srv.api(path, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
async function waitFor(cond: () => Promise<boolean>, timeoutMs = 30_000) {
  const start = performance.now()
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 50))
  }
}
const spoolEvents = async () => (await (await srv.api('/readyz', { token: TOKENS.read })).json()).spool_events

describe('storage down and spool full', () => {
  it('answers 503 with Retry-After once the spool is full and keeps nothing of that request; the resend succeeds once storage is back', async () => {
    const acked: string[] = []
    let refused: { status: number; retryAfter: string | null; body: unknown } | null = null
    for (let i = 0; i < 200 && !refused; i++) {
      const batch = [ev(`f${2 * i}`), ev(`f${2 * i + 1}`)]
      const res = await post('/api/v1/events', batch)
      if (res.status === 200) acked.push(...batch.map((e) => e.event_id))
      else refused = { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }
    }
    expect(refused).toEqual({ status: 503, retryAfter: '5', body: { error: { code: 'spool_full', message: 'storage is unavailable and the local spool is full; retry later' } } })
    expect(acked.length).toBeGreaterThan(0)
    expect(await spoolEvents()).toBe(acked.length)

    const nd = await srv.api('/api/v1/events', {
      method: 'POST',
      body: Array.from({ length: 12_000 }, (_, i) => JSON.stringify(ev(`nd-${i}`))).join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
      token: TOKENS.ingest,
    })
    expect([nd.status, nd.headers.get('retry-after'), (await nd.json()).error.code]).toEqual([503, '5', 'spool_full'])
    expect(await spoolEvents()).toBe(acked.length)

    failing = false
    await waitFor(async () => (await spoolEvents()) === 0)
    const resend = [ev('r1'), ev('r2')]
    const again = await post('/api/v1/events', resend)
    expect([again.status, await again.json()]).toEqual([200, { accepted: 2, rejected: 0, errors: [] }])
    const stored = (await srv.store.rows<{ event_id: string }>(`SELECT event_id FROM ${srv.store.db}.events FINAL`)).map((r) => r.event_id).sort()
    expect(stored).toEqual([...acked, 'r1', 'r2'].sort())
  })

  it('answers 503 with Retry-After, not 500, for tenants and incidents while storage is down', async () => {
    failing = true
    const t = await post('/api/v1/tenants', [{ tenant_id: 'acme' }])
    expect([t.status, t.headers.get('retry-after'), (await t.json()).error.code]).toEqual([503, '5', 'storage_unavailable'])
    const i = await post('/api/v1/incidents/inc-full', { title: 'x' }, 'PUT')
    expect([i.status, i.headers.get('retry-after'), (await i.json()).error.code]).toEqual([503, '5', 'storage_unavailable'])
  })
})
