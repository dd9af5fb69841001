import type { Store } from '../storage/client.js'
import { isoTime, parseAttributeName, parseDuration, single, type QueryScope, type RawQuery } from './filters.js'
import type { StateSync } from './state-sync.js'
import { commPolicyJson, type CommPolicy } from '../domain/comm-policy.js'
import { countCodes, downtimesAt, firstContactsOnTime, upperBound, type Changes, type IncidentLog } from './incident-log.js'
import { incidentPolicy } from './policy.js'
import { quantileInclusiveUnsorted } from './series.js'
import { ALL_TIME_MS, COMMS_CODES, DEFAULT_STALE_AFTER_MS, OPEN_END, OPEN_END_MS, RECOVERY_CODES, tenantStateSql } from './tenant-state.js'

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
  /** SPEC §6: tenants overdue for a contact at T, and the share of those that count first contacted within the policy. */
  overdue: number
  first_contact_on_time_pct: number | null
  comm_policy: ReturnType<typeof commPolicyJson>
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
  recent_restores: number
  overdue: number
  fc_counted: number
  fc_on_time: number
}

const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : null)
const nullableNumber = (v: unknown) => (v === null || v === undefined || Number.isNaN(Number(v)) ? null : Number(v))

export async function summary(store: Store, state: StateSync, scope: QueryScope, p: SummaryParams): Promise<Summary> {
  const weighted = p.weight !== undefined
  const etaWindowStart = scope.asOfMs - ETA_WINDOW_MS
  // The default view takes every figure from the incident log when it is current (no statement
  // runs); any other view, or an incident still changing, is computed in ClickHouse.
  const fromLog = !weighted && scope.filters.length === 0 && !scope.includeBroadcast && p.staleAfterMs === DEFAULT_STALE_AFTER_MS
  const policy = await incidentPolicy(store, state, scope.incidentId)
  const log = fromLog ? await state.incidentLog(scope.incidentId, policy) : null
  const [t, facts, milestoneEvents] = await Promise.all([
    log ? countsFromLog(log, scope.asOfMs, etaWindowStart, policy) : totalsFromSql(store, scope, p, policy),
    incidentFacts(store, state, scope),
    milestoneEventsAt(store, state, scope),
  ])
  const affected = Number(t!.affected)
  const restored = Number(t!.restored)
  const down = affected - restored
  // Facts of all time, seen from T: a moment after T had not happened yet.
  const upTo = (ms: number | null) => (ms !== null && ms <= scope.asOfMs ? ms : null)
  const firstImpactMs = upTo(facts.firstImpactMs)
  const at = (ms: number | null) => {
    const v = firstImpactMs === null ? null : upTo(ms)
    return v === null ? null : isoTime(v)
  }
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
    overdue: Number(t!.overdue),
    first_contact_on_time_pct: pct(Number(t!.fc_on_time), Number(t!.fc_counted)),
    comm_policy: commPolicyJson(policy),
    stages: { not_started: Number(t!.not_started), in_progress: Number(t!.in_progress), completed: Number(t!.completed) },
    milestones: {
      first_impact_at: at(facts.firstImpactMs),
      first_contact_at: at(facts.firstContactMs),
      pct50_at: at(facts.pct50Ms),
      pct90_at: at(facts.pct90Ms),
      pct100_at: at(facts.pct100Ms),
      events: milestoneEvents,
    },
    eta: eta(scope.asOfMs, firstImpactMs, down, Number(t!.recent_restores)),
  }
}

/** The summary's figures at T computed in ClickHouse from every tenant's state. */
async function totalsFromSql(store: Store, scope: QueryScope, p: SummaryParams, policy: CommPolicy): Promise<Totals> {
  const weighted = p.weight !== undefined
  const core = tenantStateSql(store, scope, {
    weight: p.weight,
    staleAfterMs: p.staleAfterMs,
    policy,
    columns: ['down', 'downtime_ms', 'first_contact_ms', 'first_lost_ms', 'stale', 'restore_stage', 'closes_at', 'overdue', 'fc_counted', 'fc_on_time'],
  })
  const [totals] = await store.rows<Totals>(
    `SELECT
       count() AS affected,
       if(affected = 0, NULL, quantileExactInclusive(0.5)(downtime_ms) / 1000) AS dt_median,
       if(affected = 0, NULL, quantileExactInclusive(0.9)(downtime_ms) / 1000) AS dt_p90,
       if(affected = 0, NULL, max(downtime_ms) / 1000) AS dt_max,
       sum(downtime_ms) AS dt_total_ms,
       countIf(NOT down) AS restored,
       if(count(first_contact_ms) = 0, NULL, quantileExactInclusive(0.5)(first_contact_ms - first_lost_ms) / 1000) AS fc_median,
       if(count(first_contact_ms) = 0, NULL, quantileExactInclusive(0.9)(first_contact_ms - first_lost_ms) / 1000) AS fc_p90,
       if(count(first_contact_ms) = 0, NULL, max(first_contact_ms - first_lost_ms) / 1000) AS fc_max,
       ${weighted ? 'sum(weight)' : '0'} AS w_affected,
       ${weighted ? 'sumIf(weight, NOT down)' : '0'} AS w_restored,
       countIf(first_contact_ms IS NULL) AS waiting,
       countIf(stale) AS stale,
       countIf(restore_stage = 'not_started') AS not_started,
       countIf(restore_stage = 'in_progress') AS in_progress,
       countIf(restore_stage = 'completed') AS completed,
       sum(arrayCount(c -> c > {eta_from:Int64}, closes_at)) AS recent_restores,
       countIf(overdue) AS overdue,
       countIf(fc_counted) AS fc_counted,
       countIf(fc_on_time) AS fc_on_time
     FROM (${core.sql})`,
    { ...core.params, eta_from: scope.asOfMs - ETA_WINDOW_MS },
  )
  return totals!
}

/**
 * The summary's figures at T from the incident log: counts are prefix sums of every tenant's
 * changes, downtime and first-contact quantiles are selected from its per-tenant arrays. No
 * statement runs: the dashboard's default view never waits for the engine.
 */
function countsFromLog(log: IncidentLog, asOfMs: number, etaFromMs: number, policy: CommPolicy): Totals {
  const upTo = (xs: Changes, ms: number) => upperBound(xs.ms, ms)
  const r = countCodes(log.recovery, 0, upTo(log.recovery, asOfMs))
  // Changes that close an outage (a tenant got access back) since the ETA window's start: its restore rate.
  const recent = countCodes(log.recovery, upTo(log.recovery, etaFromMs), upTo(log.recovery, asOfMs))
  const n = { affected: 0, down: 0, not_started: 0, in_progress: 0, completed: 0, recentRestores: 0 }
  for (const [code, delta] of Object.entries(RECOVERY_CODES)) {
    const times = r[Number(code)]!
    n.affected += delta.affected * times
    n.down += delta.down * times
    n.not_started += delta.not_started * times
    n.in_progress += delta.in_progress * times
    n.completed += delta.completed * times
    if (delta.down < 0) n.recentRestores += recent[Number(code)]!
  }
  const c = countCodes(log.comms, 0, upTo(log.comms, asOfMs))
  // First-contact latencies of the tenants contacted by T (contacts come ascending).
  const contacted = log.contactLatencyMs.slice(0, upperBound(log.contactMs, asOfMs))
  let fcMax: number | null = null
  for (const x of contacted) fcMax = fcMax === null || x > fcMax ? x : fcMax
  const fc = (p: number) => {
    const v = quantileInclusiveUnsorted(contacted, p)
    return v === null ? null : v / 1000
  }
  const downtimes = downtimesAt(log, asOfMs)
  const onTime = firstContactsOnTime(log, asOfMs, policy.firstContactWithinMs)
  let dtMax = 0
  let dtTotal = 0
  for (const d of downtimes) {
    dtTotal += d
    if (d > dtMax) dtMax = d
  }
  const dt = (p: number) => {
    const v = quantileInclusiveUnsorted(downtimes, p)
    return v === null ? null : v / 1000
  }
  return {
    affected: n.affected,
    dt_median: dt(0.5),
    dt_p90: dt(0.9),
    dt_max: downtimes.length ? dtMax / 1000 : null,
    dt_total_ms: dtTotal,
    fc_median: fc(0.5),
    fc_p90: fc(0.9),
    fc_max: fcMax === null ? null : fcMax / 1000,
    restored: n.affected - n.down,
    w_affected: 0,
    w_restored: 0,
    waiting: c[COMMS_CODES.affected]! - c[COMMS_CODES.contacted]!,
    stale: c[COMMS_CODES.staleFrom]! - c[COMMS_CODES.staleTo]!,
    overdue: c[COMMS_CODES.overdueFrom]! - c[COMMS_CODES.overdueTo]!,
    fc_counted: onTime.counted,
    fc_on_time: onTime.onTime,
    not_started: n.not_started,
    in_progress: n.in_progress,
    completed: n.completed,
    recent_restores: n.recentRestores,
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
 * Moments of the incident that do not depend on as_of (each is either at or before T, and then
 * the same for every T, or after it and not reached yet): first impact, the first communication
 * of any kind at or after it, and the first moments recovery reached 50 / 90 / 100 %. Computed
 * once per change of the incident (and, with segment filters, of tenant metadata).
 */
export interface IncidentFacts {
  firstImpactMs: number | null
  firstContactMs: number | null
  pct50Ms: number | null
  pct90Ms: number | null
  pct100Ms: number | null
}

function incidentFacts(store: Store, state: StateSync, scope: QueryScope): Promise<IncidentFacts> {
  const key = `facts ${JSON.stringify(scope.filters)}`
  return state.cached(scope.incidentId, key, scope.filters.length > 0 ? 'tenants' : false, () => computeIncidentFacts(store, scope))
}

/**
 * Recovery milestones, exact, from every change of affected and down (rdeltas codes 1-5 of every
 * tenant, as ms * 16 + code, so a plain Int64 sort orders them by time). The running sums are
 * checked only at the last change of each instant, and compared in integers.
 */
const MILESTONE_COLUMNS = `
  arrayMap(d -> intDiv(d, 16), ds) AS ds_t,
  arrayCumSum(arrayMap(d -> toInt64(d % 16 = 1), ds)) AS ds_aff,
  arrayCumSum(arrayMap(d -> if(d % 16 <= 2, toInt64(1), toInt64(-1)), ds)) AS ds_down,
  if(empty(ds_t), [], arrayPushBack(arrayMap((a, b) -> a != b, arrayPopBack(ds_t), arrayPopFront(ds_t)), 1)) AS ds_last,
  arrayFirstIndex((a, d, l) -> l AND a > 0 AND 2 * (a - d) >= a, ds_aff, ds_down, ds_last) AS i50,
  arrayFirstIndex((a, d, l) -> l AND a > 0 AND 10 * (a - d) >= 9 * a, ds_aff, ds_down, ds_last) AS i90,
  arrayFirstIndex((a, d, l) -> l AND a > 0 AND d = 0, ds_aff, ds_down, ds_last) AS i100,
  if(i50 = 0, NULL, ds_t[i50]) AS p50,
  if(i90 = 0, NULL, ds_t[i90]) AS p90,
  if(i100 = 0, NULL, ds_t[i100]) AS p100`

async function computeIncidentFacts(store: Store, scope: QueryScope): Promise<IncidentFacts> {
  const db = store.db
  // All of time: T beyond every event.
  const all = { ...scope, asOfMs: ALL_TIME_MS, includeBroadcast: false }
  const core = tenantStateSql(store, all, { columns: ['first_lost_ms', 'rdeltas'] })
  const [m] = await store.rows<{ fi: number | null; p50: number | null; p90: number | null; p100: number | null }>(
    `SELECT if(n = 0, NULL, fl) AS fi, p50, p90, p100 FROM (
       SELECT fl, n, ${MILESTONE_COLUMNS}
       FROM (SELECT min(first_lost_ms) AS fl, count() AS n, arraySort(groupArrayArray(arrayFilter(d -> d % 16 <= 5, rdeltas))) AS ds FROM (${core.sql})))`,
    core.params,
  )
  const fi = nullableNumber(m?.fi)
  let firstContactMs: number | null = null
  if (fi !== null) {
    // Any communication at or after first impact: direct ones to any tenant (affected or not), or broadcasts.
    const [c] = await store.rows<{ ms: number | null }>(
      `SELECT least(
         (SELECT ifNull(minOrNull(arrayFirst(c -> c >= {fi:Int64}, arrayPushBack(dcomm, ${OPEN_END_MS}))), ${OPEN_END_MS}) FROM ${db}.tenant_state FINAL WHERE incident_id = {incident:String}),
         (SELECT ifNull(minOrNull(toUnixTimestamp64Milli(occurred_at)), ${OPEN_END_MS}) FROM ${db}.events
          WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND toUnixTimestamp64Milli(occurred_at) >= {fi:Int64})) AS ms`,
      { incident: scope.incidentId, fi },
    )
    const ms = nullableNumber(c?.ms)
    firstContactMs = ms === null || ms >= OPEN_END ? null : ms
  }
  return { firstImpactMs: fi, firstContactMs, pct50Ms: nullableNumber(m?.p50), pct90Ms: nullableNumber(m?.p90), pct100Ms: nullableNumber(m?.p100) }
}

/** The incident's milestone events at or before T, in time order (they carry no tenant_id); all of them read once per change. */
async function milestoneEventsAt(store: Store, state: StateSync, scope: QueryScope): Promise<{ at: string; label: string }[]> {
  const all = await state.cached(scope.incidentId, 'milestone events', false, () =>
    store.rows<{ at: string; label: string }>(
      `SELECT occurred_at AS at, label FROM ${store.db}.events FINAL
       WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'milestone'
       ORDER BY occurred_at, event_id`,
      { incident: scope.incidentId },
    ),
  )
  const upTo = isoTime(scope.asOfMs)
  // RFC 3339 UTC with milliseconds compares as text.
  return all.filter((m) => m.at <= upTo).slice(0, MAX_MILESTONE_EVENTS)
}

/** At most this many milestone events are listed. */
const MAX_MILESTONE_EVENTS = 1000
