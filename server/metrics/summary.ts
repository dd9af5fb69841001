import type { Store } from '../storage/client.js'
import { isoTime, nullableNumber, parseAttributeName, parseDuration, single, type QueryScope, type RawQuery } from './filters.js'
import type { StateSync } from './state-sync.js'
import { commPolicyJson, type CommPolicy } from '../domain/comm-policy.js'
import { ETA_WINDOW_MS, eta, type Eta } from './eta.js'
import { countCodes, downtimesAt, firstContactsOnTime, upperBound, type Changes, type IncidentLog } from './incident-log.js'
import { milestonesAt, type Milestones } from './milestones.js'
import { incidentPolicy } from './policy.js'
import { quantileInclusiveUnsorted } from './series.js'
import { logSource } from './source.js'
import { COMMS_CODES, RECOVERY_CODES } from './packing.js'
import { DEFAULT_STALE_AFTER_MS, tenantStateSql } from './tenant-state.js'

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
  milestones: Milestones
  eta: Eta | null
}

/** The summary's counts at T, complete from either source (SQL over tenant_state, or the incident log). */
export interface SummaryCounts {
  affected: number
  restored: number
  /** Sums of the weight attribute over the affected and the restored; null unless the view is weighted. */
  weighted: { affected: number; restored: number } | null
  downtime_s: Summary['downtime_s']
  first_contact_latency_s: Summary['first_contact_latency_s']
  waiting_first_contact: number
  stale: number
  overdue: number
  /** Tenants whose first contact counts for the policy, and those of them contacted within it. */
  fc_counted: number
  fc_on_time: number
  stages: Summary['stages']
  /** Changes that closed an outage since the ETA window's start: the restore rate. */
  recent_restores: number
}

const pct = (part: number, whole: number) => (whole > 0 ? (100 * part) / whole : null)

export async function summary(store: Store, state: StateSync, scope: QueryScope, p: SummaryParams): Promise<Summary> {
  const policy = await incidentPolicy(store, state, scope.incidentId)
  const [t, m] = await Promise.all([summaryCounts(store, state, scope, p, policy), milestonesAt(store, state, scope)])
  const down = t.affected - t.restored
  return {
    incident_id: scope.incidentId,
    as_of: isoTime(scope.asOfMs),
    affected: t.affected,
    restored: t.restored,
    down,
    recovery_pct: pct(t.restored, t.affected),
    weighted: t.weighted ? { weight: p.weight!, ...t.weighted, recovery_pct: pct(t.weighted.restored, t.weighted.affected) } : null,
    downtime_s: t.downtime_s,
    first_contact_latency_s: t.first_contact_latency_s,
    waiting_first_contact: t.waiting_first_contact,
    stale: t.stale,
    stale_after_s: p.staleAfterMs / 1000,
    overdue: t.overdue,
    first_contact_on_time_pct: pct(t.fc_on_time, t.fc_counted),
    comm_policy: commPolicyJson(policy),
    stages: t.stages,
    milestones: m.milestones,
    eta: eta(scope.asOfMs, m.firstImpactMs, down, t.recent_restores),
  }
}

/** The summary's counts from the source logSource (source.ts) chooses: the incident log (no statement runs) or ClickHouse. */
async function summaryCounts(store: Store, state: StateSync, scope: QueryScope, p: SummaryParams, policy: CommPolicy): Promise<SummaryCounts> {
  const log = await logSource(store, state, scope, { communications: true, weight: p.weight, staleAfterMs: p.staleAfterMs })
  return log ? countsFromLog(log, scope.asOfMs, scope.asOfMs - ETA_WINDOW_MS, policy) : countsFromSql(store, scope, p, policy)
}

/** The summary's counts at T computed in ClickHouse from every tenant's state. */
async function countsFromSql(store: Store, scope: QueryScope, p: SummaryParams, policy: CommPolicy): Promise<SummaryCounts> {
  const weighted = p.weight !== undefined
  const core = tenantStateSql(store, scope, {
    weight: p.weight,
    staleAfterMs: p.staleAfterMs,
    policy,
    columns: ['down', 'downtime_ms', 'first_contact_ms', 'first_lost_ms', 'stale', 'restore_stage', 'closes_at', 'overdue', 'fc_counted', 'fc_on_time'],
  })
  // Int64 columns arrive as numeric strings, NULL where no tenant qualifies.
  const [t] = await store.rows<Record<string, string | number | null>>(
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
  const n = (name: string) => Number(t![name])
  const q = (name: string) => nullableNumber(t![name])
  return {
    affected: n('affected'),
    restored: n('restored'),
    weighted: weighted ? { affected: n('w_affected'), restored: n('w_restored') } : null,
    downtime_s: { median: q('dt_median'), p90: q('dt_p90'), max: q('dt_max'), total: n('dt_total_ms') / 1000 },
    first_contact_latency_s: { median: q('fc_median'), p90: q('fc_p90'), max: q('fc_max') },
    waiting_first_contact: n('waiting'),
    stale: n('stale'),
    overdue: n('overdue'),
    fc_counted: n('fc_counted'),
    fc_on_time: n('fc_on_time'),
    stages: { not_started: n('not_started'), in_progress: n('in_progress'), completed: n('completed') },
    recent_restores: n('recent_restores'),
  }
}

/**
 * The summary's counts at T from the incident log: counts are prefix sums of every tenant's
 * changes, downtime and first-contact quantiles are selected from its per-tenant arrays. No
 * statement runs: the dashboard's default view never waits for the engine.
 */
function countsFromLog(log: IncidentLog, asOfMs: number, etaFromMs: number, policy: CommPolicy): SummaryCounts {
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
    restored: n.affected - n.down,
    weighted: null,
    downtime_s: { median: dt(0.5), p90: dt(0.9), max: downtimes.length ? dtMax / 1000 : null, total: dtTotal / 1000 },
    first_contact_latency_s: { median: fc(0.5), p90: fc(0.9), max: fcMax === null ? null : fcMax / 1000 },
    waiting_first_contact: c[COMMS_CODES.affected]! - c[COMMS_CODES.contacted]!,
    stale: c[COMMS_CODES.staleFrom]! - c[COMMS_CODES.staleTo]!,
    overdue: c[COMMS_CODES.overdueFrom]! - c[COMMS_CODES.overdueTo]!,
    fc_counted: onTime.counted,
    fc_on_time: onTime.onTime,
    stages: { not_started: n.not_started, in_progress: n.in_progress, completed: n.completed },
    recent_restores: n.recentRestores,
  }
}
