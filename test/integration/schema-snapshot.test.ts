import { readFileSync } from 'node:fs'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventRow } from '../../server/ingest/types.js'
import { createStateSync } from '../../server/metrics/state-sync.js'
import { openStore, type Store } from '../../server/storage/client.js'
import { migrate } from '../../server/storage/migrations.js'
import { SCHEMA_SNAPSHOT_PATH, schemaSnapshot } from '../../server/storage/migrations/snapshot.js'
import { openTestStore } from '../helpers/db.js'
import { comm, insertEvents, lost, restored } from '../helpers/factories.js'

/**
 * server/storage/schema.sql is the schema the migrations build, so a newcomer reads one file
 * instead of every migration; and a database upgraded from before the retired fin_* columns were
 * dropped (migration 13) ends with the same schema and the same derived rows as a fresh one.
 */
const REGENERATE = `${SCHEMA_SNAPSHOT_PATH} differs from the schema the migrations build: run \`npm run schema:snapshot\` and commit the file with the migration that changed it`
const committed = readFileSync(new URL(`../../${SCHEMA_SNAPSHOT_PATH}`, import.meta.url), 'utf8')
let fresh: Awaited<ReturnType<typeof openTestStore>>
beforeAll(async () => {
  fresh = await openTestStore()
})
afterAll(() => fresh.cleanup())

const BASE = Date.parse('2022-04-05T07:00:00Z')
const H = 3_600_000
const at = (e: EventRow): EventRow => ({ ...e, incident_id: 'schema-1' })
const before13 = [at(lost('a', BASE)), at(comm('a', BASE + H)), at(lost('b', BASE + 2 * H))]
const after13 = [at(restored('a', BASE + 5 * H)), at(lost('c', BASE + 3 * H)), at(comm('c', BASE + 4 * H))]

const finColumns = (store: Store) =>
  store.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = {db:String} AND table = 'tenant_state' AND startsWith(name, 'fin_') ORDER BY name`, {
    db: store.db,
  })

/** Derive tenant_state (and cards) from the events inserted so far. */
async function derive(store: Store) {
  const sync = await createStateSync({ store, log: pino({ level: 'silent' }) })
  await sync.fresh()
  await sync.close()
}

/** Every tenant_state row with its card, as the derivation left them. */
const derived = (store: Store) =>
  store.rows(
    `SELECT s.* EXCEPT (version), c.value AS card FROM ${store.db}.tenant_state AS s FINAL
     LEFT JOIN ${store.db}.cards AS c ON c.key = concat('t', s.incident_id, '\\0', s.tenant_id)
     ORDER BY s.tenant_id`,
  )

describe('the schema snapshot', () => {
  it('equals the schema of a freshly migrated database, as a whole', async () => {
    expect(await schemaSnapshot(fresh.store), REGENERATE).toBe(committed)
  })

  it('has no retired fin_* column in tenant_state, in the database or in the snapshot', async () => {
    expect(await finColumns(fresh.store)).toEqual([])
    expect(committed).not.toMatch(/`fin_/)
  })
})

describe('a database at migration 12 with derived rows', () => {
  it('loses only the fin_* columns in migration 13, keeps its cards through 14, then derives through tenant_state_writer as a fresh database does', async () => {
    const store = await openStore({ ...fresh.config, clickhouse: { ...fresh.config.clickhouse, database: `${fresh.store.db}_v12` } })
    try {
      await migrate(store, 12)
      await insertEvents(store, before13)
      await derive(store)
      expect((await finColumns(store)).map((c) => c.name)).toEqual(['fin_closed_ms', 'fin_comms', 'fin_progress', 'fin_stage'])
      const kept = await store.rows(
        `SELECT * EXCEPT (fin_closed_ms, fin_comms, fin_stage, fin_progress) FROM ${store.db}.tenant_state FINAL ORDER BY tenant_id`,
      )
      expect(kept).toHaveLength(2)
      const cards = () => store.rows(`SELECT key, value FROM ${store.db}.cards ORDER BY key`)
      const cardsBefore = await cards()
      expect(cardsBefore.length).toBeGreaterThanOrEqual(2)

      // 13 drops the columns; 14 recreates the card writers from storage/card-layout.ts.
      expect(await migrate(store)).toEqual([13, 14])
      expect(await cards()).toEqual(cardsBefore)
      expect(await finColumns(store)).toEqual([])
      expect(await store.rows(`SELECT * FROM ${store.db}.tenant_state FINAL ORDER BY tenant_id`)).toEqual(kept)
      expect(await schemaSnapshot(store), REGENERATE).toBe(committed)

      await insertEvents(store, after13)
      await derive(store)
      await insertEvents(fresh.store, [...before13, ...after13])
      await derive(fresh.store)
      const upgraded = await derived(store)
      expect(upgraded.map((r) => (r as { tenant_id: string }).tenant_id)).toEqual(['a', 'b', 'c'])
      expect(upgraded).toEqual(await derived(fresh.store))
    } finally {
      await store.close()
    }
  })
})
