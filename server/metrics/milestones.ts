import type { Store } from '../storage/client.js'
import { isoTime, knownKey, nullableNumber, type QueryScope } from './filters.js'
import type { StateSync } from './state-sync.js'
import { changeCodeSql, changeMsSql, OPEN_END, OPEN_END_MS, RECOVERY_CODES } from './packing.js'
import { ALL_TIME_MS, eventsFrom, knownParams, tenantStateFrom, tenantStateSql } from './tenant-state.js'

export interface Milestones {
  first_impact_at: string | null
  first_contact_at: string | null
  pct50_at: string | null
  pct90_at: string | null
  pct100_at: string | null
  events: { at: string; label: string }[]
}

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

/** The incident's milestones seen from T, and its first impact if it had happened by T. */
export async function milestonesAt(store: Store, state: StateSync, scope: QueryScope): Promise<{ firstImpactMs: number | null; milestones: Milestones }> {
  const [facts, events] = await Promise.all([incidentFacts(store, state, scope), milestoneEventsAt(store, state, scope)])
  // Facts of all time, seen from T: a moment after T had not happened yet.
  const upTo = (ms: number | null) => (ms !== null && ms <= scope.asOfMs ? ms : null)
  const firstImpactMs = upTo(facts.firstImpactMs)
  const at = (ms: number | null) => {
    const v = firstImpactMs === null ? null : upTo(ms)
    return v === null ? null : isoTime(v)
  }
  return {
    firstImpactMs,
    milestones: {
      first_impact_at: at(facts.firstImpactMs),
      first_contact_at: at(facts.firstContactMs),
      pct50_at: at(facts.pct50Ms),
      pct90_at: at(facts.pct90Ms),
      pct100_at: at(facts.pct100Ms),
      events,
    },
  }
}

function incidentFacts(store: Store, state: StateSync, scope: QueryScope): Promise<IncidentFacts> {
  const key = knownKey(scope, `facts ${JSON.stringify(scope.filters)}`)
  return state.cached(scope.incidentId, key, scope.filters.length > 0 ? 'tenants' : false, () => computeIncidentFacts(store, scope))
}

/** The RECOVERY_CODES whose changes satisfy `pick`, as an SQL tuple. */
function codesWhere(pick: (change: (typeof RECOVERY_CODES)[number]) => boolean): string {
  return `(${Object.entries(RECOVERY_CODES)
    .filter(([, change]) => pick(change))
    .map(([code]) => code)
    .join(', ')})`
}

/**
 * Recovery milestones, exact, from every change of affected and down (the rdeltas of every tenant
 * whose code changes either: packed, so a plain Int64 sort orders them by time). The running sums
 * are checked only at the last change of each instant, and compared in integers.
 */
const MILESTONE_COLUMNS = `
  arrayMap(d -> ${changeMsSql('d')}, ds) AS ds_t,
  arrayCumSum(arrayMap(d -> toInt64(${changeCodeSql('d')} IN ${codesWhere((c) => c.affected > 0)}), ds)) AS ds_aff,
  arrayCumSum(arrayMap(d -> if(${changeCodeSql('d')} IN ${codesWhere((c) => c.down > 0)}, toInt64(1), toInt64(-1)), ds)) AS ds_down,
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
       FROM (SELECT min(first_lost_ms) AS fl, count() AS n, arraySort(groupArrayArray(arrayFilter(d -> ${changeCodeSql('d')} IN ${codesWhere((c) => c.affected !== 0 || c.down !== 0)}, rdeltas))) AS ds FROM (${core.sql})))`,
    core.params,
  )
  const fi = nullableNumber(m?.fi)
  let firstContactMs: number | null = null
  if (fi !== null) {
    // Any communication at or after first impact: direct ones to any tenant (affected or not), or broadcasts.
    const [c] = await store.rows<{ ms: number | null }>(
      `SELECT least(
         (SELECT ifNull(minOrNull(arrayFirst(c -> c >= {fi:Int64}, arrayPushBack(dcomm, ${OPEN_END_MS}))), ${OPEN_END_MS}) FROM ${tenantStateFrom(db, scope)} WHERE s.incident_id = {incident:String}),
         (SELECT ifNull(minOrNull(toUnixTimestamp64Milli(occurred_at)), ${OPEN_END_MS}) FROM ${eventsFrom(db, scope)}
          WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND toUnixTimestamp64Milli(occurred_at) >= {fi:Int64})) AS ms`,
      { incident: scope.incidentId, fi, ...knownParams(scope) },
    )
    const ms = nullableNumber(c?.ms)
    firstContactMs = ms === null || ms >= OPEN_END ? null : ms
  }
  return { firstImpactMs: fi, firstContactMs, pct50Ms: nullableNumber(m?.p50), pct90Ms: nullableNumber(m?.p90), pct100Ms: nullableNumber(m?.p100) }
}

/** The incident's milestone events at or before T, in time order (they carry no tenant_id); all of them read once per change. */
async function milestoneEventsAt(store: Store, state: StateSync, scope: QueryScope): Promise<{ at: string; label: string }[]> {
  const all = await state.cached(scope.incidentId, knownKey(scope, 'milestone events'), false, () =>
    store.rows<{ at: string; label: string }>(
      `SELECT occurred_at AS at, label FROM ${eventsFrom(store.db, scope)}
       WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'milestone'
       ORDER BY occurred_at, event_id`,
      { incident: scope.incidentId, ...knownParams(scope) },
    ),
  )
  const upTo = isoTime(scope.asOfMs)
  // RFC 3339 UTC with milliseconds compares as text.
  return all.filter((m) => m.at <= upTo).slice(0, MAX_MILESTONE_EVENTS)
}

/** At most this many milestone events are listed. */
const MAX_MILESTONE_EVENTS = 1000
