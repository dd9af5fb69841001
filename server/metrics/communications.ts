import type { Store } from '../storage/client.js'
import { chTime, isoTime, parseDuration, parseWindow, segmentWhere, single, type QueryScope, type RawQuery } from './filters.js'
import { firstEventMs, prefixSum, seriesFrame } from './series.js'
import { DEFAULT_STALE_AFTER_MS, OPEN_END_MS, staleSpansSql, tenantStateSql } from './tenant-state.js'

export interface CommunicationsPoint {
  t: string
  sent_direct: number
  sent_broadcast: number
  waiting_first_contact: number
  stale: number
  median_first_contact_latency_s: number | null
}
export interface CommunicationsSeries {
  bucket_s: number
  points: CommunicationsPoint[]
}

const DELTA_TYPE = 'Array(Tuple(Int64, UInt8, Int8, Int64))'

/**
 * Deltas (time, kind, sign, first-contact latency ms) of one tenant: kinds 1 affected, 2 first
 * contacted, 3 stale. Stale spans come precomputed (sdeltas) for the default stale_after with
 * direct communications only, and are computed here otherwise: between consecutive anchors
 * a < a' (its first loss and each counted communication after it) a tenant is stale while down
 * and t > a + stale_after, i.e. from max(a + stale_after + 1 ms, interval start) to min(a',
 * interval end).
 */
function deltasSql(precomputedStale: boolean): string {
  const stale = precomputedStale
    ? `arrayMap(d -> (intDiv(d, 16), toUInt8(3), if(d % 16 = 1, toInt8(1), toInt8(-1)), toInt64(0)), sdeltas)`
    : `arrayFlatten(arrayMap(x -> if(x.2 < ${OPEN_END_MS}, [(x.1, toUInt8(3), toInt8(1), toInt64(0)), (x.2, toUInt8(3), toInt8(-1), toInt64(0))],
         [(x.1, toUInt8(3), toInt8(1), toInt64(0))]), ${staleSpansSql('comms_all', '{stale_ms:Int64}')}))`
  return `arrayConcat(
    [(first_lost_ms, toUInt8(1), toInt8(1), toInt64(0))],
    if(contact_all_ms >= ${OPEN_END_MS}, CAST([], '${DELTA_TYPE}'), [(contact_all_ms, toUInt8(2), toInt8(1), contact_all_ms - first_lost_ms)]),
    ${stale})`
}

export async function communicationsSeries(store: Store, scope: QueryScope, q: RawQuery): Promise<CommunicationsSeries> {
  const staleAfterMs = Math.round(parseDuration(single(q, 'stale_after') || '24h', 'stale_after') * 1000)
  const w = parseWindow(q, scope.asOfMs, single(q, 'from') ? null : await firstEventMs(store, scope))
  const frame = seriesFrame(w)
  const at = { ...scope, asOfMs: w.toMs }
  const precomputed = staleAfterMs === DEFAULT_STALE_AFTER_MS && !scope.includeBroadcast
  const core = tenantStateSql(store, at, {
    staleAfterMs,
    columns: precomputed ? ['first_lost_ms', 'contact_all_ms', 'sdeltas'] : ['first_lost_ms', 'contact_all_ms', 'comms_all', 'starts', 'ends'],
  })
  const params = { ...core.params, ...frame.params }
  // The median is over tenants first contacted inside the bucket; earlier first contacts still
  // count (folded into the first point) for waiting_first_contact.
  const [deltas, sent] = await Promise.all([
    store.rows<{ k: number; kind: number; n: number; median: number | null }>(
      `SELECT ${frame.bucketOf('d.1')} AS k, d.2 AS kind, sum(d.3) AS n,
         if(countIf(d.2 = 2 AND ${frame.inWindow('d.1')}) = 0, NULL,
            quantileExactInclusiveIf(0.5)(d.4, d.2 = 2 AND ${frame.inWindow('d.1')}) / 1000) AS median
       FROM (SELECT arrayJoin(${deltasSql(precomputed)}) AS d FROM (${core.sql}))
       WHERE ${frame.upToEnd('d.1')}
       GROUP BY k, kind`,
      params,
    ),
    sentCounts(store, at, frame),
  ])
  const n = frame.times.length
  const byKind = [1, 2, 3].map((kind) => new Map(deltas.filter((d) => Number(d.kind) === kind).map((d) => [Number(d.k), Number(d.n)])))
  const [aff, contacted, stale] = byKind.map((m) => prefixSum(m, n))
  const medianAt = new Map(deltas.filter((d) => Number(d.kind) === 2 && d.median !== null).map((d) => [Number(d.k), Number(d.median)]))
  return {
    bucket_s: w.bucketMs / 1000,
    points: frame.times.map((t, k) => ({
      t: isoTime(t),
      sent_direct: sent.direct.get(k) ?? 0,
      sent_broadcast: sent.broadcast.get(k) ?? 0,
      waiting_first_contact: aff![k]! - contacted![k]!,
      stale: stale![k]!,
      median_first_contact_latency_s: medianAt.get(k) ?? null,
    })),
  }
}

/**
 * Communications sent in each bucket: direct ones (to tenants of the segment, affected or not)
 * and broadcasts (never filtered by segment: they go to every tenant).
 */
async function sentCounts(store: Store, scope: QueryScope, frame: ReturnType<typeof seriesFrame>) {
  const db = store.db
  const seg = segmentWhere(scope, 'attributes')
  const segment = scope.filters.length ? `AND tenant_id IN (SELECT tenant_id FROM ${db}.tenants FINAL WHERE ${seg.sql})` : ''
  const rows = await store.rows<{ k: number; direct: number; broadcast: number }>(
    `SELECT k, sum(direct) AS direct, sum(broadcast) AS broadcast FROM (
       SELECT ${frame.bucketOf('c')} AS k, count() AS direct, 0 AS broadcast
       FROM ${db}.tenant_state FINAL ARRAY JOIN dcomm AS c
       WHERE incident_id = {incident:String} AND ${frame.inWindow('c')} AND ${frame.upToEnd('c')} ${segment}
       GROUP BY k
       UNION ALL
       SELECT ${frame.bucketOf('ms')} AS k, 0 AS direct, count() AS broadcast
       FROM (SELECT toUnixTimestamp64Milli(occurred_at) AS ms FROM ${db}.events FINAL
             WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')})
       WHERE ${frame.inWindow('ms')}
       GROUP BY k)
     GROUP BY k`,
    { incident: scope.incidentId, as_of: chTime(scope.asOfMs), ...seg.params, ...frame.params },
  )
  return {
    direct: new Map(rows.map((r) => [Number(r.k), Number(r.direct)])),
    broadcast: new Map(rows.map((r) => [Number(r.k), Number(r.broadcast)])),
  }
}
