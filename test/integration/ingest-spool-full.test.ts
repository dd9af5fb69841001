import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StorageUnavailableError } from '../../server/errors.js'
import type { Store } from '../../server/storage/client.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

// Spool limit 0: when storage fails there is nowhere durable to put events → 503 + Retry-After.
let failing = true
const wrapStore = (store: Store): Store => ({
  ...store,
  async insertJsonEachRow(table, body) {
    if (failing) throw new StorageUnavailableError('injected: connection refused')
    await store.insertJsonEachRow(table, body)
  },
})

let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer(testConfig({ spoolMaxBytes: 0 }), { wrapStore })
})
afterAll(async () => srv?.stop())

const ev = (id: string) => ({ event_id: id, incident_id: 'inc-full', type: 'access_lost', occurred_at: '2022-04-05T07:38:00Z', tenant_id: 'acme' })
const post = (path: string, body: unknown, method = 'POST') =>
  srv.api(path, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })

describe('storage down and spool full', () => {
  it('answers 503 with Retry-After for events and keeps nothing; the resend succeeds once storage is back', async () => {
    const res = await post('/api/v1/events', [ev('f1'), ev('f2')])
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect(await res.json()).toEqual({ error: { code: 'spool_full', message: 'storage is unavailable and the local spool is full; retry later' } })
    expect((await (await srv.api('/readyz', { token: TOKENS.read })).json()).spool_events).toBe(0)

    const nd = await srv.api('/api/v1/events', {
      method: 'POST',
      body: Array.from({ length: 12_000 }, (_, i) => JSON.stringify(ev(`nd-${i}`))).join('\n'),
      headers: { 'content-type': 'application/x-ndjson' },
      token: TOKENS.ingest,
    })
    expect([nd.status, nd.headers.get('retry-after'), (await nd.json()).error.code]).toEqual([503, '5', 'spool_full'])

    failing = false
    const again = await post('/api/v1/events', [ev('f1'), ev('f2')])
    expect([again.status, await again.json()]).toEqual([200, { accepted: 2, rejected: 0, errors: [] }])
    expect(await srv.store.rows(`SELECT event_id FROM ${srv.store.db}.events FINAL ORDER BY event_id`)).toEqual([{ event_id: 'f1' }, { event_id: 'f2' }])
    failing = true
  })

  it('answers 503 with Retry-After, not 500, for tenants and incidents while storage is down', async () => {
    const t = await post('/api/v1/tenants', [{ tenant_id: 'acme' }])
    expect([t.status, t.headers.get('retry-after'), (await t.json()).error.code]).toEqual([503, '5', 'storage_unavailable'])
    const i = await post('/api/v1/incidents/inc-full', { title: 'x' }, 'PUT')
    expect([i.status, i.headers.get('retry-after'), (await i.json()).error.code]).toEqual([503, '5', 'storage_unavailable'])
  })
})
