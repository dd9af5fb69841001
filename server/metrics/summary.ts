import type { Store } from '../storage/client.js'
import { chTime, isoTime, parseAttributeName, parseDuration, single, type QueryScope, type RawQuery } from './filters.js'
import { tenantStateSql } from './tenant-state.js'

export interface SummaryParams {
  weight?: string
  staleAfterMs: number
}

export function parseSummaryParams(q: RawQuery): SummaryParams {
  const stale = single(q, 'stale_after')
  return { weight: parseAttributeName(q, 'weight'), staleAfterMs: Math.round(parseDuration(stale || '24h', 'stale_after') * 1000) }
}

export interface Summary {
  incident_id: string
  as_of: string
  affected: number
  restored: number
  down: number
  recovery_pct: number | null
  weighted: { weight: string; affected: number; restored: number; recovery_pct: number | null } | null
  downtime_s: { median: number | null; p90: number | null; max: number | null; total: number }
  first_contact_latency_s: { median: number | null; p90: number | null; max: number | null }
  waiting_first_contact: number
  stale: number
  stale_after_s: number
  stages: { not_started: number; in_progress: number; completed: number }
  milestones: {
    first_impact_at: string | null
    first_contact_at: string | null
    pct50_at: string | null
    pct90_at: string | null
    pct100_at: string | null
    events: { at: string; label: string }[]
  }
  eta: { at: string; low: string; high: string; method: string } | null
}

/** ETA: restores over this trailing window (or since first impact, when shorter). */
export const ETA_WINDOW_MS = 24 * 3600_000
/** z for a two-sided 90 % interval. */
const Z90 = 1.645

interface Totals {
  affected: number
  restored: number
  w_affected: number
  w_restored: number
  dt_median: number | null
  dt_p90: number | null
  dt_max: number | null
  dt_total_ms: number
  fc_median: number | null
  fc_p90: number | null
  fc_max: number | null
  waiting: number
  stale: number
  not_started: number
  in_progress: number
  completed: number
  first_impact_ms: number | null
  recent_restores: number
}

const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : null)
const nullableNumber = (v: unknown) => (v === null || v === undefined || Number.isNaN(Number(v)) ? null : Number(v))

export async function summary(store: Store, scope: QueryScope, p: SummaryParams): Promise<Summary> {
  const core = tenantStateSql(store, scope, {
    weight: p.weight,
    staleAfterMs: p.staleAfterMs,
    columns: ['down', 'downtime_ms', 'first_contact_ms', 'first_lost_ms', 'stale', 'restore_stage', 'closes', 'starts'],
  })
  const weighted = p.weight !== undefined
  const etaWindowStart = scope.asOfMs - ETA_WINDOW_MS
  const [t] = await store.rows<Totals & { p50: string | null; p90: string | null; p100: string | null }>(
    `SELECT * EXCEPT (ds), ${MILESTONE_COLUMNS}
     FROM (SELECT
       count() AS affected,
       countIf(NOT down) AS restored,
       ${weighted ? 'sum(weight)' : '0'} AS w_affected,
       ${weighted ? 'sumIf(weight, NOT down)' : '0'} AS w_restored,
       if(affected = 0, NULL, quantileExactInclusive(0.5)(downtime_ms) / 1000) AS dt_median,
       if(affected = 0, NULL, quantileExactInclusive(0.9)(downtime_ms) / 1000) AS dt_p90,
       if(affected = 0, NULL, max(downtime_ms) / 1000) AS dt_max,
       sum(downtime_ms) AS dt_total_ms,
       if(count(first_contact_ms) = 0, NULL, quantileExactInclusive(0.5)(first_contact_ms - first_lost_ms) / 1000) AS fc_median,
       if(count(first_contact_ms) = 0, NULL, quantileExactInclusive(0.9)(first_contact_ms - first_lost_ms) / 1000) AS fc_p90,
       if(count(first_contact_ms) = 0, NULL, max(first_contact_ms - first_lost_ms) / 1000) AS fc_max,
       countIf(first_contact_ms IS NULL) AS waiting,
       countIf(stale) AS stale,
       countIf(restore_stage = 'not_started') AS not_started,
       countIf(restore_stage = 'in_progress') AS in_progress,
       countIf(restore_stage = 'completed') AS completed,
       if(affected = 0, NULL, min(first_lost_ms)) AS first_impact_ms,
       sum(arrayCount(c -> c > {eta_from:Int64}, closes)) AS recent_restores,
       arraySort(groupArrayArray(arrayConcat([first_lost_ms * 4], arrayMap(s -> s * 4 + 1, starts), arrayMap(c -> c * 4 + 2, closes)))) AS ds
     FROM (${core.sql}))`,
    { ...core.params, eta_from: etaWindowStart },
  )
  const affected = Number(t!.affected)
  const restored = Number(t!.restored)
  const down = affected - restored
  const firstImpactMs = nullableNumber(t!.first_impact_ms)
  const milestones = { pct50: t!.p50, pct90: t!.p90, pct100: t!.p100 }
  const events = await incidentEvents(store, scope, firstImpactMs)
  return {
    incident_id: scope.incidentId,
    as_of: isoTime(scope.asOfMs),
    affected,
    restored,
    down,
    recovery_pct: pct(restored, affected),
    weighted: weighted
      ? { weight: p.weight!, affected: Number(t!.w_affected), restored: Number(t!.w_restored), recovery_pct: pct(Number(t!.w_restored), Number(t!.w_affected)) }
      : null,
    downtime_s: { median: nullableNumber(t!.dt_median), p90: nullableNumber(t!.dt_p90), max: nullableNumber(t!.dt_max), total: Number(t!.dt_total_ms) / 1000 },
    first_contact_latency_s: { median: nullableNumber(t!.fc_median), p90: nullableNumber(t!.fc_p90), max: nullableNumber(t!.fc_max) },
    waiting_first_contact: Number(t!.waiting),
    stale: Number(t!.stale),
    stale_after_s: p.staleAfterMs / 1000,
    stages: { not_started: Number(t!.not_started), in_progress: Number(t!.in_progress), completed: Number(t!.completed) },
    milestones: {
      first_impact_at: firstImpactMs === null ? null : isoTime(firstImpactMs),
      first_contact_at: events.firstContactMs === null ? null : isoTime(events.firstContactMs),
      pct50_at: milestones.pct50,
      pct90_at: milestones.pct90,
      pct100_at: milestones.pct100,
      events: events.milestones,
    },
    eta: eta(scope.asOfMs, firstImpactMs, down, Number(t!.recent_restores)),
  }
}

/**
 * Forecast of full recovery: the tenants still down divided by the restore rate over the
 * trailing window; the range comes from a 90 % Poisson interval on the restore count
 * (Wilson–Hilferty approximation), so few restores give a wide range.
 */
export function eta(asOfMs: number, firstImpactMs: number | null, down: number, restores: number): Summary['eta'] {
  if (down === 0 || restores === 0 || firstImpactMs === null) return null
  const windowMs = Math.min(ETA_WINDOW_MS, asOfMs - firstImpactMs)
  if (windowMs <= 0) return null
  const n = restores
  const upper = (n + 1) * (1 - 1 / (9 * (n + 1)) + Z90 / (3 * Math.sqrt(n + 1))) ** 3
  const lower = n * (1 - 1 / (9 * n) - Z90 / (3 * Math.sqrt(n))) ** 3
  const at = (count: number) => isoTime(Math.round(asOfMs + (down * windowMs) / count))
  const hours = windowMs / 3600_000
  const span = hours >= 24 ? 'last 24 h' : `${formatHours(hours)} since first impact`
  return {
    at: at(n),
    low: at(upper),
    high: at(lower),
    method:
      `${n} tenant${n === 1 ? '' : 's'} got access back in the ${span} (${formatRate(n / hours)}); ` +
      `at that rate the ${down} still down are back by the ETA. ` +
      `The range is a 90 % Poisson interval on that restore count.`,
  }
}

const formatHours = (h: number) => (h >= 1 ? `${h.toFixed(1)} h` : `${Math.round(h * 60)} min`)
const formatRate = (perHour: number) => (perHour >= 1 ? `${perHour.toFixed(1)} per hour` : `${(perHour * 24).toFixed(1)} per day`)

/**
 * First moments recovery reached 50 / 90 / 100 %: exact, from every change of affected and down
 * (ds: each tenant's first loss (+1 affected), interval starts (+1 down) and ends (−1 down),
 * as ms * 4 + kind so that a plain Int64 sort orders them by time). The running sums are checked only at the last change of each instant, and
 * compared in integers.
 */
const MILESTONE_COLUMNS = `
  arrayMap(d -> intDiv(d, 4), ds) AS ds_t,
  arrayCumSum(arrayMap(d -> toInt64(d % 4 = 0), ds)) AS ds_aff,
  arrayCumSum(arrayMap(d -> multiIf(d % 4 = 1, toInt64(1), d % 4 = 2, toInt64(-1), toInt64(0)), ds)) AS ds_down,
  if(empty(ds_t), [], arrayPushBack(arrayMap((a, b) -> a != b, arrayPopBack(ds_t), arrayPopFront(ds_t)), 1)) AS ds_last,
  arrayFirstIndex((a, d, l) -> l AND a > 0 AND 2 * (a - d) >= a, ds_aff, ds_down, ds_last) AS i50,
  arrayFirstIndex((a, d, l) -> l AND a > 0 AND 10 * (a - d) >= 9 * a, ds_aff, ds_down, ds_last) AS i90,
  arrayFirstIndex((a, d, l) -> l AND a > 0 AND d = 0, ds_aff, ds_down, ds_last) AS i100,
  if(i50 = 0, NULL, fromUnixTimestamp64Milli(ds_t[i50], 'UTC')) AS p50,
  if(i90 = 0, NULL, fromUnixTimestamp64Milli(ds_t[i90], 'UTC')) AS p90,
  if(i100 = 0, NULL, fromUnixTimestamp64Milli(ds_t[i100], 'UTC')) AS p100`

/** Milestone events and the first communication of any kind at or after first impact. */
async function incidentEvents(store: Store, scope: QueryScope, firstImpactMs: number | null) {
  const db = store.db
  const rows = await store.rows<{ at: string; label: string; type: string }>(
    `SELECT occurred_at AS at, label, toString(type) AS type FROM (
       SELECT occurred_at, label, type, event_id FROM ${db}.events FINAL
       WHERE incident_id = {incident:String} AND type = 'milestone' AND occurred_at <= {as_of:DateTime64(3, 'UTC')}
       ORDER BY occurred_at, event_id LIMIT 1000
       UNION ALL
       SELECT occurred_at, '' AS label, type, event_id FROM ${db}.events FINAL
       WHERE incident_id = {incident:String} AND type = 'communication'
         AND occurred_at <= {as_of:DateTime64(3, 'UTC')} AND toUnixTimestamp64Milli(occurred_at) >= {fi:Int64}
       ORDER BY occurred_at, event_id LIMIT 1
     ) ORDER BY occurred_at, event_id`,
    { incident: scope.incidentId, as_of: chTime(scope.asOfMs), fi: firstImpactMs ?? Number.MAX_SAFE_INTEGER },
  )
  const comm = rows.find((r) => r.type === 'communication')
  return {
    milestones: rows.filter((r) => r.type === 'milestone').map((r) => ({ at: r.at, label: r.label })),
    firstContactMs: comm ? Date.parse(comm.at) : null,
  }
}
