import type { CommPolicy } from '../domain/comm-policy.js'
import type { Store } from '../storage/client.js'
import { CHANGE_CODES, changeCode, changeMs, COMMS_CODES } from './packing.js'
import { OPEN_END_MS } from './packing.js'
import { spansToChangesSql } from './spans.js'
import { ALL_TIME_MS, tenantStateSql } from './tenant-state.js'

/**
 * An incident's changes, all tenants together, sorted by time: the material of its series and
 * of the counts of its summary when no segment filter, weight, group_by, broadcast counting or
 * other stale_after is asked for (the dashboard's default view). Read once per change of the
 * incident and held in memory, so moving as_of or the bucket costs a pass over arrays instead
 * of a pass over every tenant's state in ClickHouse (~20-40 ms at 100k tenants, 10x that at 1M).
 *
 * Everything comes from tenant_state (tenant-state.ts describes its columns); times are ms.
 * StateSync.incidentLog decides when it is built and whether a query may use it.
 */
export interface IncidentLog {
  /** Every tenant's rdeltas: their times ascending and RECOVERY_CODES codes at the same index. */
  recovery: Changes
  /**
   * Every tenant's cdeltas (default stale_after, direct communications) and, for the incident's
   * communication policy, its overdue changes: times ascending, COMMS_CODES codes.
   */
  comms: Changes
  /** Direct communications to every tenant of the incident, affected or not, ascending. */
  direct: Float64Array
  /** First contacts (contact_ms) ascending, and each one's latency (contact − first loss) at the same index. */
  contactMs: Float64Array
  contactLatencyMs: Float64Array
  /** Broadcast communications, ascending. */
  broadcasts: Float64Array
  /**
   * Every affected tenant's outage intervals (tenant_state starts/ends), tenant after tenant:
   * tenant i's are at [outageFrom[i], outageFrom[i + 1]). The downtime figures at any T.
   */
  outageStarts: Float64Array
  outageEnds: Float64Array
  outageFrom: Float64Array
  /** Each of those tenants' first contact (contact_ms; OPEN_END if none), in the same order. */
  contactByTenant: Float64Array
}

/** Changes as two aligned arrays (split once at load: a per-query unpacking of every element costs ~10x the loop). */
export interface Changes {
  ms: Float64Array
  code: Uint8Array
}

function changes(packed: Float64Array): Changes {
  const ms = new Float64Array(packed.length)
  const code = new Uint8Array(packed.length)
  for (let i = 0; i < packed.length; i++) {
    ms[i] = changeMs(packed[i]!)
    code[i] = changeCode(packed[i]!)
  }
  return { ms, code }
}

/**
 * One statement, one pass over the incident's tenant_state rows, sent as RowBinary: the arrays
 * arrive as raw little-endian Float64 (exact: every value is below 2^53), copied out as they are.
 */
export async function loadIncidentLog(store: Store, incidentId: string, policy: CommPolicy): Promise<IncidentLog> {
  const db = store.db
  const f64 = (arr: string) => `arrayMap(x -> toFloat64(x), ${arr})`
  // The overdue spans of every affected tenant under the policy, as changes (tenant-state.ts).
  const overdue = tenantStateSql(store, { incidentId, asOfMs: ALL_TIME_MS, filters: [], includeBroadcast: false }, { policy, columns: ['overdue_spans'] })
  const stream = await store.stream(
    `SELECT ${f64('arraySort(arrayConcat(c, o))')}, ${f64('r')}, ${f64('d')}, ${f64('arrayMap(p -> p.1, f)')}, ${f64('arrayMap(p -> p.2, f)')}, ${f64('b')},
       ${f64('arrayFlatten(os)')}, ${f64('arrayFlatten(oe)')}, ${f64('arrayPushFront(arrayCumSum(arrayMap(x -> length(x), os)), 0)')}, ${f64('oc')}
     FROM (
       SELECT arraySort(groupArrayArray(rdeltas)) AS r, arraySort(groupArrayArray(cdeltas)) AS c, arraySort(groupArrayArray(dcomm)) AS d,
         arraySort(groupArrayIf((contact_ms, contact_ms - first_lost_ms), contact_ms < ${OPEN_END_MS})) AS f,
         groupArrayIf(starts, notEmpty(starts)) AS os, groupArrayIf(ends, notEmpty(starts)) AS oe, groupArrayIf(contact_ms, notEmpty(starts)) AS oc
       FROM ${db}.tenant_state FINAL WHERE incident_id = {incident:String}
     ) AS s,
     (SELECT groupArrayArray(${spansToChangesSql('overdue_spans', COMMS_CODES.overdueFrom, COMMS_CODES.overdueTo)}) AS o FROM (${overdue.sql})) AS ov,
     (SELECT arraySort(groupArray(toUnixTimestamp64Milli(occurred_at))) AS b FROM ${db}.events FINAL
      WHERE incident_id = {incident:String} AND tenant_id = '' AND type = 'communication') AS e`,
    { ...overdue.params, incident: incidentId },
    'RowBinary',
  )
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  const buf = Buffer.concat(chunks)
  const reader = arrayReader(buf)
  const [comms, recovery, direct, contactMs, contactLatencyMs, broadcasts, outageStarts, outageEnds, outageFrom, contactByTenant] = Array.from({ length: 10 }, () => reader())
  return {
    recovery: changes(recovery!),
    comms: changes(comms!),
    direct: direct!,
    contactMs: contactMs!,
    contactLatencyMs: contactLatencyMs!,
    broadcasts: broadcasts!,
    outageStarts: outageStarts!,
    outageEnds: outageEnds!,
    outageFrom: outageFrom!,
    contactByTenant: contactByTenant!,
  }
}

/** Reads consecutive RowBinary Array(Float64) values: a LEB128 length, then 8-byte little-endian floats. */
function arrayReader(buf: Buffer): () => Float64Array {
  let at = 0
  return () => {
    let n = 0
    let shift = 0
    for (;;) {
      const b = buf[at++]
      if (b === undefined) throw new Error('incident log: truncated RowBinary result')
      n += (b & 0x7f) * 2 ** shift
      if (b < 0x80) break
      shift += 7
    }
    if (at + n * 8 > buf.length) throw new Error('incident log: truncated RowBinary result')
    // Copied out (alignment, and so the big result buffer is not kept alive); the platform is little-endian.
    const out = new Float64Array(n)
    new Uint8Array(out.buffer).set(buf.subarray(at, at + n * 8))
    at += n * 8
    return out
  }
}

/** Memory held by a log's arrays. */
export function incidentLogBytes(log: IncidentLog): number {
  return [
    log.recovery.ms,
    log.recovery.code,
    log.comms.ms,
    log.comms.code,
    log.direct,
    log.contactMs,
    log.contactLatencyMs,
    log.broadcasts,
    log.outageStarts,
    log.outageEnds,
    log.outageFrom,
    log.contactByTenant,
  ].reduce((n, a) => n + a.byteLength, 0)
}

/** How many of changes[from, to) carry each code (indexed by code, 0 to CHANGE_CODES - 1). */
export function countCodes(changes: Changes, from: number, to: number): Float64Array {
  const counts = new Float64Array(CHANGE_CODES)
  for (let i = from; i < to; i++) counts[changes.code[i]!]!++
  return counts
}

/** Index of the first element > x in an ascending array (= how many are <= x). */
export function upperBound(xs: ArrayLike<number>, x: number): number {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Each tenant affected at T's downtime (ms): the length of its outage intervals up to T (SPEC
 * §3 downtime_s), the JS twin of tenant-state.ts downtime_ms.
 */
export function downtimesAt(log: IncidentLog, t: number): Float64Array {
  const { outageStarts: s, outageEnds: e, outageFrom: from } = log
  const out = new Float64Array(from.length - 1)
  let n = 0
  for (let i = 0; i + 1 < from.length; i++) {
    const a = from[i]!
    const b = from[i + 1]!
    if (b === a || s[a]! > t) continue
    let d = 0
    for (let j = a; j < b && s[j]! <= t; j++) d += Math.min(e[j]!, t) - s[j]!
    out[n++] = d
  }
  return out.subarray(0, n)
}

/**
 * first_contact_on_time_pct's counts at T (SPEC §6): among tenants affected at T, those that
 * count (contacted by T, or first loss more than firstContactWithinMs before T) and those of them
 * first contacted within it. The JS twin of tenant-state.ts fc_counted / fc_on_time.
 */
export function firstContactsOnTime(log: IncidentLog, t: number, withinMs: number): { counted: number; onTime: number } {
  const { outageStarts: s, outageFrom: from, contactByTenant: contact } = log
  let counted = 0
  let onTime = 0
  for (let i = 0; i + 1 < from.length; i++) {
    const fl = s[from[i]!]!
    if (fl > t) continue
    const c = contact[i]!
    const contacted = c <= t
    if (contacted || t - fl > withinMs) counted++
    if (contacted && c - fl <= withinMs) onTime++
  }
  return { counted, onTime }
}
