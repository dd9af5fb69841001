import type { Store } from '../storage/client.js'
import { chTime, isoTime, parseDuration, parseWindow, segmentWhere, single, type QueryScope, type RawQuery } from './filters.js'
import { firstEventMs, prefixSum, seriesFrame } from './series.js'
import { OPEN_END_MS, tenantStateSql } from './tenant-state.js'

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

/**
 * Stale spans of a tenant as [L, R) in ms: between consecutive anchors a < a' (its first loss and
 * each counted communication after it) it is stale while down and t > a + stale_after, i.e. from
 * max(a + stale_after + 1 ms, interval start) to min(a', interval end).
 */
const STALE_SPANS = `arrayFilter(x -> x.1 < x.2, arrayFlatten(arrayMap((a, an) ->
    arrayMap((s, e) -> (greatest(a + {stale_ms:Int64} + 1, s), least(an, e)), starts, ends_open),
    arrayPushFront(comms_after, first_lost_ms),
    arrayPushBack(comms_after, ${OPEN_END_MS}))))`

/** Deltas (time, kind, sign, first-contact latency ms): kinds 1 affected, 2 first contacted, 3 stale. */
const DELTAS = `arrayConcat(
  [(first_lost_ms, toUInt8(1), toInt8(1), toInt64(0))],
  if(isNull(first_contact_ms), CAST([], 'Array(Tuple(Int64, UInt8, Int8, Int64))'),
     [(assumeNotNull(first_contact_ms), toUInt8(2), toInt8(1), assumeNotNull(first_contact_ms) - first_lost_ms)]),
  arrayFlatten(arrayMap(x -> if(x.2 < ${OPEN_END_MS}, [(x.1, toUInt8(3), toInt8(1), toInt64(0)), (x.2, toUInt8(3), toInt8(-1), toInt64(0))],
    [(x.1, toUInt8(3), toInt8(1), toInt64(0))]), ${STALE_SPANS})))`

export async function communicationsSeries(store: Store, scope: QueryScope, q: RawQuery): Promise<CommunicationsSeries> {
  const staleAfterMs = Math.round(parseDuration(single(q, 'stale_after') || '24h', 'stale_after') * 1000)
  const w = parseWindow(q, scope.asOfMs, single(q, 'from') ? null : await firstEventMs(store, scope))
  const frame = seriesFrame(w)
  const at = { ...scope, asOfMs: w.toMs }
  const core = tenantStateSql(store, at, { staleAfterMs, columns: ['first_lost_ms', 'first_contact_ms', 'comms_after', 'starts', 'ends_open'] })
  const params = { ...core.params, ...frame.params }
  // The median is over tenants first contacted inside the bucket; earlier first contacts still
  // count (folded into the first point) for waiting_first_contact.
  const deltas = await store.rows<{ k: number; kind: number; n: number; median: number | null }>(
    `SELECT ${frame.bucketOf('d.1')} AS k, d.2 AS kind, sum(d.3) AS n,
       if(countIf(d.2 = 2 AND ${frame.inWindow('d.1')}) = 0, NULL,
          quantileExactInclusiveIf(0.5)(d.4, d.2 = 2 AND ${frame.inWindow('d.1')}) / 1000) AS median
     FROM (SELECT arrayJoin(${DELTAS}) AS d FROM (${core.sql}))
     WHERE ${frame.upToEnd('d.1')}
     GROUP BY k, kind`,
    params,
  )
  const sent = await sentCounts(store, at, frame)
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
  const segment = scope.filters.length
    ? `AND (tenant_id = '' OR tenant_id IN (SELECT tenant_id FROM ${db}.tenants FINAL WHERE ${seg.sql}))`
    : ''
  const rows = await store.rows<{ k: number; direct: number; broadcast: number }>(
    `SELECT ${frame.bucketOf('ms')} AS k, countIf(tenant_id != '') AS direct, countIf(tenant_id = '') AS broadcast
     FROM (SELECT tenant_id, toUnixTimestamp64Milli(occurred_at) AS ms FROM ${db}.events FINAL
           WHERE incident_id = {incident:String} AND type = 'communication' AND occurred_at <= {as_of:DateTime64(3, 'UTC')} ${segment})
     WHERE ${frame.inWindow('ms')}
     GROUP BY k`,
    { incident: scope.incidentId, as_of: chTime(scope.asOfMs), ...seg.params, ...frame.params },
  )
  return {
    direct: new Map(rows.map((r) => [Number(r.k), Number(r.direct)])),
    broadcast: new Map(rows.map((r) => [Number(r.k), Number(r.broadcast)])),
  }
}
