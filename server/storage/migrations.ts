import type { Store } from './client.js'

/**
 * Versioned, idempotent schema migrations, applied in order at start. Each is a list of
 * statements; `{db}` is replaced by the configured database name (an identifier checked by
 * config, never user input). Never edit a released migration: add a new one.
 */
export const MIGRATIONS: { version: number; name: string; statements: string[] }[] = [
  {
    version: 1,
    name: 'events, tenants, incidents',
    statements: [
      // One row per event. ReplacingMergeTree on the sorting key collapses re-sent events
      // (same incident, tenant and event_id); queries read with FINAL so duplicates that
      // have not been merged yet are never counted. The key serves per-incident scans and
      // per-tenant lookups (timeline) alike. fsync: an acknowledged insert survives power loss.
      `CREATE TABLE IF NOT EXISTS {db}.events (
        incident_id String,
        tenant_id String,
        event_id String,
        type Enum8('access_lost' = 1, 'access_restored' = 2, 'restore_started' = 3,
                   'restore_progress' = 4, 'restore_completed' = 5, 'communication' = 6, 'milestone' = 7),
        occurred_at DateTime64(3, 'UTC'),
        progress Nullable(Float64),
        channel LowCardinality(String),
        label String,
        message String,
        received_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree
      ORDER BY (incident_id, tenant_id, event_id)
      SETTINGS fsync_after_insert = 1, fsync_part_directory = 1`,
      // Tenant metadata, global (not per incident); last write wins by version.
      // attributes: every attribute as a string (filters, group_by); num_attributes: the
      // numeric ones as numbers (weights such as seats).
      `CREATE TABLE IF NOT EXISTS {db}.tenants (
        tenant_id String,
        name String,
        attributes Map(String, String),
        num_attributes Map(String, Float64),
        version UInt64
      ) ENGINE = ReplacingMergeTree(version)
      ORDER BY tenant_id
      SETTINGS fsync_after_insert = 1, fsync_part_directory = 1`,
      `CREATE TABLE IF NOT EXISTS {db}.incidents (
        incident_id String,
        title String,
        description String,
        severity String,
        status String,
        version UInt64
      ) ENGINE = ReplacingMergeTree(version)
      ORDER BY incident_id
      SETTINGS fsync_after_insert = 1, fsync_part_directory = 1`,
    ],
  },
  {
    version: 3,
    name: 'tenant_event_keys: per-tenant event keys kept by a materialized view',
    statements: [
      // The per-tenant core of every metric (server/metrics/tenant-state.ts) reads one row per
      // (incident, tenant) here instead of grouping the incident's events FINAL per request
      // (about half its CPU at 100k tenants). k: every access/restore/communication event as
      // UInt128 ((ms * 8 + type + 2^62) << 64) + cityHash64(event_id): sorting it sorts by time
      // then type (the +2^62 keeps pre-1970 times ordered), and a re-sent event (same event_id,
      // byte-identical) yields the same value, so re-sends collapse exactly when the reader
      // drops adjacent equal values of the sorted array. p: restore_progress (ms, event_id,
      // progress) for the latest-progress tie rule. Duplicate rows from a re-send, or from
      // the backfill overlapping the view, are therefore harmless.
      `CREATE TABLE IF NOT EXISTS {db}.tenant_event_keys (
        incident_id String,
        tenant_id String,
        k AggregateFunction(groupArray, UInt128),
        p AggregateFunction(groupArray, Tuple(Int64, String, Nullable(Float64)))
      ) ENGINE = AggregatingMergeTree
      ORDER BY (incident_id, tenant_id)`,
      // The view runs on every insert into events, whatever the path (HTTP ingest, spool
      // replay, direct inserts), so the table needs no application code to stay current.
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tenant_event_keys_mv TO {db}.tenant_event_keys AS
      SELECT incident_id, tenant_id,
        groupArrayStateIf(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type) + 4611686018427387904), 64) + cityHash64(event_id),
                          type IN ('access_lost', 'access_restored', 'restore_started', 'restore_progress', 'restore_completed', 'communication')) AS k,
        groupArrayStateIf((toUnixTimestamp64Milli(occurred_at), event_id, progress), type = 'restore_progress') AS p
      FROM {db}.events
      GROUP BY incident_id, tenant_id`,
      // Backfill the events stored before the view existed (an overlap with the view only
      // duplicates values, see above).
      `INSERT INTO {db}.tenant_event_keys
      SELECT incident_id, tenant_id,
        groupArrayStateIf(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(occurred_at) * 8 + toUInt8(type) + 4611686018427387904), 64) + cityHash64(event_id),
                          type IN ('access_lost', 'access_restored', 'restore_started', 'restore_progress', 'restore_completed', 'communication')) AS k,
        groupArrayStateIf((toUnixTimestamp64Milli(occurred_at), event_id, progress), type = 'restore_progress') AS p
      FROM {db}.events
      GROUP BY incident_id, tenant_id`,
    ],
  },
]

export async function migrate(store: Store): Promise<number[]> {
  await store.command(
    `CREATE TABLE IF NOT EXISTS ${store.db}.schema_migrations (version UInt32, name String, applied_at DateTime DEFAULT now())
     ENGINE = ReplacingMergeTree ORDER BY version`,
  )
  const done = new Set(
    (await store.rows<{ version: number }>(`SELECT version FROM ${store.db}.schema_migrations FINAL`)).map((r) => Number(r.version)),
  )
  const applied: number[] = []
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue
    for (const statement of m.statements) await store.command(statement.replaceAll('{db}', store.db))
    await store.command(`INSERT INTO ${store.db}.schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})`, {
      v: m.version,
      n: m.name,
    })
    applied.push(m.version)
  }
  return applied
}
