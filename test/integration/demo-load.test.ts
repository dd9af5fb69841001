import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_LIVE_INCIDENT_ID, loadDemo, type DemoHandle } from '../../server/demo.js'
import { testConfig } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const count = async (srv: TestServer, incidentId: string) => {
  const [row] = await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM ${srv.store.db}.events FINAL WHERE incident_id = {id:String}`, { id: incidentId })
  return Number(row!.n)
}

describe('demo on an empty database', () => {
  let srv: TestServer
  let demo: DemoHandle | null
  let loadedAtMs: number
  beforeAll(async () => {
    // Only an ingest token configured: the demo must find it in the config.
    srv = await startTestServer(testConfig({}, { AFTERMATH_TOKENS: 'ingest:demo-ingest-token-0123456789abcdef0123,read:demo-read-token-0123456789abcdef0123', AFTERMATH_DEMO: '1' }))
    demo = await loadDemo(srv.config, srv, { liveSpeed: 600, liveTenants: 200, liveDurationMs: 6 * 3_600_000 })
    loadedAtMs = Date.now()
  })
  afterAll(async () => {
    demo?.stop()
    await srv?.stop()
  })

  it('loads the whole atlassian-2022 incident through the ingest API, marked resolved', async () => {
    expect(demo).not.toBeNull()
    expect(await count(srv, 'atlassian-2022-04')).toBe(7433)
    const [tenants] = await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM ${srv.store.db}.tenants FINAL WHERE startsWith(tenant_id, 'cust-')`)
    expect(Number(tenants!.n)).toBe(775)
    const incidents = await srv.store.rows<{ incident_id: string; title: string; status: string }>(
      `SELECT incident_id, title, status FROM ${srv.store.db}.incidents FINAL ORDER BY incident_id`,
    )
    expect(incidents).toContainEqual({ incident_id: 'atlassian-2022-04', title: 'Atlassian cloud sites deleted (April 2022)', status: 'resolved' })
  })

  it('starts a live incident, status ongoing, whose events arrive over time and are never in the future', async () => {
    const [meta] = await srv.store.rows<{ status: string }>(`SELECT status FROM ${srv.store.db}.incidents FINAL WHERE incident_id = {id:String}`, { id: DEMO_LIVE_INCIDENT_ID })
    expect(meta?.status).toBe('ongoing')
    // At 600× a 6 h incident plays in 36 s: after a few seconds some, not all, events are in.
    let n = 0
    for (let i = 0; i < 100 && n === 0; i++) {
      await new Promise((r) => setTimeout(r, 100))
      n = await count(srv, DEMO_LIVE_INCIDENT_ID)
    }
    await new Promise((r) => setTimeout(r, 2000))
    const later = await count(srv, DEMO_LIVE_INCIDENT_ID)
    expect(n).toBeGreaterThan(0)
    expect(later).toBeGreaterThan(n)
    expect(later).toBeLessThan(200 * 8 + 10)
    const [bounds] = await srv.store.rows<{ lo: string; hi: string; late: number }>(
      `SELECT toUnixTimestamp64Milli(min(occurred_at)) AS lo, toUnixTimestamp64Milli(max(occurred_at)) AS hi,
              countIf(occurred_at > received_at) AS late
       FROM ${srv.store.db}.events FINAL WHERE incident_id = {id:String}`,
      { id: DEMO_LIVE_INCIDENT_ID },
    )
    expect(Number(bounds!.lo)).toBeGreaterThan(loadedAtMs - 60_000)
    expect(Number(bounds!.hi)).toBeLessThanOrEqual(Date.now())
    expect(Number(bounds!.late)).toBe(0)
  })

  it('stops the live replay when the server closes', async () => {
    const settled = demo!.live.then(() => 'settled')
    const closeStartedMs = performance.now()
    await srv.close()
    // The replay would otherwise run for the rest of its 36 s.
    expect(performance.now() - closeStartedMs).toBeLessThan(5_000)
    const outcome = await Promise.race([settled, new Promise((r) => setTimeout(() => r('still running'), 2_000))])
    expect(outcome).toBe('settled')
  })
})
