import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('server boot on embedded ClickHouse', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startTestServer()
  })
  afterAll(async () => srv?.stop())

  it('answers /healthz without a token', async () => {
    const res = await fetch(srv.url + '/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok' })
  })

  it('reports storage ready on /readyz with a read token', async () => {
    const res = await srv.api('/readyz')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ready', storage: 'ok', spool_events: 0, spool_quarantined: 0, queries: expect.objectContaining({ running: expect.objectContaining({ cheap: 0, heavy: 0 }), heavy_requests: 0 }) })
  })

  it('creates the schema tables', async () => {
    const rows = await srv.store.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name`, {
      db: srv.store.db,
    })
    expect(rows.map((r) => r.name)).toEqual([
      'cards',
      'events',
      'grafana_access_intervals',
      'grafana_affected_tenants',
      'grafana_communications',
      'grafana_events',
      'grafana_incidents',
      'grafana_milestones',
      'grafana_tenant_figures',
      'grafana_tenants',
      'incidents',
      'leases',
      'schema_migrations',
      'share_link_uses',
      'share_links',
      'state_sync',
      'tenant_card_writer',
      'tenant_meta_writer',
      'tenant_state',
      'tenant_state_input',
      'tenant_state_writer',
      'tenants',
      'webhook_deliveries',
      'webhooks',
    ])
  })

  it('answers unknown API paths with a JSON 404', async () => {
    const res = await srv.api('/api/v1/nope')
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no such API endpoint' } })
  })
})
