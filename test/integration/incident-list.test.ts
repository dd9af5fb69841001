import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/** GET /incidents: a re-sent event never moves a figure, first and last event times included (SPEC §2). */
describe('incident list', () => {
  let srv: TestServer
  const send = async (events: object[]) => {
    const res = await srv.api('/api/v1/events?atomic=true', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) })
    expect(res.status).toBe(200)
  }
  const list = async (q = '') => ((await (await srv.api(`/api/v1/incidents${q}`)).json()) as { incidents: { incident_id: string; first_event_at: string; last_event_at: string; affected: number }[] }).incidents
  beforeAll(async () => {
    srv = await startTestServer()
  })
  afterAll(async () => {
    await srv.stop()
  })

  it('first and last event times come from the first accepted copy of each event', async () => {
    const ev = (id: string, at: string, tenant = 't1') => ({ event_id: id, incident_id: 'list-1', type: 'access_lost', occurred_at: at, tenant_id: tenant })
    await send([ev('a', '2022-04-05T08:00:00.000Z'), ev('b', '2022-04-05T10:00:00.000Z', 't2')])
    const before = await list()
    expect(before.map((i) => [i.incident_id, i.first_event_at, i.last_event_at, i.affected])).toEqual([['list-1', '2022-04-05T08:00:00.000Z', '2022-04-05T10:00:00.000Z', 2]])
    // The same ids again, one earlier and one later: later copies change nothing.
    await send([ev('a', '2022-04-01T00:00:00.000Z'), ev('b', '2022-04-09T00:00:00.000Z', 't2')])
    expect(await list()).toEqual(before)
    // …and at a moment between the copies' times, only the first copies count.
    expect((await list('?as_of=2022-04-05T09:00:00Z')).map((i) => [i.first_event_at, i.last_event_at, i.affected])).toEqual([['2022-04-05T08:00:00.000Z', '2022-04-05T08:00:00.000Z', 1]])
  })
})
