/**
 * An incident in the shape of the July 2024 CrowdStrike outage, generated inside ClickHouse
 * (INSERT … SELECT FROM numbers(…), through the helpers of bench/lib/incident.ts), for any number
 * of tenants: the same shape at 213k tenants (≈1M events), 2.1M (≈10M) and 8.5M (≈40M).
 *
 * - Loss: every tenant loses access within 90 minutes from 2024-07-19 04:09 UTC (front-loaded:
 *   the n-th at base + 90 min × u², u uniform).
 * - Recovery: 1 % are still down at the end; the others are restored at a time drawn from a
 *   piecewise-linear curve (RECOVERY_CURVE, days after 04:09): 77 % of all tenants restored by
 *   day 3, 97 % on day 6, 99 % by day 10.
 * - 25 % of the restored tenants flap first (a boot loop): back up part-way, then down again.
 * - 55 % report restore steps in their last outage: restore_started, 1–3 restore_progress
 *   (0.3, 0.6, 0.9) and, once restored, restore_completed.
 * - 3 % get direct contacts (email): one within 2–24 h of the loss, half of them a second one
 *   1–3 days later (a few hundred thousand at 8.5M tenants).
 * - Broadcasts (tenant_id '', status_page) every 3 h for 14 days; four milestones.
 * - Tenant metadata: tier, region, seats (numeric too), account (insertTenants).
 * On average 4.74 events a tenant (sizes use EVENTS_PER_TENANT = 4.7: 40M events → 8.5M tenants).
 */
import type { Store } from '../../server/storage/client.js'
import { D, H, insertBroadcasts, insertMilestones, insertPerTenantEvents, insertTenants } from './incident.js'

export const SCALE_INCIDENT = 'crowdstrike-2024-07'
export const SCALE_PREFIX = 'host-'
/** 2024-07-19 04:09 UTC: the faulty channel file goes out. */
export const SCALE_BASE_MS = Date.parse('2024-07-19T04:09:00.000Z')
/** Events per tenant the sizes are computed with (measured 4.74: 1 loss, 0.99 restores, 0.5 flap events, 2.2 restore steps, 0.045 contacts). */
export const EVENTS_PER_TENANT = 4.7
/** Tenants for about `events` events. */
export const tenantsForEvents = (events: number) => Math.max(1, Math.round(events / EVENTS_PER_TENANT))

/** Share of the tenants restored (among those that are restored at all) by day d after the loss: [day, share]. */
export const RECOVERY_CURVE: [days: number, share: number][] = [
  [0.05, 0],
  [1, 0.35],
  [2, 0.62],
  [3, 0.78],
  [4, 0.88],
  [5, 0.94],
  [6, 0.98],
  [8, 0.995],
  [10, 1],
]
/** Tenants never restored within the incident (basis points). */
const STILL_DOWN_BP = 100
const FLAP_PCT = 25
const STEPS_BP = 5500
const CONTACT_BP = 300

export async function generateScaleIncident(store: Store, opts: { tenants: number; incident?: string; prefix?: string; baseMs?: number }): Promise<void> {
  const incident = opts.incident ?? SCALE_INCIDENT
  const prefix = opts.prefix ?? SCALE_PREFIX
  const base = opts.baseMs ?? SCALE_BASE_MS
  const u = (salt: number) => `(cityHash64(number, ${salt}) % 1000000) / 1000000`
  // The time of a step at share `f` of the tenant's last outage (os_t … re_t).
  const step = (f: number) => `os_t + toInt64((re_t - os_t) * ${f})`
  await insertPerTenantEvents(store, {
    incident,
    tenants: opts.tenants,
    prefix,
    params: { base, days: RECOVERY_CURVE.map((c) => c[0]), shares: RECOVERY_CURVE.map((c) => c[1]), end: base + 12 * D },
    columns: `
      ${u(101)} AS u_lost,
      toInt64({base:Int64} + 90 * 60000 * u_lost * u_lost) AS lost_t,
      cityHash64(number, 102) % 10000 < ${STILL_DOWN_BP} AS stays_down,
      ${u(103)} AS u_back,
      greatest(arrayFirstIndex(f -> f >= u_back, {shares:Array(Float64)}), 2) AS k,
      {days:Array(Float64)}[k - 1] + (u_back - {shares:Array(Float64)}[k - 1]) / ({shares:Array(Float64)}[k] - {shares:Array(Float64)}[k - 1])
        * ({days:Array(Float64)}[k] - {days:Array(Float64)}[k - 1]) AS back_days,
      greatest(toInt64({base:Int64} + back_days * ${D}), lost_t + 20 * 60000) AS back_t,
      NOT stays_down AND cityHash64(number, 104) % 100 < ${FLAP_PCT} AS flaps,
      lost_t + toInt64((back_t - lost_t) * (0.2 + 0.4 * ${u(105)})) AS flap_up_t,
      flap_up_t + toInt64((back_t - flap_up_t) * 0.3) AS flap_down_t,
      if(flaps, flap_down_t, lost_t) AS os_t,
      if(stays_down, {end:Int64}, back_t) AS re_t,
      cityHash64(number, 106) % 10000 < ${STEPS_BP} AS steps,
      1 + cityHash64(number, 107) % 3 AS nprog,
      cityHash64(number, 108) % 10000 < ${CONTACT_BP} AS contacted,
      cityHash64(number, 109) % 2 = 0 AS second,
      lost_t + 2 * ${H} + cityHash64(number, 110) % (22 * ${H}) AS c1_t,
      c1_t + ${D} + cityHash64(number, 111) % (2 * ${D}) AS c2_t`,
    events: `[
      (1, 'access_lost', lost_t, NULL),
      (2, 'access_restored', if(flaps, flap_up_t, 0), NULL),
      (3, 'access_lost', if(flaps, flap_down_t, 0), NULL),
      (4, 'restore_started', if(steps, ${step(0.15)}, 0), NULL),
      (5, 'restore_progress', if(steps, ${step(0.35)}, 0), 0.3),
      (6, 'restore_progress', if(steps AND nprog >= 2, ${step(0.55)}, 0), 0.6),
      (7, 'restore_progress', if(steps AND nprog >= 3, ${step(0.75)}, 0), 0.9),
      (8, 'restore_completed', if(steps AND NOT stays_down, ${step(0.9)}, 0), NULL),
      (9, 'access_restored', if(stays_down, 0, back_t), NULL),
      (10, 'communication', if(contacted, c1_t, 0), NULL),
      (11, 'communication', if(contacted AND second, c2_t, 0), NULL)
    ]`,
  })
  // One broadcast every 3 h from 04:39 on, for 14 days.
  await insertBroadcasts(store, { incident, count: (14 * D) / (3 * H), fromMs: base + 30 * 60_000, spanMs: 14 * D })
  await insertMilestones(store, {
    incident,
    milestones: [
      { ms: base + 78 * 60_000, label: 'Faulty update reverted' },
      { ms: base + D, label: 'Recovery tool released' },
      { ms: base + 6 * D, label: '97 % of hosts back online' },
      { ms: base + 10 * D, label: '99 % of hosts back online' },
    ],
  })
  await insertTenants(store, { tenants: opts.tenants, prefix })
  await store.command(
    `INSERT INTO ${store.db}.incidents (incident_id, title, description, severity, status, version)
     VALUES ({incident:String}, 'Endpoint agent update crashes hosts (July 2024 shape)', 'Synthetic incident in the shape of the July 2024 CrowdStrike outage (bench/lib/scale-incident.ts).', 'critical', 'ongoing', 1)`,
    { incident },
  )
}
