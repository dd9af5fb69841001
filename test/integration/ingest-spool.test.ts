import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StorageUnavailableError } from '../../server/errors.js'
import type { Store } from '../../server/storage/client.js'
import { removeDataDir, testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { deserializeEvents } from '../../server/ingest/batcher.js'

/**
 * Storage outage: faults are injected at the storage boundary (boot's wrapStore) around the
 * real embedded engine. `inserted` records, in order, the event ids of every insert that
 * reached the engine, so replay order can be checked against send order.
 */
const fault = { mode: 'ok' as 'ok' | 'unavailable' | 'sql-error' }
const inserted: string[] = []
const wrapStore = (store: Store): Store => ({
  ...store,
  async insert(table, body, format) {
    if (table.endsWith('.events')) {
      if (fault.mode === 'unavailable') throw new StorageUnavailableError('injected: connection refused')
      if (fault.mode === 'sql-error') throw new Error('injected: Code: 241. DB::Exception: Memory limit exceeded')
    }
    await store.insert(table, body, format)
    if (table.endsWith('.events')) for (const e of deserializeEvents(body)) inserted.push(e.event_id)
  },
})

const config = testConfig()
let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer(config, { wrapStore })
})
afterAll(async () => {
  await srv?.close()
  removeDataDir(config.dataDir)
})

const ev = (id: string, incident: string) => ({ event_id: id, incident_id: incident, type: 'access_lost', occurred_at: '2022-04-05T07:38:00Z', tenant_id: `t-${id}` })
const ids = (prefix: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(from + i).padStart(4, '0')}`)
async function send(s: TestServer, eventIds: string[], incident: string) {
  const body = eventIds.map((id) => JSON.stringify(ev(id, incident))).join('\n')
  const res = await s.api('/api/v1/events', { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' }, token: TOKENS.ingest })
  return { status: res.status, body: await res.json() }
}
const storedIds = async (s: TestServer, incident: string) =>
  (await s.store.rows<{ event_id: string }>(`SELECT event_id FROM ${s.store.db}.events FINAL WHERE incident_id = {i:String} ORDER BY event_id`, { i: incident })).map((r) => r.event_id)
const readyz = async (s: TestServer) => (await s.api('/readyz', { token: TOKENS.read })).json()
async function waitFor(cond: () => Promise<boolean>, timeoutMs = 30_000) {
  const start = performance.now()
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('storage outage → spool → replay', () => {
  it('acknowledges events while storage fails, spools them, and replays them all in order once it recovers', async () => {
    fault.mode = 'unavailable'
    const sent: string[] = []
    for (let i = 0; i < 5; i++) {
      const batch = ids('out', i * 200, 200)
      const r = await send(srv, batch, 'inc-outage')
      expect(r).toEqual({ status: 200, body: { accepted: 200, rejected: 0, errors: [] } })
      sent.push(...batch)
    }
    fault.mode = 'sql-error' // any storage error spools, not only connection failures
    const more = ids('out', 1000, 100)
    expect((await send(srv, more, 'inc-outage')).status).toBe(200)
    sent.push(...more)

    expect(await readyz(srv)).toEqual({ status: 'ready', storage: 'ok', spool_events: 1100, spool_quarantined: 0, queries: expect.objectContaining({ running: expect.objectContaining({ cheap: 0, heavy: 0 }), heavy_requests: 0 }) })
    expect(await storedIds(srv, 'inc-outage')).toEqual([])
    const metrics = await (await srv.api('/metrics', { token: TOKENS.read })).text()
    expect(/^aftermath_events_spooled_total (\d+)$/m.exec(metrics)?.[1]).toBe('1100')

    fault.mode = 'ok'
    await waitFor(async () => (await readyz(srv)).spool_events === 0)
    expect(inserted).toEqual(sent) // replayed in the order acknowledged
    expect(await storedIds(srv, 'inc-outage')).toEqual([...sent].sort())

    // Later events follow straight on once the spool has drained.
    const after = ids('after', 0, 10)
    expect((await send(srv, after, 'inc-outage')).status).toBe(200)
    expect(await srv.drained(10_000)).toBe(true)
    expect(inserted.slice(-10)).toEqual(after)
  })

  it('keeps new batches behind the spool while it is non-empty, so order holds across the outage', async () => {
    inserted.length = 0
    fault.mode = 'unavailable'
    const first = ids('ord', 0, 50)
    expect((await send(srv, first, 'inc-order')).status).toBe(200)
    // Storage is back, but the spool still holds `first`: the next batch must not overtake it.
    fault.mode = 'ok'
    const second = ids('ord', 50, 50)
    expect((await send(srv, second, 'inc-order')).status).toBe(200)
    await waitFor(async () => (await readyz(srv)).spool_events === 0)
    expect(inserted).toEqual([...first, ...second])
  })

  it('replays on start what a previous process left in the spool', async () => {
    fault.mode = 'unavailable'
    const left = ids('left', 0, 300)
    expect((await send(srv, left, 'inc-restart')).status).toBe(200)
    await srv.close() // storage still down: the spool stays on disk
    fault.mode = 'ok'
    srv = await startTestServer(config, { wrapStore })
    await waitFor(async () => (await readyz(srv)).spool_events === 0)
    expect(await storedIds(srv, 'inc-restart')).toEqual(left)
  })
})
