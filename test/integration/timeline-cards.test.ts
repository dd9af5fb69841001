import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { boot, type Running } from '../../server/boot.js'
import type { EventRow } from '../../server/ingest/types.js'
import { MAX_TIMELINE_EVENTS } from '../../server/metrics/timeline.js'
import { openStore } from '../../server/storage/client.js'
import { migrate } from '../../server/storage/migrations.js'
import { removeDataDir, testConfig, TOKENS } from '../helpers/db.js'
import { broadcast, comm, insertEvents, insertTenants, lost, restored } from '../helpers/factories.js'

/**
 * The timeline reads one key-value lookup (`cards`, migration 6) instead of the events,
 * tenant_state and tenants tables. These check what that copy must keep equal to the tables:
 * the latest metadata whatever order upserts race in, the event order and limit, and a
 * database created before the copy existed.
 */
const BASE = Date.parse('2022-04-05T07:00:00Z')
const H = 3_600_000
const config = testConfig()
const incident = 'cards-1'
const at = <T extends EventRow>(e: T): T => ({ ...e, incident_id: incident })
const asOf = new Date(BASE + 100 * H).toISOString()

let running: Running

async function get(path: string) {
  const res = await fetch(running.url + path, { headers: { authorization: `Bearer ${TOKENS.read}` } })
  expect(res.status).toBe(200)
  return res.json()
}
async function upsert(tenants: object[]) {
  const res = await fetch(`${running.url}/api/v1/tenants`, {
    method: 'POST',
    body: JSON.stringify(tenants),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.ingest}` },
  })
  expect(res.status).toBe(200)
}
const timeline = (tenant: string, q = '') => get(`/api/v1/incidents/${incident}/tenants/${tenant}/timeline?as_of=${asOf}${q}`)

afterAll(() => removeDataDir(config.dataDir))

describe('tenant timeline from cards', () => {
  beforeAll(async () => {
    running = await boot(config)
  })
  // Closed before the next block boots a server on the same data directory.
  afterAll(() => running.close())

  it('shows the metadata tenants FINAL holds, however concurrent upserts of one tenant race', async () => {
    await insertEvents(running.store, [at(lost('racer', BASE)), at(comm('racer', BASE + H))])
    for (let round = 0; round < 6; round++) {
      await Promise.all(
        Array.from({ length: 12 }, (_, i) => upsert([{ tenant_id: 'racer', name: `Racer ${round}-${i}`, attributes: { tier: `t${i}` } }])),
      )
      const [final] = await running.store.rows<{ name: string; tier: string }>(
        `SELECT name, attributes['tier'] AS tier FROM ${running.store.db}.tenants FINAL WHERE tenant_id = 'racer'`,
      )
      const { row } = await timeline('racer')
      expect([row.name, row.attributes.tier]).toEqual([final!.name, final!.tier])
      // The segment filter reads the same copy: in the segment of its latest tier only.
      expect((await timeline('racer', `&attr.tier=${final!.tier}`)).row).not.toBeNull()
      expect((await timeline('racer', `&attr.tier=none`)).row).toBeNull()
    }
    await upsert([{ tenant_id: 'racer', name: 'Racer final', attributes: { tier: 'gold' } }])
    expect((await timeline('racer')).row).toMatchObject({ name: 'Racer final', attributes: { tier: 'gold' } })
  })

  it('lists the earliest events up to the limit, each once, in time, type and event_id order with broadcasts merged', async () => {
    const events: EventRow[] = [at(lost('busy', BASE))]
    for (let i = 0; i < MAX_TIMELINE_EVENTS + 50; i++) events.push(at(comm('busy', BASE + 1000 + i * 1000, { event_id: `busy-${String(i).padStart(6, '0')}` })))
    // Same instant: the access event (type 1) before communications (type 6), and among those by event_id bytes.
    events.push(at(restored('busy', BASE + 2000, { event_id: 'z-restore' })))
    events.push(at(broadcast(BASE + 2000, { event_id: 'busy-000001' + '\u00e9' })))
    events.push(at(broadcast(BASE + 2000, { event_id: 'a-broadcast' })))
    await insertEvents(running.store, events, 4000)
    await insertEvents(running.store, events.slice(0, 100)) // re-sent: collapsed by the key
    const body = await timeline('busy', '&include_broadcast=true')
    expect(body.events).toHaveLength(MAX_TIMELINE_EVENTS)
    expect(body.events.slice(0, 6).map((e: { event_id: string; direct: boolean }) => [e.event_id, e.direct])).toEqual([
      [events[0]!.event_id, true],
      ['busy-000000', true],
      ['z-restore', true],
      ['a-broadcast', false],
      ['busy-000001', true],
      ['busy-000001\u00e9', false],
    ])
    const times = body.events.map((e: { occurred_at: string }) => e.occurred_at)
    expect([...times].sort()).toEqual(times)
    expect(new Set(body.events.map((e: { event_id: string }) => e.event_id)).size).toBe(MAX_TIMELINE_EVENTS)
    // Without broadcasts, and with as_of inside the list: the events up to as_of only.
    const early = await get(`/api/v1/incidents/${incident}/tenants/busy/timeline?as_of=${new Date(BASE + 10_500).toISOString()}`)
    expect(early.events.map((e: { event_id: string }) => e.event_id)).toEqual([
      events[0]!.event_id,
      ...Array.from({ length: 10 }, (_, i) => `busy-${String(i).padStart(6, '0')}`).flatMap((id) => (id === 'busy-000000' ? [id, 'z-restore'] : [id])),
    ])
    expect(early.row).toMatchObject({ state: 'up', communications: 10 })
  })
})

describe('a database created before cards (migrations 1-5)', () => {
  const old = { ...config, clickhouse: { ...config.clickhouse, database: `${config.clickhouse.database}_old` } }

  it('answers timelines after the upgrade: cards derived again, metadata copied', async () => {
    const store = await openStore(old)
    await migrate(store, 5)
    await insertEvents(store, [at(lost('a', BASE)), at(comm('a', BASE + H)), at(restored('a', BASE + 3 * H))])
    await insertTenants(store, [{ tenant_id: 'a', name: 'Alpha', attributes: { tier: 'gold' } }])
    await store.close()

    const upgraded = await boot(old)
    try {
      const res = await fetch(`${upgraded.url}/api/v1/incidents/${incident}/tenants/a/timeline?as_of=${asOf}`, { headers: { authorization: `Bearer ${TOKENS.read}` } })
      const body = await res.json()
      expect(res.status).toBe(200)
      expect(body.events.map((e: { type: string }) => e.type)).toEqual(['access_lost', 'communication', 'access_restored'])
      expect(body.row).toMatchObject({ name: 'Alpha', attributes: { tier: 'gold' }, state: 'up', downtime_s: 3 * 3600, first_contact_latency_s: 3600 })
    } finally {
      await upgraded.close()
    }
  })
})
