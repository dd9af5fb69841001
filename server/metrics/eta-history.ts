import { badRequest } from '../errors.js'
import type { Store } from '../storage/client.js'
import { ETA_WINDOW_MS, eta } from './eta.js'
import { isoTime, parseWindow, single, type QueryScope, type RawQuery } from './filters.js'
import { upperBound, type IncidentLog } from './incident-log.js'
import { milestonesAt } from './milestones.js'
import { RECOVERY_CODES } from './packing.js'
import { firstEventMs, seriesFrame, type SeriesFrame } from './series.js'
import { logSource } from './source.js'
import type { StateSync } from './state-sync.js'
import { tenantStateSql } from './tenant-state.js'

export interface EtaHistory {
  /** When recovery first reached 100 % (as finally known), or null while it has not by as_of. */
  actual_full_recovery_at: string | null
  points: { t: string; eta_at: string | null; low: string | null; high: string | null; error_s: number | null }[]
}

/**
 * Points of one history whose figures must be computed afresh in ClickHouse (an event that had
 * occurred by then arrived later, or the view is segmented): each costs one statement over the
 * incident's tenant_state (stored rows, plus the late tenants derived again), ~50-100 ms at 1M
 * events. Beyond this many the request is refused with 400 (a wider bucket or a shorter window
 * helps); an outage reported days late makes every point of those days one of them.
 */
export const MAX_FRESH_POINTS = 200

/**
 * SPEC §7 ETA history: at each bucket end t, the ETA the summary showed then: as_of = known_at =
 * t, from the events that had arrived by t. A point is computed from the stored facts when every
 * event that had occurred by t had also arrived by t (then the two views are the same: the fold
 * of §3 uses no event after t), else afresh with known_at = t; points before anything arrived
 * have no ETA. The error is the ETA's distance from the moment recovery actually reached 100 %.
 */
export async function etaHistory(store: Store, state: StateSync, scope: QueryScope, q: RawQuery): Promise<EtaHistory> {
  const w = parseWindow(q, scope.asOfMs, single(q, 'from') ? null : await firstEventMs(store, state, { ...scope, knownAtMs: undefined }))
  const frame = seriesFrame(w)
  const all = { ...scope, knownAtMs: undefined }
  const [arrivals, log, actual] = await Promise.all([
    arrivalsByPoint(store, scope, frame),
    logSource(store, state, all, { communications: false }),
    milestonesAt(store, state, all),
  ])
  const actualMs = actual.milestones.pct100_at === null ? null : Date.parse(actual.milestones.pct100_at)
  const fresh = frame.times.filter((t, k) => t >= arrivals.firstMs && (arrivals.late[k]! > 0 || !log))
  if (fresh.length > MAX_FRESH_POINTS) {
    throw badRequest(
      `${fresh.length} points of this history need their figures computed afresh (late arrivals or a segment filter); at most ${MAX_FRESH_POINTS}: use a wider bucket or a shorter window`,
      'too_expensive',
    )
  }
  const fromLog = log ? etaInputsFromLog(log, frame.times) : []
  const points: EtaHistory['points'] = []
  for (let k = 0; k < frame.times.length; k++) {
    const t = frame.times[k]!
    const inputs = t < arrivals.firstMs ? null : arrivals.late[k]! > 0 || !log ? await etaInputsFromSql(store, { ...scope, asOfMs: t, knownAtMs: t }) : fromLog[k]!
    const e = inputs && eta(t, inputs.firstImpactMs, inputs.down, inputs.restores)
    points.push({
      t: isoTime(t),
      eta_at: e?.at ?? null,
      low: e?.low ?? null,
      high: e?.high ?? null,
      error_s: e && actualMs !== null ? (Date.parse(e.at) - actualMs) / 1000 : null,
    })
  }
  return { actual_full_recovery_at: actualMs === null ? null : isoTime(actualMs), points }
}

interface EtaInputs {
  firstImpactMs: number | null
  down: number
  restores: number
}

/** The ETA's inputs at each point from the incident log, in one sweep over its recovery changes. */
function etaInputsFromLog(log: IncidentLog, times: number[]): EtaInputs[] {
  const { ms, code } = log.recovery
  // Running counts of down tenants and of restores (changes closing an outage), change by change.
  const downAfter = new Float64Array(ms.length + 1)
  const restoresAfter = new Float64Array(ms.length + 1)
  let firstImpact: number | null = null
  for (let i = 0; i < ms.length; i++) {
    const c = RECOVERY_CODES[code[i]!]!
    if (c.affected > 0 && firstImpact === null) firstImpact = ms[i]!
    downAfter[i + 1] = downAfter[i]! + c.down
    restoresAfter[i + 1] = restoresAfter[i]! + (c.down < 0 ? 1 : 0)
  }
  return times.map((t) => {
    const upTo = upperBound(ms, t)
    const from = upperBound(ms, t - ETA_WINDOW_MS)
    return { firstImpactMs: firstImpact !== null && firstImpact <= t ? firstImpact : null, down: downAfter[upTo]!, restores: restoresAfter[upTo]! - restoresAfter[from]! }
  })
}

/** The ETA's inputs at T as known at known_at, in ClickHouse (the summary's SQL path). */
async function etaInputsFromSql(store: Store, scope: QueryScope): Promise<EtaInputs> {
  const core = tenantStateSql(store, scope, { columns: ['down', 'first_lost_ms', 'closes_at'] })
  const [r] = await store.rows<{ n: number; down: number; restores: number; fi: number | null }>(
    `SELECT count() AS n, countIf(down) AS down, sum(arrayCount(c -> c > {eta_from:Int64}, closes_at)) AS restores, if(n = 0, NULL, min(first_lost_ms)) AS fi FROM (${core.sql})`,
    { ...core.params, eta_from: scope.asOfMs - ETA_WINDOW_MS },
  )
  return { firstImpactMs: r?.fi === null || r?.fi === undefined ? null : Number(r.fi), down: Number(r?.down ?? 0), restores: Number(r?.restores ?? 0) }
}

/**
 * For each point t_k: how many events had occurred by t_k but arrived after it (late[k]), and when
 * the first event arrived (firstMs). An event late at some points adds +1 at the first point at or
 * after it occurred and −1 at the first at or after it arrived: one pass over the incident's events
 * (copies included: a late copy only makes a point computed afresh, never a wrong figure).
 */
async function arrivalsByPoint(store: Store, scope: QueryScope, frame: SeriesFrame): Promise<{ late: number[]; firstMs: number }> {
  const n = frame.times.length
  const occ = 'toUnixTimestamp64Milli(occurred_at)'
  const rec = 'toUnixTimestamp64Milli(received_at)'
  const rows = await store.rows<{ k: number; d: number; first: number | null }>(
    `SELECT k, sum(d) AS d, any(first) AS first FROM (
       SELECT toInt64(kd.1) AS k, toInt64(kd.2) AS d, CAST(NULL, 'Nullable(Int64)') AS first FROM (
         SELECT arrayJoin([(toInt64(${frame.bucketOf(occ)}), 1), (toInt64(if(${rec} > {sf_to:Int64}, ${n}, ${frame.bucketOf(rec)})), -1)]) AS kd
         FROM ${store.db}.events
         WHERE incident_id = {incident:String} AND ${occ} <= {sf_to:Int64} AND ${rec} > ${occ}
           AND (${rec} > {sf_to:Int64} OR ${frame.bucketOf(rec)} > ${frame.bucketOf(occ)}))
       UNION ALL
       SELECT toInt64(-1) AS k, toInt64(0) AS d, CAST(min(${rec}), 'Nullable(Int64)') AS first FROM ${store.db}.events WHERE incident_id = {incident:String}
     ) GROUP BY k`,
    { incident: scope.incidentId, ...frame.params },
  )
  const deltas = new Float64Array(n + 1)
  let firstMs = Number.POSITIVE_INFINITY
  for (const r of rows) {
    if (Number(r.k) < 0) firstMs = r.first === null ? firstMs : Number(r.first)
    else deltas[Number(r.k)]! += Number(r.d)
  }
  const late: number[] = []
  let acc = 0
  for (let k = 0; k < n; k++) late.push((acc += deltas[k]!))
  return { late, firstMs }
}
