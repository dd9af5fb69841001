/**
 * A benchmark incident generated inside ClickHouse (INSERT … SELECT FROM numbers(…)): the shape
 * bench/queries.ts describes (each tenant: access_lost, restore_started, two restore_progress,
 * restore_completed, access_restored for 90 %, three direct communications; 5 % flap, 1 % stray
 * restores), broadcasts at a fixed interval, a few milestones, and tenant metadata tier, region,
 * seats (and `account`, with `accountValues` distinct values, for group_by over many groups).
 *
 * The helpers below (per-tenant events, broadcasts, milestones, tenant metadata) are shared with
 * other generated shapes (bench/lib/scale-incident.ts).
 */
import type { Params, Store } from '../../server/storage/client.js'

export const H = 3_600_000
export const D = 24 * H

export interface IncidentShape {
  incident: string
  tenants: number
  baseMs: number
  /** Broadcast communications, spread evenly over 14 days (default: one every 3 h, 112). */
  broadcasts?: number
  /** Distinct values of the `account` attribute (default 5,000). */
  accountValues?: number
  /** Tenant ids are `${prefix}${n}` (default tenant-). */
  prefix?: string
}

export interface PerTenantEvents {
  incident: string
  tenants: number
  /** Tenant ids are `${prefix}${n}`, n from 0. */
  prefix: string
  /**
   * Comma-separated `expression AS name` columns computed per tenant from `number` (its n), which
   * `events` may use; bound parameters of `params` as {name:Type}.
   */
  columns: string
  /**
   * An array of (seq, type, ms, progress) tuples, one per possible event of the tenant: an entry
   * with ms = 0 is no event. Each becomes an event `${tenant_id}-${seq}`; communications get the
   * channel `email`.
   */
  events: string
  params?: Params
  /** Tenants per INSERT (bounded memory at any size); default 200,000. */
  chunk?: number
}

/** Events of every tenant, generated inside ClickHouse one chunk of tenants per INSERT … SELECT FROM numbers. */
export async function insertPerTenantEvents(store: Store, spec: PerTenantEvents): Promise<void> {
  const chunk = spec.chunk ?? 200_000
  for (let start = 0; start < spec.tenants; start += chunk) {
    const count = Math.min(chunk, spec.tenants - start)
    await store.command(
      `INSERT INTO ${store.db}.events (incident_id, tenant_id, event_id, type, occurred_at, progress, channel, label, message)
       SELECT {incident:String}, tenant_id, concat(tenant_id, '-', toString(e.1)), e.2,
              fromUnixTimestamp64Milli(toInt64(e.3), 'UTC'), e.4, if(e.2 = 'communication', 'email', ''), '', ''
       FROM (
         SELECT concat({prefix:String}, toString(number)) AS tenant_id,
           ${spec.columns},
           ${spec.events} AS evs
         FROM numbers({start:UInt64}, {count:UInt64})
       )
       ARRAY JOIN arrayFilter(x -> x.3 > 0, evs) AS e`,
      { ...spec.params, incident: spec.incident, start, count, prefix: spec.prefix },
    )
  }
}

/** `count` broadcast communications (tenant_id '', channel status_page), the i-th at fromMs + i × spanMs / count. */
export async function insertBroadcasts(store: Store, spec: { incident: string; count: number; fromMs: number; spanMs: number }): Promise<void> {
  await store.command(
    `INSERT INTO ${store.db}.events (incident_id, tenant_id, event_id, type, occurred_at, progress, channel, label, message)
     SELECT {incident:String}, '', concat('broadcast-', toString(number)), 'communication',
            fromUnixTimestamp64Milli(toInt64({from:Int64} + intDiv(number * {span:UInt64}, {count:UInt64})), 'UTC'), NULL, 'status_page', '', ''
     FROM numbers({count:UInt64})`,
    { incident: spec.incident, from: spec.fromMs, span: spec.spanMs, count: spec.count },
  )
}

/** Milestones (tenant_id ''), the i-th with event id `milestone-${i}`. */
export async function insertMilestones(store: Store, spec: { incident: string; milestones: { ms: number; label: string }[] }): Promise<void> {
  await store.command(
    `INSERT INTO ${store.db}.events (incident_id, tenant_id, event_id, type, occurred_at, progress, channel, label, message)
     SELECT {incident:String}, '', concat('milestone-', toString(m.1 - 1)), 'milestone', fromUnixTimestamp64Milli(m.2, 'UTC'), NULL, '', m.3, ''
     FROM (SELECT arrayJoin(arrayZip(arrayEnumerate({ms:Array(Int64)}), {ms:Array(Int64)}, {labels:Array(String)})) AS m)`,
    { incident: spec.incident, ms: spec.milestones.map((m) => m.ms), labels: spec.milestones.map((m) => m.label) },
  )
}

/**
 * Tenant metadata for tenants `${prefix}0` … `${prefix}${n - 1}`: name `Customer N`, attributes tier
 * (4 values), region (4 values), seats (1–500, also the numeric attribute `seats`) and account
 * (`accountValues` values, default 5,000).
 */
export async function insertTenants(store: Store, spec: { tenants: number; prefix: string; accountValues?: number }): Promise<void> {
  await store.command(
    `INSERT INTO ${store.db}.tenants (tenant_id, name, attributes, num_attributes, version)
     SELECT concat({prefix:String}, toString(number)), concat('Customer ', toString(number)),
       map('tier', ['free', 'standard', 'premium', 'enterprise'][1 + cityHash64(number, 20) % 4],
           'region', ['us-east', 'us-west', 'eu-central', 'ap-southeast'][1 + cityHash64(number, 21) % 4],
           'seats', toString(seats),
           'account', concat('acct-', toString(cityHash64(number, 23) % {accounts:UInt64}))),
       map('seats', toFloat64(seats)), 1
     FROM (SELECT number, 1 + cityHash64(number, 22) % 500 AS seats FROM numbers({n:UInt64}))`,
    { n: spec.tenants, prefix: spec.prefix, accounts: spec.accountValues ?? 5000 },
  )
}

export async function generateIncident(store: Store, shape: IncidentShape): Promise<void> {
  const { incident, tenants, baseMs } = shape
  const prefix = shape.prefix ?? 'tenant-'
  await insertPerTenantEvents(store, {
    incident,
    tenants,
    prefix,
    params: { base: baseMs },
    columns: `
      toInt64({base:Int64} + cityHash64(number, 1) % (6 * ${H})) AS lost_t,
      lost_t + ${H} + cityHash64(number, 2) % (3 * ${D}) AS start_t,
      start_t + cityHash64(number, 3) % ${D} AS p1_t,
      p1_t + cityHash64(number, 4) % ${D} AS p2_t,
      p2_t + cityHash64(number, 5) % ${D} AS done_t,
      done_t + cityHash64(number, 6) % (6 * ${H}) AS back_t,
      cityHash64(number, 7) % 10 != 0 AS comes_back,
      cityHash64(number, 8) % 20 = 0 AS flaps,
      cityHash64(number, 9) % 100 = 0 AS stray`,
    events: `[
      (1, 'access_lost', lost_t, NULL),
      (2, 'restore_started', start_t, NULL),
      (3, 'restore_progress', p1_t, 0.4),
      (4, 'restore_progress', p2_t, 0.8),
      (5, 'restore_completed', done_t, NULL),
      (6, 'access_restored', if(comes_back, back_t, 0), NULL),
      (7, 'communication', lost_t + cityHash64(number, 10) % (12 * ${H}), NULL),
      (8, 'communication', lost_t + ${D} + cityHash64(number, 11) % (2 * ${D}), NULL),
      (9, 'communication', if(comes_back, back_t + 60000, start_t + 5 * ${D}), NULL),
      (10, 'access_lost', if(flaps AND comes_back, back_t + ${H}, 0), NULL),
      (11, 'access_restored', if(flaps AND comes_back, back_t + 3 * ${H}, 0), NULL),
      (12, 'access_restored', if(stray, lost_t - ${H}, 0), NULL)
    ]`,
  })
  await insertBroadcasts(store, { incident, count: shape.broadcasts ?? 112, fromMs: baseMs, spanMs: 14 * D })
  await insertMilestones(store, { incident, milestones: Array.from({ length: 6 }, (_, i) => ({ ms: baseMs + i * 2 * D + H, label: `milestone ${i}` })) })
  await insertTenants(store, { tenants, prefix, accountValues: shape.accountValues })
}
