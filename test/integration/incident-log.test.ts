import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventRow } from '../../server/ingest/types.js'
import { createScenario } from '../../server/scenarios/index.js'
import { event, insertEvents, insertTenants } from '../helpers/factories.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * The incident log (server/metrics/incident-log.ts) serves the default view's series and summary
 * counts from memory; the same requests with it off are computed in ClickHouse, which the
 * property tests check against the reference. Here both ways must give the same answers for a
 * few hundred tenants at many moments and bucket widths, with events placed exactly on bucket
 * ends, at as_of itself and a millisecond either side of it.
 */
const INCIDENT = 'log-eq'
const MIN = 60_000
const H = 60 * MIN
const START = Date.parse('2022-04-05T07:00:00Z')

let srv: TestServer
let asOfs: number[]

beforeAll(async () => {
  srv = await startTestServer()
  const scenario = createScenario('synthetic', { seed: 3, incidentId: INCIDENT, tenants: 300, startMs: START, durationMs: 3 * 24 * H })
  const events: EventRow[] = [...scenario.events()].map((e) =>
    event(e.type, Date.parse(e.occurred_at), {
      event_id: e.event_id,
      incident_id: e.incident_id,
      tenant_id: e.tenant_id ?? '',
      progress: e.progress ?? null,
      channel: e.type === 'communication' ? (e.channel ?? 'other') : '',
      label: e.label ?? '',
    }),
  )
  // Changes exactly on 5-minute and hour boundaries, and around the moments asked for below.
  asOfs = [START + 7 * H, START + 26 * H + 1, START + 40 * H, START + 71 * H - 1, START + 5 * 24 * H]
  let n = 0
  const at = (tenant: string, type: EventRow['type'], ms: number) => events.push(event(type, ms, { incident_id: INCIDENT, tenant_id: tenant, event_id: `edge-${n++}` }))
  for (let i = 0; i < 20; i++) {
    const t = `edge-${i}`
    at(t, 'access_lost', START + (i + 1) * 5 * MIN)
    at(t, 'communication', START + 2 * H + i * H)
    at(t, 'restore_started', START + 3 * H)
    at(t, 'access_restored', asOfs[i % asOfs.length]! + ((i % 3) - 1))
  }
  events.push(event('communication', START + 10 * H, { incident_id: INCIDENT, event_id: 'edge-broadcast' }))
  await insertEvents(srv.store, events, 500)
  await insertTenants(srv.store, [...scenario.tenants()].map((t) => ({ tenant_id: t.tenant_id, name: t.name, attributes: t.attributes })))
})
afterAll(async () => srv?.stop())

async function both(path: string): Promise<[unknown, unknown]> {
  const get = async () => {
    const res = await srv.api(path)
    expect(res.status, path).toBe(200)
    return res.json()
  }
  srv.config.incidentLog = 'off'
  const sql = await get()
  srv.config.incidentLog = 'always'
  const log = await get()
  return [log, sql]
}

describe('incident log', () => {
  it('series and summary from the log equal those computed in ClickHouse', async () => {
    const base = `/api/v1/incidents/${INCIDENT}`
    for (const asOfMs of asOfs) {
      const asOf = `as_of=${new Date(asOfMs).toISOString()}`
      // The default window (the incident's first event on), and one of the last 30 h (≤ 2,000 points at 1m).
      const windows = ['', `&from=${new Date(Math.max(START + 3 * H, asOfMs - 30 * H)).toISOString()}`]
      for (const bucket of ['1m', '5m', '17m', '1h', 'auto']) {
        for (const from of bucket === '1m' ? windows.slice(1) : windows) {
          const [rl, rs] = await both(`${base}/recovery?${asOf}&bucket=${bucket}${from}`)
          expect(rl, `recovery ${asOf} ${bucket}${from}`).toEqual(rs)
          const [cl, cs] = await both(`${base}/communications?${asOf}&bucket=${bucket}${from}`)
          expect(cl, `communications ${asOf} ${bucket}${from}`).toEqual(cs)
        }
      }
      const [sl, ss] = await both(`${base}/summary?${asOf}`)
      expect(sl, `summary ${asOf}`).toEqual(ss)
    }
  })

  it('reflects events that arrive after it was built', async () => {
    const base = `/api/v1/incidents/${INCIDENT}`
    const asOf = `as_of=${new Date(START + 5 * 24 * H).toISOString()}`
    const before = (await both(`${base}/summary?${asOf}`))[0] as { affected: number }
    await insertEvents(srv.store, [event('access_lost', START + H, { incident_id: INCIDENT, tenant_id: 'late-tenant', event_id: 'late-1' })])
    const [log, sql] = (await both(`${base}/summary?${asOf}`)) as [{ affected: number }, { affected: number }]
    expect(log).toEqual(sql)
    expect(log.affected).toBe(before.affected + 1)
  })
})
