import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config.js'
import { openStore, type Store } from '../../server/storage/client.js'
import { clusterSettings, createCardsSql, createDatabaseSql } from '../../server/storage/ddl.js'
import { migrate } from '../../server/storage/migrations.js'
import { removeDataDir, testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer } from '../helpers/server.js'

/**
 * SPEC §9 "nothing a supported target lacks": the DDL for a cluster, the schema a replicated
 * database gets (no EmbeddedRocksDB, which is local to one server), and the same timelines from
 * either engine of `cards`. What cannot run here (a cluster needs Keeper and a second node) is
 * checked as generated DDL; docs/deployment.md has the commands.
 */
const config = testConfig()
const dbOf = (suffix: string) => `${config.clickhouse.database}_${suffix}`

describe('DDL for a cluster (CLICKHOUSE_CLUSTER)', () => {
  it('creates the database as a Replicated database on the cluster; without a cluster, a plain one', () => {
    expect(createDatabaseSql('aftermath', 'main')).toBe(
      "CREATE DATABASE IF NOT EXISTS aftermath ON CLUSTER `main` ENGINE = Replicated('/clickhouse/databases/aftermath', '{shard}', '{replica}')",
    )
    expect(createDatabaseSql('aftermath')).toBe('CREATE DATABASE IF NOT EXISTS aftermath')
    expect(clusterSettings('main')).toEqual({ insert_quorum: 'auto', insert_quorum_parallel: 1, select_sequential_consistency: 1 })
    expect(clusterSettings()).toEqual({})
  })

  it('CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL and a plain name', () => {
    expect(() => loadConfig({ CLICKHOUSE_CLUSTER: 'main' })).toThrow(/CLICKHOUSE_CLUSTER: needs CLICKHOUSE_URL/)
    expect(() => loadConfig({ CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_CLUSTER: "main'; DROP" })).toThrow(/CLICKHOUSE_CLUSTER/)
    expect(loadConfig({ CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_CLUSTER: 'prod-1' }).clickhouse.cluster).toBe('prod-1')
  })

  it('in a replicated database every migration runs with replicable engines only, and cards is a ReplacingMergeTree', async () => {
    const base = await openStore(config)
    const db = dbOf('replicated')
    const statements: string[] = []
    // The real engine runs every statement; only the answer to "what engine is this database"
    // says Replicated, as a cluster's would (chdb cannot host a Replicated database: no Keeper).
    const store: Store = {
      ...base,
      db,
      async rows<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
        if (/FROM system\.databases/.test(sql)) return [{ engine: 'Replicated' } as T]
        return base.rows<T>(sql, params)
      },
      async command(sql: string, params?: Record<string, unknown>) {
        statements.push(sql)
        return base.command(sql, params)
      },
    }
    try {
      await store.command(createDatabaseSql(db))
      await migrate(store)
      expect(statements.filter((s) => /EmbeddedRocksDB/.test(s))).toEqual([])
      expect(statements.filter((s) => /ON CLUSTER/i.test(s))).toEqual([])
      const tables = await base.rows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = {db:String} ORDER BY name`, { db })
      // A Replicated database makes each *MergeTree a Replicated*MergeTree; the rest hold no data of their own.
      const replicable = /^(?:|Replacing|Aggregating|Summing)MergeTree$|^(?:Null|View|MaterializedView)$/
      expect(tables.filter((t) => !replicable.test(t.engine))).toEqual([])
      expect(tables.find((t) => t.name === 'cards')?.engine).toBe('ReplacingMergeTree')
    } finally {
      await base.command(`DROP DATABASE IF EXISTS ${db}`)
      await base.close()
    }
  })
})

describe('cards on either engine give the same answers', () => {
  const BASE = Date.parse('2022-04-05T07:00:00.000Z')
  const iso = (m: number) => new Date(BASE + m * 60_000).toISOString()
  const ev = (id: string, type: string, m: number, f: Record<string, unknown> = {}) => ({ event_id: id, incident_id: 'cards-1', type, occurred_at: iso(m), ...f })
  const events = [
    ev('a1', 'access_lost', 0, { tenant_id: 'a' }),
    ev('a2', 'restore_started', 10, { tenant_id: 'a' }),
    ev('a3', 'restore_progress', 20, { tenant_id: 'a', progress: 0.4 }),
    ev('a4', 'access_restored', 60, { tenant_id: 'a' }),
    ev('a5', 'access_lost', 90, { tenant_id: 'a' }),
    ev('b1', 'access_lost', 5, { tenant_id: 'b' }),
    ev('b2', 'communication', 15, { tenant_id: 'b', channel: 'email', message: 'on it' }),
    ev('b3', 'access_restored', 2, { tenant_id: 'b' }),
    ev('c1', 'communication', 1, { tenant_id: 'c' }),
    ev('bc', 'communication', 30, { channel: 'status_page' }),
  ]
  const paths = ['a', 'b', 'c', 'nobody'].flatMap((tenant) =>
    ['', `?as_of=${iso(25)}`, `?as_of=${iso(100)}&include_broadcast=true`, '?attr.tier=gold'].map((q) => `/api/v1/incidents/cards-1/tenants/${tenant}/timeline${q}`),
  )
  /** Boot a server on `database` (one at a time: one process, one engine), ingest, read every timeline, stop. */
  async function answers(database: string) {
    const srv = await startTestServer({ ...config, clickhouse: { ...config.clickhouse, database } }, { now: () => new Date(BASE + 200 * 60_000) })
    try {
      const post = (path: string, body: unknown) => srv.api(path, { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      expect((await post('/api/v1/events?atomic=true', events)).status).toBe(200)
      // A tenant's metadata written twice, then a later event rewriting a's card: the last writes count on both engines.
      expect((await post('/api/v1/tenants', [{ tenant_id: 'a', name: 'Acme', attributes: { tier: 'gold' } }])).status).toBe(200)
      expect((await post('/api/v1/tenants', [{ tenant_id: 'a', name: 'Acme Corp' }])).status).toBe(200)
      expect((await post('/api/v1/events', [ev('a6', 'access_restored', 120, { tenant_id: 'a' })])).status).toBe(200)
      const [t] = await srv.store.rows<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'cards'`, { db: database })
      const bodies: Record<string, [number, string]> = {}
      for (const p of paths) {
        const res = await srv.api(p)
        bodies[p] = [res.status, await res.text()]
      }
      return { engine: t?.engine, bodies }
    } finally {
      await srv.close()
    }
  }
  afterAll(() => removeDataDir(config.dataDir))

  it('RocksDB where it can, a ReplacingMergeTree where there is none: every timeline the same, at several moments', async () => {
    const rocks = await answers(dbOf('rocks'))
    // As on a target without RocksDB: cards exists as a ReplacingMergeTree before the migrations run.
    const pre = await openStore({ ...config, clickhouse: { ...config.clickhouse, database: dbOf('mt') } })
    await pre.command(createCardsSql(dbOf('mt'), 'ReplacingMergeTree'))
    await pre.close()
    const merge = await answers(dbOf('mt'))
    expect([rocks.engine, merge.engine]).toEqual(['EmbeddedRocksDB', 'ReplacingMergeTree'])
    expect(merge.bodies).toEqual(rocks.bodies)
    const a = JSON.parse(merge.bodies[`/api/v1/incidents/cards-1/tenants/a/timeline`]![1])
    expect([a.row.name, a.row.state, a.events.length]).toEqual(['Acme Corp', 'up', 6])
    expect(Object.values(merge.bodies).filter(([status]) => status === 404)).toHaveLength(4)
  }, 120_000)
})
