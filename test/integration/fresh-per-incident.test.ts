import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../../server/storage/client.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * A query reflects every event of its incident acknowledged before it, and waits for nothing
 * else: the derivation of another incident's new events (held here at the storage boundary)
 * does not hold it.
 */
let srv: TestServer
let hold: { incident: string; release: () => void; reached: Promise<void> } | null = null
let reached: () => void = () => {}

function wrapStore(store: Store): Store {
  return {
    ...store,
    async command(sql, params) {
      if (hold && sql.includes('tenant_state_input') && params?.incident === hold.incident) {
        const h = hold
        reached()
        await new Promise<void>((r) => (h.release = r))
      }
      return store.command(sql, params)
    },
  }
}

const at = (h: number) => new Date(Date.parse('2022-04-05T07:38:00Z') + h * 3600_000).toISOString()
const post = (incident: string, id: string, tenant: string) =>
  srv.api('/api/v1/events', {
    method: 'POST',
    token: TOKENS.ingest,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event_id: id, incident_id: incident, type: 'access_lost', tenant_id: tenant, occurred_at: at(1) }),
  })
const affected = async (incident: string) => (await (await srv.api(`/api/v1/incidents/${incident}/summary?as_of=${at(2)}`, { token: TOKENS.read })).json()).affected as number

beforeAll(async () => {
  srv = await startTestServer(testConfig(), { wrapStore })
  expect((await post('quiet', 'q-1', 'a')).status).toBe(200)
  expect((await post('busy', 'b-1', 'a')).status).toBe(200)
  expect([await affected('quiet'), await affected('busy')]).toEqual([1, 1])
})
afterAll(async () => {
  hold?.release()
  await srv?.stop()
})

describe('freshness per incident', () => {
  it('holds a query of the incident being derived until its acknowledged event is in, and answers with it', async () => {
    hold = { incident: 'busy', release: () => {}, reached: new Promise<void>((r) => (reached = r)) }
    expect((await post('busy', 'b-2', 'b')).status).toBe(200)
    let busyDone = false
    const busy = affected('busy').finally(() => (busyDone = true))
    await hold.reached // the derivation of `busy` has started and is held
    await new Promise((r) => setTimeout(r, 200))
    expect(busyDone).toBe(false)
    hold.release()
    hold = null
    expect(await busy).toBe(2)
  })

  it('answers a quiet incident at once while another one\'s derivation is held', async () => {
    hold = { incident: 'busy', release: () => {}, reached: new Promise<void>((r) => (reached = r)) }
    expect((await post('busy', 'b-3', 'c')).status).toBe(200)
    const busy = affected('busy')
    await hold.reached
    // Nothing new for `quiet`: its query does not wait for the held derivation (it would never end).
    expect(await affected('quiet')).toBe(1)
    hold.release()
    hold = null
    expect(await busy).toBe(3)
    expect(await affected('quiet')).toBe(1)
  })
})
