import type { Store } from '../storage/client.js'
import { chTime, isoTime, parseDuration, parseWindow, segmentWhere, single, type QueryScope, type RawQuery } from './filters.js'
import type { CommPolicy } from '../domain/comm-policy.js'
import { checkBroadcastPairs } from './broadcasts.js'
import { incidentPolicy } from './policy.js'
import { logSource } from './source.js'
import { bucketCodes, bucketRuns, firstEventMs, prefixSum, quantileInclusiveUnsorted, seriesFrame, type SeriesFrame } from './series.js'
import type { IncidentLog } from './incident-log.js'
import type { StateSync } from './state-sync.js'
import { changeCodeSql, changeMsSql, changesAfterSql, COMMS_CODES, OPEN_END_MS, packChangeSql } from './packing.js'
import { spansToChangesSql } from './spans.js'
import { DEFAULT_STALE_AFTER_MS, eventsFrom, knownParams, tenantStateFrom, tenantStateSql } from './tenant-state.js'

export interface CommunicationsPoint {
  t: string
  sent_direct: number
  sent_broadcast: number
  waiting_first_contact: number
  stale: number
  /** Tenants overdue for a contact under the incident's communication policy (SPEC §6). */
  overdue: number
  median_first_contact_latency_s: number | null
}
export interface CommunicationsSeries {
  bucket_s: number
  points: CommunicationsPoint[]
}

/**
 * Kinds of the query's rows: the cdeltas codes (COMMS_CODES: affected, first contacted, becomes
 * stale, no longer stale), then the median first-contact latency of the tenants first contacted
 * in a bucket, and the direct and broadcast communications sent in it.
 */
const KIND = { ...COMMS_CODES, median: 7, direct: 8, broadcast: 9 } as const

/**
 * A tenant's changes to the series. They come precomputed (cdeltas) for the default
 * stale_after with direct communications only, and are computed here otherwise; the overdue
 * changes always are (they follow the incident's policy).
 */
function changesSql(precomputed: boolean): string {
  const overdue = spansToChangesSql('overdue_spans', COMMS_CODES.overdueFrom, COMMS_CODES.overdueTo)
  return precomputed
    ? `arrayConcat(cdeltas, ${overdue})`
    : `arrayConcat([${packChangeSql('first_lost_ms', COMMS_CODES.affected)}], if(contact_all_ms < ${OPEN_END_MS}, [${packChangeSql('contact_all_ms', COMMS_CODES.contacted)}], CAST([], 'Array(Int64)')), ${spansToChangesSql('stale_spans')}, ${overdue})`
}

export async function communicationsSeries(store: Store, state: StateSync, scope: QueryScope, q: RawQuery): Promise<CommunicationsSeries> {
  const staleAfterMs = Math.round(parseDuration(single(q, 'stale_after') || '24h', 'stale_after') * 1000)
  const w = parseWindow(q, scope.asOfMs, single(q, 'from') ? null : await firstEventMs(store, state, scope))
  const frame = seriesFrame(w)
  const at = { ...scope, asOfMs: w.toMs }
  if (scope.includeBroadcast) {
    // Each tenant's stale spans meet the long gaps between broadcasts (tenant-state.ts BROADCAST_UNCOVERED).
    await checkBroadcastPairs(store, state, at, 'the communications series', (b) => b.gapsOver(staleAfterMs, at.asOfMs) + 2)
  }
  const precomputed = staleAfterMs === DEFAULT_STALE_AFTER_MS && !scope.includeBroadcast
  const policy = await incidentPolicy(store, state, scope.incidentId)
  const log = await logSource(store, state, scope, { communications: true, staleAfterMs })
  const rows = log ? rowsFromLog(log, frame) : await rowsFromSql(store, at, frame, staleAfterMs, precomputed, policy)
  const n = frame.times.length
  const byKind = (kind: number) => new Map(rows.filter((r) => Number(r.kind) === kind).map((r) => [Number(r.k), Number(r.n)]))
  const [aff, contacted, staleFrom, staleTo, overdueFrom, overdueTo] = [KIND.affected, KIND.contacted, KIND.staleFrom, KIND.staleTo, KIND.overdueFrom, KIND.overdueTo].map((kind) =>
    prefixSum(byKind(kind), n),
  )
  const direct = byKind(KIND.direct)
  const broadcast = byKind(KIND.broadcast)
  const medianAt = new Map(rows.filter((r) => Number(r.kind) === KIND.median).map((r) => [Number(r.k), Number(r.median)]))
  return {
    bucket_s: w.bucketMs / 1000,
    points: frame.times.map((t, k) => ({
      t: isoTime(t),
      sent_direct: direct.get(k) ?? 0,
      sent_broadcast: broadcast.get(k) ?? 0,
      waiting_first_contact: aff![k]! - contacted![k]!,
      stale: staleFrom![k]! - staleTo![k]!,
      overdue: overdueFrom![k]! - overdueTo![k]!,
      median_first_contact_latency_s: medianAt.get(k) ?? null,
    })),
  }
}

type Row = { k: number; kind: number; n: number; median: number | null }

/** The series' rows from the incident log (default stale_after, direct communications, no segment). */
function rowsFromLog(log: IncidentLog, frame: SeriesFrame): Row[] {
  const rows: Row[] = bucketCodes(log.comms, frame).map((r) => ({ k: r.k, kind: r.code, n: r.n, median: null }))
  // First contacts inside the window: the median latency of each bucket's, selected without sorting.
  for (const { k, start, stop } of bucketRuns(log.contactMs, frame)) {
    rows.push({ k, kind: KIND.median, n: stop - start, median: quantileInclusiveUnsorted(log.contactLatencyMs.slice(start, stop), 0.5)! / 1000 })
  }
  for (const { k, start, stop } of bucketRuns(log.direct, frame)) rows.push({ k, kind: KIND.direct, n: stop - start, median: null })
  for (const { k, start, stop } of bucketRuns(log.broadcasts, frame)) rows.push({ k, kind: KIND.broadcast, n: stop - start, median: null })
  return rows
}

/** The series' rows computed in ClickHouse from every tenant's state. */
async function rowsFromSql(store: Store, at: QueryScope, frame: SeriesFrame, staleAfterMs: number, precomputed: boolean, policy: CommPolicy): Promise<Row[]> {
  const core = tenantStateSql(store, at, {
    staleAfterMs,
    policy,
    columns: precomputed ? ['cdeltas', 'overdue_spans'] : ['first_lost_ms', 'contact_all_ms', 'stale_spans', 'overdue_spans'],
  })
  const medianCore = precomputed ? tenantStateSql(store, at, { staleAfterMs, policy, columns: ['first_lost_ms', 'contact_all_ms'] }) : core
  const sent = sentSql(store, at, frame)
  const noMedian = "CAST(NULL, 'Nullable(Float64)')"
  // One statement: ClickHouse runs its parts on one thread budget (two statements at once on
  // two cores were slower than one after the other).
  return store.rows<Row>(
    `SELECT ${frame.bucketOf(changeMsSql('d'))} AS k, ${changeCodeSql('d')} AS kind, count() AS n, ${noMedian} AS median
     FROM (${core.sql})
     ARRAY JOIN ${changesSql(precomputed)} AS d
     WHERE d < ${changesAfterSql('{sf_to:Int64}')}
     GROUP BY k, kind
     UNION ALL
     SELECT ${frame.bucketOf('contact_all_ms')} AS k, ${KIND.median} AS kind, count() AS n,
       toNullable(quantileExactInclusive(0.5)(contact_all_ms - first_lost_ms) / 1000) AS median
     FROM (${medianCore.sql})
     WHERE ${frame.inWindow('contact_all_ms')} AND ${frame.upToEnd('contact_all_ms')}
     GROUP BY k
     UNION ALL
     ${sent.sql}`,
    { ...core.params, ...medianCore.params, ...frame.params, ...sent.params },
  )
}

/**
 * Communications sent in each bucket (rows of kinds 6 and 7): direct ones to tenants of the
 * segment, affected or not (from tenant_state), and broadcasts, never filtered by segment since
 * they go to every tenant (from events: their key range holds only tenant-less events).
 */
function sentSql(store: Store, scope: QueryScope, frame: ReturnType<typeof seriesFrame>) {
  const db = store.db
  const seg = segmentWhere(scope, 'attributes')
  const segment = scope.filters.length ? `AND tenant_id IN (SELECT tenant_id FROM ${db}.tenants FINAL WHERE ${seg.sql})` : ''
  return {
    sql: `SELECT ${frame.bucketOf('c')} AS k, ${KIND.direct} AS kind, count() AS n, CAST(NULL, 'Nullable(Float64)') AS median
     FROM ${tenantStateFrom(db, scope)} ARRAY JOIN dcomm AS c
     WHERE s.incident_id = {incident:String} AND ${frame.inWindow('c')} AND ${frame.upToEnd('c')} ${segment}
     GROUP BY k
     UNION ALL
     SELECT ${frame.bucketOf('ms')} AS k, ${KIND.broadcast} AS kind, count() AS n, CAST(NULL, 'Nullable(Float64)') AS median
     FROM (SELECT toUnixTimestamp64Milli(occurred_at) AS ms FROM ${eventsFrom(db, scope)}
           WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')})
     WHERE ${frame.inWindow('ms')}
     GROUP BY k`,
    params: { incident: scope.incidentId, as_of: chTime(scope.asOfMs), ...seg.params, ...knownParams(scope) },
  }
}
