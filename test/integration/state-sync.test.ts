import { afterAll, describe, expect, it } from 'vitest'
import { boot } from '../../server/boot.js'
import type { EventRow } from '../../server/ingest/types.js'
import pino from 'pino'
import { createStateSync, derivationRanges, EXTERNAL_CHECK_MS } from '../../server/metrics/state-sync.js'
import { openStore, type Store } from '../../server/storage/client.js'
import { migrate } from '../../server/storage/migrations.js'
import { removeDataDir, testConfig, TOKENS } from '../helpers/db.js'
import { broadcast, comm, insertEvents, insertTenants, lost, progress, restored, started } from '../helpers/factories.js'
import { referenceSummary, referenceTenants } from '../helpers/reference.js'

/**
 * The derived tenant state (tenant_state) against the events it is derived from: events that
 * reach ClickHouse without this server's store, a restart, and a database created before
 * tenant_state existed. Figures are compared with the reference implementation.
 */
const BASE = Date.parse('2022-04-05T07:00:00Z')
const H = 3_600_000
const incident = 'sync-1'
const config = testConfig()
const asOf = new Date(BASE + 48 * H).toISOString()

const at = <T extends EventRow>(e: T): T => ({ ...e, incident_id: incident })
const first = [at(lost('a', BASE)), at(comm('a', BASE + H)), at(restored('a', BASE + 5 * H)), at(lost('b', BASE + 2 * H))]
const later = [at(lost('c', BASE + 3 * H)), at(restored('b', BASE + 6 * H)), at(comm('c', BASE + 30 * H))]

async function api(url: string, path: string) {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${TOKENS.read}` } })
  expect(res.status).toBe(200)
  return res.json()
}

/** INSERT … VALUES through a plain statement: not through store.insert, so the store is not told. */
async function insertBehindTheStoresBack(store: Store, rows: EventRow[]) {
  for (const r of rows) {
    await store.command(
      `INSERT INTO ${store.db}.events (incident_id, tenant_id, event_id, type, occurred_at, progress, channel, label, message)
       VALUES ({i:String}, {t:String}, {e:String}, {ty:String}, {o:DateTime64(3, 'UTC')}, NULL, {c:String}, '', '')`,
      { i: r.incident_id, t: r.tenant_id, e: r.event_id, ty: r.type, o: r.occurred_at, c: r.channel },
    )
  }
}

const expected = (events: EventRow[]) => {
  const ref = referenceSummary(events, [], { incidentId: incident, asOfMs: Date.parse(asOf), includeBroadcast: false, staleAfterMs: 86_400_000 })
  return { affected: ref.affected, restored: ref.restored, max: ref.downtime_s.max, total: ref.downtime_s.total }
}
/** Exact figures (quantiles interpolate in floating point and are checked elsewhere, with a tolerance). */
const figures = (s: { affected: number; restored: number; downtime_s: { max: number | null; total: number } }) => ({
  affected: s.affected,
  restored: s.restored,
  max: s.downtime_s.max,
  total: s.downtime_s.total,
})

afterAll(() => removeDataDir(config.dataDir))

describe('derived tenant state', () => {
  it('reflects events written by other means than this server, within the external check interval', async () => {
    const running = await boot(config)
    try {
      await insertEvents(running.store, first)
      expect(figures(await api(running.url, `/api/v1/incidents/${incident}/summary?as_of=${asOf}`))).toEqual(expected(first))
      await insertBehindTheStoresBack(running.store, later)
      await new Promise((r) => setTimeout(r, EXTERNAL_CHECK_MS + 100))
      const summary = await api(running.url, `/api/v1/incidents/${incident}/summary?as_of=${asOf}`)
      expect(figures(summary)).toEqual(expected([...first, ...later]))
    } finally {
      await running.close()
    }
  })

  it('resumes after a restart: rows already derived are kept, events written meanwhile are derived', async () => {
    const store = await openStore(config)
    const before = await store.rows<{ tenant_id: string; version: number }>(
      `SELECT tenant_id, version FROM ${store.db}.tenant_state FINAL WHERE incident_id = {i:String} ORDER BY tenant_id`,
      { i: incident },
    )
    const extra = [at(lost('d', BASE + 4 * H)), at(comm('d', BASE + 4 * H + 60_000))]
    await insertEvents(store, extra)
    await store.close()

    const running = await boot(config)
    try {
      const summary = await api(running.url, `/api/v1/incidents/${incident}/summary?as_of=${asOf}`)
      expect(figures(summary)).toEqual(expected([...first, ...later, ...extra]))
      const after = await running.store.rows<{ tenant_id: string; version: number }>(
        `SELECT tenant_id, version FROM ${running.store.db}.tenant_state FINAL WHERE incident_id = {i:String} ORDER BY tenant_id`,
        { i: incident },
      )
      // a, b and c were derived before the restart and untouched since; only d is new.
      expect(after.filter((r) => r.tenant_id !== 'd')).toEqual(before)
      expect(after.map((r) => r.tenant_id)).toEqual(['a', 'b', 'c', 'd'])
    } finally {
      await running.close()
    }
  })

  it('derives the same rows incrementally, event by event, as all at once', async () => {
    const running = await boot(config)
    try {
      const id = 'sync-incremental'
      const events = [
        lost('x', BASE + 2 * H), restored('x', BASE + 3 * H), lost('x', BASE + H), comm('x', BASE + 90 * 60_000),
        lost('y', BASE + 5 * H), comm('y', BASE + 4 * H), restored('y', BASE + 7 * H), restored('y', BASE + 8 * H),
      ].map((e) => ({ ...e, incident_id: id }))
      // Out of order, one insert each, a query after each so every step is an incremental derivation.
      for (const e of events) {
        await insertEvents(running.store, [e])
        await api(running.url, `/api/v1/incidents/${id}/summary?as_of=${asOf}`)
      }
      const page = await api(running.url, `/api/v1/incidents/${id}/tenants?as_of=${asOf}&sort=tenant_id&order=asc`)
      const ref = [...referenceTenants(events, [], { incidentId: id, asOfMs: Date.parse(asOf), includeBroadcast: false, staleAfterMs: 86_400_000 }).values()]
      expect(page.rows.map((r: { tenant_id: string; downtime_s: number; outages: number; communications: number }) => [r.tenant_id, r.downtime_s, r.outages, r.communications])).toEqual(
        ref.sort((a, b) => (a.tenant_id < b.tenant_id ? -1 : 1)).map((r) => [r.tenant_id, r.downtime_ms / 1000, r.outages, r.communications]),
      )
    } finally {
      await running.close()
    }
  })
})

describe('a derivation in parts', () => {
  it('writes the same tenant_state rows and cards as one statement', async () => {
    const id = 'sync-parts'
    const events: EventRow[] = []
    for (let t = 0; t < 30; t++) {
      const tenant = `p${t}`
      events.push(lost(tenant, BASE + t * 60_000), comm(tenant, BASE + t * 90_000))
      if (t % 2) events.push(started(tenant, BASE + H), progress(tenant, BASE + 2 * H, 0.5), restored(tenant, BASE + (3 + (t % 5)) * H))
      if (t % 7 === 0) events.push(lost(tenant, BASE + 10 * H), comm(tenant, BASE + 12 * H))
    }
    events.push(broadcast(BASE + 4 * H))
    const derived = async (database: string, derivePartEvents?: number) => {
      const store = await openStore({ ...config, clickhouse: { ...config.clickhouse, database } })
      try {
        await migrate(store)
        await insertEvents(store, events.map((e) => ({ ...e, incident_id: id })), 40)
        const sync = await createStateSync({ store, log: pino({ level: 'silent' }), derivePartEvents })
        await sync.fresh()
        await sync.close()
        return await store.rows(
          `SELECT s.* EXCEPT (version), c.value AS card FROM ${database}.tenant_state AS s FINAL
           LEFT JOIN ${database}.cards AS c ON c.key = concat('t', s.incident_id, '\\0', s.tenant_id)
           ORDER BY s.tenant_id`,
        )
      } finally {
        await store.close()
      }
    }
    const whole = await derived(`${config.clickhouse.database}_whole`)
    const inParts = await derived(`${config.clickhouse.database}_parts`, 10)
    expect(whole).toHaveLength(30)
    expect(whole.every((r) => typeof (r as { card: string }).card === 'string' && (r as { card: string }).card.length > 0)).toBe(true)
    expect(inParts).toEqual(whole)
  })

  it('splits a large derivation into key ranges that hold every tenant exactly once', async () => {
    const store = await openStore({ ...config, clickhouse: { ...config.clickhouse, database: `${config.clickhouse.database}_ranges` } })
    try {
      await migrate(store)
      const events = Array.from({ length: 200 }, (_, t) => ({ ...lost(`r${String(t).padStart(3, '0')}`, BASE + t * 1000), incident_id: 'sync-ranges' }))
      await insertEvents(store, events, 50)
      const ranges = await derivationRanges(store, 'sync-ranges', 0, 8)
      expect(ranges.length).toBeGreaterThanOrEqual(6)
      expect(ranges[0]!.lo).toBe('')
      expect(ranges.at(-1)!.hi_open).toBe(1)
      const inRange = (id: string) => ranges.filter((r) => id >= r.lo && (r.hi_open === 1 || id < r.hi)).length
      for (const e of events) expect(inRange(e.tenant_id)).toBe(1)
      // Balanced within the sample's error: no range holds more than a third of the tenants.
      for (const r of ranges) expect(events.filter((e) => e.tenant_id >= r.lo && (r.hi_open === 1 || e.tenant_id < r.hi)).length).toBeLessThan(200 / 3)
    } finally {
      await store.close()
    }
  })
})

describe('a database created before tenant_state (migrations 1-4)', () => {
  // The same data directory (one per test process), another database.
  const old = { ...config, clickhouse: { ...config.clickhouse, database: `${config.clickhouse.database}_old` } }

  it('keeps its events and tenants through the rebuild and answers from them', async () => {
    const store = await openStore(old)
    await migrate(store, 4)
    const events = [at(lost('a', BASE)), at(restored('a', BASE + 5 * H)), at(lost('b', BASE + 2 * H)), at(comm('b', BASE + 3 * H))]
    await insertEvents(store, events)
    await insertEvents(store, [events[0]!]) // a re-sent event, collapsed by the key
    await insertTenants(store, [{ tenant_id: 'a', name: 'Alpha', attributes: { tier: 'gold' } }])
    const [{ n }] = await store.rows<{ n: number }>(`SELECT count() AS n FROM ${store.db}.events`)
    expect(Number(n)).toBe(5)
    await store.close()

    const running = await boot(old)
    try {
      const summary = await api(running.url, `/api/v1/incidents/${incident}/summary?as_of=${asOf}`)
      expect(figures(summary)).toEqual(expected(events))
      const page = await api(running.url, `/api/v1/incidents/${incident}/tenants?as_of=${asOf}&sort=tenant_id&order=asc`)
      expect(page.rows.map((r: { tenant_id: string; name: string; attributes: object }) => [r.tenant_id, r.name, r.attributes])).toEqual([
        ['a', 'Alpha', { tier: 'gold' }],
        ['b', '', {}],
      ])
      const [{ q }] = await running.store.rows<{ q: string }>(
        `SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = 'events'`,
        { db: running.store.db },
      )
      expect(q).toContain('index_granularity = 1024')
    } finally {
      await running.close()
    }
  })
})
