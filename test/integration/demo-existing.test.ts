import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadDemo } from '../../server/demo.js'
import { testConfig } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('demo on a database that already has events', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startTestServer(testConfig({}, { AFTERMATH_DEMO: '1' }))
  })
  afterAll(async () => srv?.stop())

  it('loads nothing and leaves the existing incident alone', async () => {
    const res = await srv.api('/api/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_id: 'e1', incident_id: 'mine', type: 'access_lost', tenant_id: 'a', occurred_at: '2024-01-01T00:00:00.000Z' }),
    })
    expect(res.status).toBe(200)
    expect(await loadDemo(srv.config, srv)).toBeNull()
    const rows = await srv.store.rows<{ incident_id: string; n: number }>(`SELECT incident_id, count() AS n FROM ${srv.store.db}.events FINAL GROUP BY incident_id`)
    expect(rows.map((r) => ({ incident_id: r.incident_id, n: Number(r.n) }))).toEqual([{ incident_id: 'mine', n: 1 }])
    const [incidents] = await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM ${srv.store.db}.incidents FINAL`)
    const [tenants] = await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM ${srv.store.db}.tenants FINAL`)
    expect([Number(incidents!.n), Number(tenants!.n)]).toEqual([0, 0])
  })
})
