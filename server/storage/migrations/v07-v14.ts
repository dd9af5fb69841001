import { META_CARD_SELECT, TENANT_CARD_SELECT } from '../card-layout.js'
import { rebuild, type Migration } from './migration.js'

/**
 * Migrations 7-13: first-wins events, the communication policy, webhooks, share links, the
 * grafana_* views, leases; tenant_state's retired columns dropped.
 */
export const V07_V14: Migration[] = [
  {
    version: 7,
    name: 'events: the first accepted copy of an event wins; received_at and seq stamped at acceptance',
    statements: [],
    // ReplacingMergeTree keeps the row with the highest version; without one, the last inserted
    // copy of a key won, so re-sending an event_id with other content rewrote history. Now every
    // row carries seq, the order in which the server accepted it (server/ingest/version.ts,
    // stamped with received_at when the event is validated), and the version is its complement:
    // the first accepted copy wins, whatever arrives later, with no lookup per event. Rows written
    // without stamps (a spool left by an older version, other writers) get their insert time.
    // Existing rows take their insert time as received_at (as before) and as seq. The rebuilt
    // table numbers its blocks anew, so tenant_state is derived again from scratch.
    async run(store) {
      await rebuild(
        store,
        'events',
        'first_wins',
        (name) => `CREATE TABLE {db}.${name} (
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
        received_at DateTime64(3, 'UTC') DEFAULT now64(3),
        seq UInt64 DEFAULT toUnixTimestamp64Micro(now64(6)),
        first_wins UInt64 MATERIALIZED 18446744073709551615 - seq
      ) ENGINE = ReplacingMergeTree(first_wins)
      ORDER BY (incident_id, tenant_id, event_id)
      SETTINGS index_granularity = 1024, enable_block_number_column = 1, fsync_after_insert = 1, fsync_part_directory = 1`,
        (from, to) => `INSERT INTO ${to} (incident_id, tenant_id, event_id, type, occurred_at, progress, channel, label, message, received_at, seq)
          SELECT incident_id, tenant_id, event_id, type, occurred_at, progress, channel, label, message, received_at, toUnixTimestamp64Micro(received_at) FROM ${from}`,
      )
      await store.command(`TRUNCATE TABLE ${store.db}.state_sync`)
    },
  },
  {
    version: 8,
    name: 'incidents: communication policy',
    // SPEC §6: per incident, a first contact within, an update every, and the stall alert's
    // period; defaults for incidents written before.
    statements: [
      `ALTER TABLE {db}.incidents
        ADD COLUMN IF NOT EXISTS first_contact_within_ms UInt64 DEFAULT 14400000,
        ADD COLUMN IF NOT EXISTS update_every_ms UInt64 DEFAULT 86400000,
        ADD COLUMN IF NOT EXISTS stall_after_ms UInt64 DEFAULT 21600000`,
    ],
  },
  {
    version: 9,
    name: 'webhooks and their deliveries (the outbox)',
    // SPEC §6. A delivery row is the outbox entry and its log at once: written (fsync) before it
    // is sent, rewritten with a higher version after each attempt, so a kill -9 at any moment
    // leaves it pending and the next start sends it again, with the same id. `keys` are what it
    // reports (a tenant's overdue episode, a milestone), so nothing is reported twice to a hook.
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.webhooks (
        id String, url String, events Array(String), incident_id String, format LowCardinality(String), secret String,
        created_at DateTime64(3, 'UTC'), deleted UInt8, version UInt64
      ) ENGINE = ReplacingMergeTree(version) ORDER BY id
      SETTINGS fsync_after_insert = 1, fsync_part_directory = 1`,
      `CREATE TABLE IF NOT EXISTS {db}.webhook_deliveries (
        webhook_id String, id String, type LowCardinality(String), incident_id String, keys Array(String), body String,
        created_at DateTime64(3, 'UTC'), status LowCardinality(String), attempts UInt32,
        next_attempt_at DateTime64(3, 'UTC'), last_attempt_at Nullable(DateTime64(3, 'UTC')), last_status UInt16, last_error String,
        version UInt64
      ) ENGINE = ReplacingMergeTree(version) ORDER BY (webhook_id, id)
      SETTINGS fsync_after_insert = 1, fsync_part_directory = 1`,
    ],
  },
  {
    version: 10,
    name: 'share links and their use counts',
    // SPEC §8. A link's token is never stored, only its SHA-256 (`token_hash`). Revocation is a
    // new version of the row. Uses are counted in memory and added here every few seconds as
    // rows that sum (and keep the latest use) when parts merge.
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.share_links (
        id String, token_hash String, incident_id String, tenant_id Nullable(String),
        created_at DateTime64(3, 'UTC'), expires_at DateTime64(3, 'UTC'), revoked_at Nullable(DateTime64(3, 'UTC')),
        version UInt64
      ) ENGINE = ReplacingMergeTree(version) ORDER BY id
      SETTINGS fsync_after_insert = 1, fsync_part_directory = 1`,
      `CREATE TABLE IF NOT EXISTS {db}.share_link_uses (
        id String, uses SimpleAggregateFunction(sum, UInt64), last_used_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
      ) ENGINE = AggregatingMergeTree ORDER BY id`,
    ],
  },
  {
    version: 11,
    name: 'grafana_* views: the public read contract (docs/grafana.md)',
    // Views for dashboards outside Aftermath (Grafana's ClickHouse data source, ad-hoc SQL),
    // documented column by column in docs/grafana.md. THESE VIEWS ARE A CONTRACT: a later
    // migration may add columns or views, or change how a view is computed (CREATE OR REPLACE
    // VIEW), but keeps every documented column with its name, type and meaning. They read only
    // the source tables (events, tenants, incidents) and each other, never the derived tables
    // (tenant_state, cards), whose packed encodings are internal. Every figure follows SPEC §3:
    // events are deduplicated once, in grafana_events, exactly as the server reads them (FINAL:
    // the first accepted copy of an (incident, tenant, event_id) wins); access events are ordered
    // by time with access_lost first at equal times (the event_id tie-break cannot change a
    // figure). SQL SECURITY DEFINER: a reader needs SELECT on the views only, not on the tables
    // behind them. No table engine: plain views run alike embedded, on a server, a cluster and
    // ClickHouse Cloud. Times are DateTime64(3, 'UTC').
    statements: [
      // Every event once.
      `CREATE OR REPLACE VIEW {db}.grafana_events DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT incident_id, event_id, toString(type) AS type, occurred_at, tenant_id, progress,
          CAST(channel, 'String') AS channel, label, message, received_at
        FROM {db}.events FINAL`,
      // One row per outage interval of a tenant: SPEC §3's fold without a fold. After any access
      // event the tenant is down iff that event is access_lost, so an access_lost opens an interval
      // iff the access event before it (or the initial "up") is not a loss, and an access_restored
      // closes one iff the one before it is a loss. Sort key ms * 2 + (0 lost | 1 restored).
      `CREATE OR REPLACE VIEW {db}.grafana_access_intervals DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT incident_id, tenant_id, toUInt32(outage) AS outage,
          fromUnixTimestamp64Milli(starts[outage], 'UTC') AS lost_at,
          if(outage <= length(closes), fromUnixTimestamp64Milli(closes[outage], 'UTC'), NULL) AS restored_at
        FROM (
          SELECT incident_id, tenant_id,
            arraySort(groupArray(toUnixTimestamp64Milli(occurred_at) * 2 + (type = 'access_restored'))) AS acc,
            arrayMap(x -> intDiv(x, 2), acc) AS acc_ms,
            arrayPopFront(arrayDifference(arrayPushFront(arrayMap(x -> x % 2, acc), 1))) AS change,
            arrayFilter((t, c) -> c = -1, acc_ms, change) AS starts,
            arrayFilter((t, c) -> c = 1, acc_ms, change) AS closes
          FROM {db}.grafana_events
          WHERE type IN ('access_lost', 'access_restored') AND tenant_id != ''
          GROUP BY incident_id, tenant_id
        )
        ARRAY JOIN arrayEnumerate(starts) AS outage`,
      // Communications: direct (to one tenant) or broadcast (no tenant).
      `CREATE OR REPLACE VIEW {db}.grafana_communications DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT incident_id, event_id, occurred_at AS sent_at, tenant_id, if(tenant_id = '', 'broadcast', 'direct') AS kind, channel, message
        FROM {db}.grafana_events
        WHERE type = 'communication'`,
      // Every tenant ever affected, with the facts that do not depend on the moment asked about:
      // its first loss and its first direct communication at or after it. At a moment T the
      // tenant is affected iff first_lost_at <= T, and contacted iff first_contact_at <= T.
      `CREATE OR REPLACE VIEW {db}.grafana_affected_tenants DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT incident_id, tenant_id, first_lost_at,
          if(empty(contacts), NULL, fromUnixTimestamp64Milli(contacts[1], 'UTC')) AS first_contact_at,
          if(empty(contacts), NULL, (contacts[1] - toUnixTimestamp64Milli(first_lost_at)) / 1000) AS first_contact_latency_s
        FROM (
          SELECT incident_id, tenant_id,
            minIf(occurred_at, type = 'access_lost') AS first_lost_at,
            arraySort(arrayFilter(c -> c >= toUnixTimestamp64Milli(first_lost_at),
              groupArrayIf(toUnixTimestamp64Milli(occurred_at), type = 'communication'))) AS contacts
          FROM {db}.grafana_events
          WHERE type IN ('access_lost', 'communication') AND tenant_id != ''
          GROUP BY incident_id, tenant_id
          HAVING countIf(type = 'access_lost') > 0
        )`,
      // Tenant metadata (global, not per incident): every attribute as a string, the numeric ones as numbers too.
      `CREATE OR REPLACE VIEW {db}.grafana_tenants DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT tenant_id, name, attributes, num_attributes AS numeric_attributes FROM {db}.tenants FINAL`,
      // Each affected tenant's row of GET …/tenants as of now (as_of: the moment of the query):
      // only events at or before it count, an open outage counts up to it.
      `CREATE OR REPLACE VIEW {db}.grafana_tenant_figures DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT f.incident_id AS incident_id, f.tenant_id AS tenant_id, m.name AS name, m.attributes AS attributes, f.as_of AS as_of,
          if(f.down, 'down', 'up') AS state,
          fromUnixTimestamp64Milli(f.starts[1], 'UTC') AS first_lost_at,
          if(f.down, NULL, fromUnixTimestamp64Milli(f.closes[-1], 'UTC')) AS last_restored_at,
          arraySum((s, e) -> e - s, f.starts, f.ends) / 1000 AS downtime_s,
          toUInt32(length(f.starts)) AS outages,
          if(f.down, multiIf(f.restore_key < f.starts[-1] * 8, 'not_started', f.restore_key % 8 = 5, 'completed', 'in_progress'), NULL) AS restore_stage,
          if(f.down AND notEmpty(f.prog) AND f.prog[-1].1 >= f.starts[-1], f.prog[-1].3, NULL) AS restore_progress,
          if(empty(f.contacts), NULL, fromUnixTimestamp64Milli(f.contacts[1], 'UTC')) AS first_contact_at,
          if(empty(f.contacts), NULL, (f.contacts[1] - f.starts[1]) / 1000) AS first_contact_latency_s,
          toUInt32(length(f.contacts)) AS communications,
          -- the longest stretch without a communication while down: over the first loss, each
          -- communication inside an outage interval, and the end (last restore, or now while down)
          arrayMax(arrayDifference(arrayConcat([f.starts[1]],
            arrayFilter(c -> arrayExists((s, e) -> s <= c AND c <= e, f.starts, f.ends), f.contacts),
            [f.ends[-1]]))) / 1000 AS max_comm_gap_s
        FROM (
          SELECT incident_id, tenant_id, now64(3, 'UTC') AS as_of, toUnixTimestamp64Milli(as_of) AS now_ms,
            arraySort(groupArrayIf(toUnixTimestamp64Milli(occurred_at) * 2 + (type = 'access_restored'),
              type IN ('access_lost', 'access_restored') AND occurred_at <= as_of)) AS acc,
            arrayMap(x -> intDiv(x, 2), acc) AS acc_ms,
            arrayPopFront(arrayDifference(arrayPushFront(arrayMap(x -> x % 2, acc), 1))) AS change,
            arrayFilter((t, c) -> c = -1, acc_ms, change) AS starts,
            arrayFilter((t, c) -> c = 1, acc_ms, change) AS closes,
            length(closes) < length(starts) AS down,
            if(down, arrayPushBack(closes, now_ms), closes) AS ends,
            -- the latest restore_* step by (time, type: started < progress < completed), as ms * 8 + type
            maxIf(toUnixTimestamp64Milli(occurred_at) * 8 + multiIf(type = 'restore_started', 3, type = 'restore_progress', 4, 5),
              type IN ('restore_started', 'restore_progress', 'restore_completed') AND occurred_at <= as_of) AS restore_key,
            arraySort(groupArrayIf((toUnixTimestamp64Milli(occurred_at), event_id, assumeNotNull(progress)),
              type = 'restore_progress' AND occurred_at <= as_of)) AS prog,
            arraySort(arrayFilter(c -> c >= starts[1], groupArrayIf(toUnixTimestamp64Milli(occurred_at),
              type = 'communication' AND occurred_at <= as_of))) AS contacts
          FROM {db}.grafana_events
          WHERE tenant_id != ''
          GROUP BY incident_id, tenant_id
          HAVING notEmpty(starts)
        ) AS f
        LEFT JOIN {db}.grafana_tenants AS m ON m.tenant_id = f.tenant_id`,
      // The incident's milestones (SPEC §3), for annotations: first impact, the first communication
      // of any kind at or after it, the moments recovery first reached 50, 90 and 100 %, and every
      // milestone event. Recovery is checked after the last change of each instant: the running
      // sums of affected (+1 at a tenant's first loss) and down (+1 at a loss, -1 at a restore).
      `CREATE OR REPLACE VIEW {db}.grafana_milestones DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT incident_id, fromUnixTimestamp64Milli(assumeNotNull(m.1), 'UTC') AS at, m.2 AS kind, m.3 AS label
        FROM (
          SELECT incident_id,
            minIf(ms, NOT is_comm) AS first_impact_ms,
            arraySort(groupArrayIf((ms, d_affected, d_down), NOT is_comm)) AS changes,
            arrayMap(x -> x.1, changes) AS ts,
            arrayCumSum(arrayMap(x -> x.2, changes)) AS affected,
            arrayCumSum(arrayMap(x -> x.3, changes)) AS down,
            arrayMap((t, next) -> t != next, ts, arrayPushBack(arrayPopFront(ts), toInt64(-1))) AS instant_end,
            arrayFirstIndex((a, d, e) -> e AND 2 * (a - d) >= a, affected, down, instant_end) AS i50,
            arrayFirstIndex((a, d, e) -> e AND 10 * (a - d) >= 9 * a, affected, down, instant_end) AS i90,
            arrayFirstIndex((a, d, e) -> e AND d = 0, affected, down, instant_end) AS i100,
            arraySort(groupArrayIf(ms, is_comm)) AS comms,
            arrayFirstIndex(c -> c >= first_impact_ms, comms) AS ic,
            arrayFilter(x -> x.1 IS NOT NULL, [
              (toNullable(first_impact_ms), 'first_impact', 'First impact'),
              (if(ic = 0, NULL, comms[ic]), 'first_contact', 'First communication'),
              (if(i50 = 0, NULL, ts[i50]), 'recovery_50', 'Recovery reached 50 %'),
              (if(i90 = 0, NULL, ts[i90]), 'recovery_90', 'Recovery reached 90 %'),
              (if(i100 = 0, NULL, ts[i100]), 'recovery_100', 'Recovery reached 100 %')]) AS computed
          FROM (
            SELECT incident_id, change.1 AS ms, change.2 AS d_affected, change.3 AS d_down, false AS is_comm
            FROM {db}.grafana_access_intervals
            ARRAY JOIN arrayConcat([(toUnixTimestamp64Milli(lost_at), toInt64(outage = 1), toInt64(1))],
              if(restored_at IS NULL, [], [(toUnixTimestamp64Milli(assumeNotNull(restored_at)), toInt64(0), toInt64(-1))])) AS change
            UNION ALL
            SELECT incident_id, toUnixTimestamp64Milli(sent_at), 0, 0, true FROM {db}.grafana_communications
          )
          GROUP BY incident_id
          HAVING countIf(NOT is_comm) > 0
        )
        ARRAY JOIN computed AS m
        UNION ALL
        SELECT incident_id, occurred_at AS at, 'milestone' AS kind, label
        FROM {db}.grafana_events
        WHERE type = 'milestone'`,
      // Incidents with events or metadata (as GET /incidents lists them): without metadata the
      // title is the incident id and the status ongoing. For the dashboard's incident variable.
      `CREATE OR REPLACE VIEW {db}.grafana_incidents DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
        SELECT if(e.incident_id != '', e.incident_id, m.incident_id) AS incident_id,
          if(m.title != '', m.title, incident_id) AS title,
          if(m.status != '', m.status, 'ongoing') AS status,
          m.severity AS severity,
          if(e.incident_id != '', toNullable(e.first_event_at), NULL) AS first_event_at,
          if(e.incident_id != '', toNullable(e.last_event_at), NULL) AS last_event_at
        FROM (SELECT incident_id, min(occurred_at) AS first_event_at, max(occurred_at) AS last_event_at FROM {db}.grafana_events GROUP BY incident_id) AS e
        FULL OUTER JOIN (SELECT incident_id, title, status, severity FROM {db}.incidents FINAL) AS m ON m.incident_id = e.incident_id`,
    ],
  },
  {
    version: 12,
    name: 'leases: the work done once per database by one of several servers',
    // server/storage/lease.ts: the newest claim of a name is the lease (who holds it, until when).
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.leases (name String, holder String, expires_ms Int64, claimed_us UInt64)
       ENGINE = ReplacingMergeTree(claimed_us) ORDER BY name`,
    ],
  },
  {
    version: 13,
    name: 'tenant_state: drop the retired fin_* columns',
    // fin_closed_ms, fin_comms, fin_stage, fin_progress (migration 5) held a tenant's final state;
    // rows are evaluated from the other facts instead (the JS twins of server/metrics/figures.ts), and the
    // derivation never names them (tenant_state_writer selects its columns from
    // tenant_state_input, which has none of them), so they only held their defaults. No view
    // reads tenant_state. A part loses the column's files and keeps the others as they are: the
    // rows stay, with every other column (test/integration/schema-snapshot.test.ts).
    statements: [
      `ALTER TABLE {db}.tenant_state
        DROP COLUMN IF EXISTS fin_closed_ms,
        DROP COLUMN IF EXISTS fin_comms,
        DROP COLUMN IF EXISTS fin_stage,
        DROP COLUMN IF EXISTS fin_progress`,
    ],
  },
  {
    version: 14,
    name: 'cards: the writers built from the one card layout (storage/card-layout.ts)',
    // Migration 6 wrote the card layout out literally in its two views while the timeline decoded
    // the cards by position, with nothing tying the two. The views are recreated from
    // TENANT_CARD_FIELDS and META_CARD_FIELDS, which the reader decodes by; the layout is the same
    // as migration 6's, so the stored cards stay valid.
    statements: [
      'DROP VIEW IF EXISTS {db}.tenant_card_writer',
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tenant_card_writer TO {db}.cards AS ${TENANT_CARD_SELECT} FROM {db}.tenant_state_input`,
      'DROP VIEW IF EXISTS {db}.tenant_meta_writer',
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tenant_meta_writer TO {db}.cards AS ${META_CARD_SELECT} FROM {db}.tenants`,
    ],
  },
]
