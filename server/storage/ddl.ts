import type { Store } from './client.js'

/**
 * What differs between the targets of SPEC §9 (embedded, one server, ClickHouse Cloud, a
 * self-managed cluster), in one place. Everything else — every table, view and statement of the
 * migrations — is the same SQL everywhere.
 *
 * A cluster (`CLICKHOUSE_CLUSTER`) gets a Replicated database: DDL run on any replica reaches
 * every replica (so the migrations need no ON CLUSTER), and MergeTree-family tables created in it
 * are replicated tables. One shard: a tenant's events must sit together for FINAL and the
 * per-tenant derivation, and an incident of 40M events is well within one shard's reach.
 */

/** The statement that creates the database. */
export function createDatabaseSql(db: string, cluster?: string): string {
  if (!cluster) return `CREATE DATABASE IF NOT EXISTS ${db}`
  return `CREATE DATABASE IF NOT EXISTS ${db} ON CLUSTER \`${cluster}\` ENGINE = Replicated('/clickhouse/databases/${db}', '{shard}', '{replica}')`
}

/**
 * Settings for every statement on a cluster: an insert is acknowledged once a quorum of replicas
 * has it, and a read sees every quorum insert, whichever replica the load balancer picked — so a
 * server reads what another server wrote and derived (SPEC §9).
 */
export function clusterSettings(cluster?: string): Record<string, string | number> {
  return cluster ? { insert_quorum: 'auto', insert_quorum_parallel: 1, select_sequential_consistency: 1 } : {}
}

/** The key-value engine of `cards` (migration 6) where there is one; the same answers either way. */
export type CardsEngine = 'EmbeddedRocksDB' | 'ReplacingMergeTree'

/** `cards` on each engine: RocksDB keeps a key's last write; a ReplacingMergeTree read with FINAL keeps its last inserted row. */
export function createCardsSql(db: string, engine: CardsEngine): string {
  return engine === 'EmbeddedRocksDB'
    ? `CREATE TABLE IF NOT EXISTS ${db}.cards (key String, value String) ENGINE = EmbeddedRocksDB PRIMARY KEY key`
    : // Small granules: a lookup reads a granule of values around its key.
      `CREATE TABLE IF NOT EXISTS ${db}.cards (key String, value String) ENGINE = ReplacingMergeTree ORDER BY key SETTINGS index_granularity = 64`
}

/**
 * Create `cards` on the fastest engine the target has. RocksDB is local to one server, so a
 * replicated database (a cluster; ClickHouse Cloud's Shared database) never gets it; elsewhere it
 * is used where the server lists it, and a target that refuses it all the same gets the MergeTree.
 */
export async function createCards(store: Store): Promise<CardsEngine> {
  const [d] = await store.rows<{ engine: string }>(`SELECT engine FROM system.databases WHERE name = {db:String}`, { db: store.db })
  const replicated = d?.engine === 'Replicated' || d?.engine === 'Shared'
  const [known] = await store.rows<{ n: number }>(`SELECT count() AS n FROM system.table_engines WHERE name = 'EmbeddedRocksDB'`)
  if (!replicated && Number(known?.n ?? 0) > 0) {
    try {
      await store.command(createCardsSql(store.db, 'EmbeddedRocksDB'))
      return 'EmbeddedRocksDB'
    } catch (err) {
      if (!isUnknownEngine(err)) throw err
    }
  }
  await store.command(createCardsSql(store.db, 'ReplacingMergeTree'))
  return 'ReplacingMergeTree'
}

/** ClickHouse's UNKNOWN_STORAGE (56), as a server or the embedded engine reports it. */
function isUnknownEngine(err: unknown): boolean {
  const e = err as { code?: string; message?: string }
  return e?.code === '56' || /UNKNOWN_STORAGE|Unknown table engine/i.test(String(e?.message ?? err))
}
