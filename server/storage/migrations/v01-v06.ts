import { createCards } from '../ddl.js'
import { rebuild, type Migration } from './migration.js'

/** Migrations 1-6: events, tenants and incidents; tenant_state and the state sync; cards. */
export const V01_V06: Migration[] = [
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
    version: 2,
    name: 'events: no fsync per insert',
    statements: [
      // The ingest contract (SPEC §4) is "a 200 survives kill -9 of the server at any moment".
      // A committed part is in the page cache once the insert returns, and kill -9 does not
      // lose the page cache: only an OS crash or power loss would, which the contract does not
      // cover. fsync per insert cost ~24 ms of a 41 ms 4,000-row insert (wall) and held the
      // closed-loop HTTP ingest below target. Tenants and incidents (small, rare writes) keep
      // fsync; the spool (used while ClickHouse is down) still fdatasyncs every record.
      `ALTER TABLE {db}.events MODIFY SETTING fsync_after_insert = 0, fsync_part_directory = 0`,
    ],
  },
  {
    // Retired: a per-(incident, tenant) AggregatingMergeTree of event keys fed by a materialized
    // view, read by the tenant-state core instead of events FINAL. It was exact but not faster
    // (paired A/B at 1M events / 100k tenants: core CPU equal or worse), and the view costs every
    // insert. Committed by accident for a few minutes; the number stays taken (a database that
    // applied it records 3) and version 4 drops what it created.
    version: 3,
    name: 'tenant_event_keys (retired)',
    statements: [],
  },
  {
    version: 4,
    name: 'drop tenant_event_keys (retired version 3)',
    statements: [`DROP VIEW IF EXISTS {db}.tenant_event_keys_mv`, `DROP TABLE IF EXISTS {db}.tenant_event_keys`],
  },
  {
    version: 5,
    name: 'events and tenants in smaller granules, block numbers kept; tenant_state',
    statements: [],
    // A point lookup (one tenant's events, a page of tenants' names) reads whole granules:
    // 1,024 events / 256 tenants instead of 8,192 each. Events inserts fsync again (migration 2
    // had turned it off): the ingest pipeline now inserts from its spool in large inserts, where
    // a part's fsync costs nothing measurable, and a spool record is deleted only once the
    // insert that carries it is on disk. Every events row also keeps the
    // number of the insert block that wrote it, through merges: the state sync
    // (server/metrics/state-sync.ts) finds what changed since it last looked by
    // `_block_number > n`, which ClickHouse answers from the few newest parts.
    async run(store) {
      await rebuild(store, 'events', 'index_granularity = 1024', (name) => `CREATE TABLE {db}.${name} (
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
      SETTINGS index_granularity = 1024, enable_block_number_column = 1, fsync_after_insert = 1, fsync_part_directory = 1`)
      await rebuild(store, 'tenants', 'index_granularity = 256', (name) => `CREATE TABLE {db}.${name} (
        tenant_id String,
        name String,
        attributes Map(String, String),
        num_attributes Map(String, Float64),
        version UInt64
      ) ENGINE = ReplacingMergeTree(version)
      ORDER BY tenant_id
      SETTINGS index_granularity = 256, fsync_after_insert = 1, fsync_part_directory = 1`)
      // One row per (incident, tenant) with events: the facts of SPEC §3 that do not depend on
      // as_of (server/metrics/tenant-state.ts describes every column), so a query reads one row
      // per tenant instead of grouping all its events. A tenant's row is rewritten whole when
      // its events change; the highest version wins (read with FINAL). One partition per
      // incident, so a large rewrite can be merged right away for that incident alone. Derived
      // data: no fsync (it is recomputed from events; see state_sync).
      for (const statement of [
        `DROP TABLE IF EXISTS {db}.tenant_state`,
        `CREATE TABLE {db}.tenant_state (
          incident_id String,
          tenant_id String,
          version UInt64,
          min_ms Int64,
          first_lost_ms Int64,
          starts Array(Int64),
          ends Array(Int64),
          stray_ms Array(Int64),
          rk Array(Int64),
          prog_ms Array(Int64),
          prog Array(Float64),
          dcomm Array(Int64),
          contact_ms Int64,
          gap_comms Array(Int64),
          gap_prefix Array(Int64),
          last_ms Int64,
          fin_closed_ms Int64,
          fin_comms UInt32,
          fin_stage UInt8,
          fin_progress Nullable(Float64),
          rdeltas Array(Int64),
          cdeltas Array(Int64)
        ) ENGINE = ReplacingMergeTree(version)
        PARTITION BY incident_id
        ORDER BY (incident_id, tenant_id)
        SETTINGS index_granularity = 1024`,
        // How far the sync has read the events table: every events block numbered above
        // scan_from may not be reflected in tenant_state yet. None = derive everything.
        `DROP TABLE IF EXISTS {db}.state_sync`,
        `CREATE TABLE {db}.state_sync (id UInt8, scan_from UInt64, version UInt64)
        ENGINE = ReplacingMergeTree(version) ORDER BY id`,
      ])
        await store.command(statement.replaceAll('{db}', store.db))
    },
  },
  {
    version: 6,
    name: 'cards: one key-value read per tenant timeline',
    // A MergeTree point read costs ~3-5 ms of engine time per table (index, marks, a granule of
    // every column), and a tenant's timeline needs three (its events, its tenant_state row, its
    // metadata). `cards` is a RocksDB key-value table holding, per key, the one JSON document a
    // point read needs, so a timeline is one lookup of two keys (~2 ms):
    //   't' || incident_id || '\0' || tenant_id → [first_lost_ms, starts, ends, stray_ms, rk,
    //       prog_ms, prog, dcomm, contact_ms, gap_comms, gap_prefix, events], the tenant's stored
    //       state (figures.ts rowAt) and its first 10,000 events in §3 order, each
    //       [event_id, occurred_at ms, type code, progress, channel, label, message];
    //   'm' || tenant_id → [name, attributes], its metadata.
    // (Incident ids cannot contain '\0'.) Both are written by materialized views, so no writer
    // can forget them: the state sync derives tenant_state through the Null table
    // tenant_state_input, whose rows go to tenant_state and, with the events, to cards; every
    // insert into tenants goes to cards too. RocksDB keeps the last write of a key: tenant
    // upserts are inserted one at a time in version order (server/ingest/tenants.ts), and the
    // sync derives one incident at a time. Derived data: rebuilt by deriving everything again.
    // Where RocksDB is missing (ClickHouse Cloud) or not shared (a cluster), cards is a
    // ReplacingMergeTree instead (storage/ddl.ts createCards; the engine is chosen at this step,
    // the only part of a migration that depends on the target).
    before: (store) => createCards(store).then(() => undefined),
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.tenant_state_input (
        incident_id String, tenant_id String, version UInt64, min_ms Int64, first_lost_ms Int64,
        starts Array(Int64), ends Array(Int64), stray_ms Array(Int64), rk Array(Int64), prog_ms Array(Int64),
        prog Array(Float64), dcomm Array(Int64), contact_ms Int64, gap_comms Array(Int64), gap_prefix Array(Int64),
        last_ms Int64, rdeltas Array(Int64), cdeltas Array(Int64),
        events Array(Tuple(String, Int64, UInt8, Nullable(Float64), String, String, String))
      ) ENGINE = Null`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tenant_state_writer TO {db}.tenant_state AS
        SELECT incident_id, tenant_id, version, min_ms, first_lost_ms, starts, ends, stray_ms, rk, prog_ms, prog,
          dcomm, contact_ms, gap_comms, gap_prefix, last_ms, rdeltas, cdeltas
        FROM {db}.tenant_state_input`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tenant_card_writer TO {db}.cards AS
        SELECT concat('t', incident_id, '\\0', tenant_id) AS key,
          toJSONString((first_lost_ms, starts, ends, stray_ms, rk, prog_ms, prog, dcomm, contact_ms, gap_comms, gap_prefix, events)) AS value
        FROM {db}.tenant_state_input`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tenant_meta_writer TO {db}.cards AS
        SELECT concat('m', tenant_id) AS key, toJSONString((name, attributes)) AS value FROM {db}.tenants`,
      // What exists already: metadata copied now; tenant cards by deriving every incident again.
      `INSERT INTO {db}.cards SELECT concat('m', tenant_id), toJSONString((name, attributes)) FROM {db}.tenants FINAL`,
      `TRUNCATE TABLE {db}.state_sync`,
    ],
  },
]
