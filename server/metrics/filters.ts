import { ATTRIBUTE_NAME, isIncidentId, TENANT_LIMITS } from '../domain/events.js'
import { parseDurationS, parseTimestamp } from '../domain/time.js'
import { badRequest } from '../errors.js'
import type { Params } from '../storage/client.js'

// Attribute names (filters, group_by, weight) are bound as parameters, but still checked so errors are clear.
const MAX_FILTER_VALUES = 100

export type RawQuery = Record<string, unknown>

/** What every query endpoint takes (SPEC §4 "Common parameters"). */
export interface QueryScope {
  incidentId: string
  /** The moment T, in ms since the epoch. */
  asOfMs: number
  /** attr.<name>=<value>: values of one name are OR-ed, names are AND-ed. */
  filters: { name: string; values: string[] }[]
  includeBroadcast: boolean
  /**
   * known_at (SPEC §7): only events received at or before this moment (ms) count; undefined:
   * every event received so far (the default, "now").
   */
  knownAtMs?: number
}


/** A single string query parameter, or undefined; arrays and objects (repeated or bracketed keys) are an error. */
export function single(q: RawQuery, name: string): string | undefined {
  const v = q[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw badRequest(`${name} must be given once, as a plain value`)
  return v
}

/**
 * A time parameter (as_of, from, to): RFC 3339 → ms since the epoch (sub-millisecond digits are
 * truncated), by the same strict parser as event times (no rolled-over dates such as 2022-02-30,
 * no hour 24, seconds required), then bounded to the years 1970–2299; else 400 naming it.
 */
export function parseTimeParam(value: string, name: string): number {
  const ms = parseTimestamp(value)
  if (typeof ms === 'string') throw badRequest(`${name} ${ms} (got "${value.slice(0, 64)}")`)
  if (ms < 0 || ms >= Date.UTC(2300, 0, 1)) throw badRequest(`${name} is out of range (1970 to 2299)`)
  return ms
}

/** `24h`, `30m`, `1d`, `90s`, `1.5h` or plain seconds → seconds. */
export function parseDuration(value: string, name: string): number {
  const s = parseDurationS(value)
  if (typeof s === 'string') throw badRequest(`${name} ${s}`)
  return s
}

export function parseBoolean(q: RawQuery, name: string, def: boolean): boolean {
  const v = single(q, name)
  if (v === undefined || v === '') return def
  if (v === 'true' || v === '1') return true
  if (v === 'false' || v === '0') return false
  throw badRequest(`${name} must be true or false`)
}

export function parseInteger(q: RawQuery, name: string, def: number, min: number, max: number): number {
  const v = single(q, name)
  if (v === undefined || v === '') return def
  if (!/^\d+$/.test(v)) throw badRequest(`${name} must be a whole number`)
  const n = Number(v)
  if (n < min || n > max) throw badRequest(`${name} must be between ${min} and ${max}`)
  return n
}

export function parseEnum<T extends string>(q: RawQuery, name: string, allowed: readonly T[], def: T): T
export function parseEnum<T extends string>(q: RawQuery, name: string, allowed: readonly T[], def: undefined): T | undefined
export function parseEnum<T extends string>(q: RawQuery, name: string, allowed: readonly T[], def: T | undefined): T | undefined {
  const v = single(q, name)
  if (v === undefined || v === '') return def
  if (!(allowed as readonly string[]).includes(v)) throw badRequest(`${name} must be one of ${allowed.join(', ')} (got "${v.slice(0, 32)}")`)
  return v as T
}

export function parseAttributeName(q: RawQuery, name: string): string | undefined {
  const v = single(q, name)
  if (v === undefined || v === '') return undefined
  if (!ATTRIBUTE_NAME.test(v)) throw badRequest(`${name} must be an attribute name of 1-64 characters A-Z a-z 0-9 _ . -`)
  return v
}

export function parseIncidentId(raw: string): string {
  if (!isIncidentId(raw)) throw badRequest('incident_id must be 1-128 characters of A-Z a-z 0-9 . _ : -')
  return raw
}

/** as_of, attr.*, include_broadcast. */
export function parseScope(incidentId: string, q: RawQuery, now: Date): QueryScope {
  const scope: QueryScope = { incidentId: parseIncidentId(incidentId), asOfMs: parseAsOf(q, now), filters: parseFilters(q), includeBroadcast: parseBoolean(q, 'include_broadcast', false) }
  const knownAt = parseKnownAt(q, now)
  if (knownAt !== undefined) scope.knownAtMs = knownAt
  return scope
}

/** A cache key for a value that depends on known_at. */
export const knownKey = (scope: Pick<QueryScope, 'knownAtMs'>, key: string) => (scope.knownAtMs === undefined ? key : `${key} known ${scope.knownAtMs}`)

/**
 * known_at: RFC 3339 like as_of. A moment at or after now is what the default already shows
 * (nothing can have been received later), so it is dropped: only a past moment restricts.
 */
export function parseKnownAt(q: RawQuery, now: Date): number | undefined {
  const v = single(q, 'known_at')
  if (v === undefined || v === '') return undefined
  const ms = parseTimeParam(v, 'known_at')
  return ms >= now.getTime() ? undefined : ms
}

export function parseAsOf(q: RawQuery, now: Date): number {
  const asOf = single(q, 'as_of')
  return asOf === undefined || asOf === '' ? now.getTime() : parseTimeParam(asOf, 'as_of')
}

/** attr.<name>=<value> segment filters. */
export function parseFilters(q: RawQuery): QueryScope['filters'] {
  const filters: QueryScope['filters'] = []
  for (const [key, raw] of Object.entries(q)) {
    if (!key.startsWith('attr')) continue
    if (key === 'attr' || !key.startsWith('attr.')) throw badRequest('segment filters are written attr.<name>=<value>')
    const name = key.slice(5)
    if (!ATTRIBUTE_NAME.test(name)) throw badRequest(`attribute name "${name.slice(0, 70)}" must be 1-64 characters A-Z a-z 0-9 _ . -`)
    const values = Array.isArray(raw) ? raw : [raw]
    if (values.length > MAX_FILTER_VALUES) throw badRequest(`at most ${MAX_FILTER_VALUES} values per attribute filter`)
    for (const v of values) {
      if (typeof v !== 'string') throw badRequest(`attr.${name} must be a plain value`)
      if (v.length > TENANT_LIMITS.attributeValue) throw badRequest(`attr.${name} values are at most ${TENANT_LIMITS.attributeValue} characters`)
    }
    filters.push({ name, values: values as string[] })
  }
  return filters
}

/** 'YYYY-MM-DD hh:mm:ss.sss' (UTC), the form a DateTime64(3) parameter takes. */
export function chTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
}

/** ms → RFC 3339 UTC with milliseconds. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString()
}

/** A nullable numeric column as read (a number, a numeric string, NULL or NaN) → number | null. */
export function nullableNumber(v: unknown): number | null {
  return v === null || v === undefined || Number.isNaN(Number(v)) ? null : Number(v)
}

/**
 * The segment test of segmentWhere for one tenant whose metadata is already read: every filter
 * name matches one of its values (a missing attribute reads as ''); a tenant without metadata
 * (`undefined`) is in no segment.
 */
export function inSegment(attributes: Record<string, string> | undefined, filters: QueryScope['filters']): boolean {
  if (filters.length === 0) return true
  if (!attributes) return false
  return filters.every((f) => f.values.includes(attributes[f.name] ?? ''))
}

/** Segment filter over a joined `attributes` map, with its bound parameters. */
export function segmentWhere(scope: QueryScope, column = 'm.attributes'): { sql: string; params: Params } {
  const params: Params = {}
  const parts = scope.filters.map((f, i) => {
    params[`fn${i}`] = f.name
    params[`fv${i}`] = f.values
    return `${column}[{fn${i}:String}] IN {fv${i}:Array(String)}`
  })
  return { sql: parts.length ? parts.join(' AND ') : '1', params }
}

/** Nice bucket widths (s) for bucket=auto, smallest first. */
const NICE_BUCKETS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
export const MAX_BUCKETS = 2000
export const AUTO_POINTS = 200

/** bucket=auto: the readable width giving about AUTO_POINTS points over a span. */
export function autoBucketMs(spanMs: number): number {
  const want = spanMs / AUTO_POINTS
  return (NICE_BUCKETS_S.find((s) => s * 1000 >= want) ?? Math.ceil(want / 86_400_000) * 86400) * 1000
}

export interface Window {
  fromMs: number
  toMs: number
  bucketMs: number
}

/**
 * bucket/from/to. `from` defaults to the incident's first event, `to` to as_of (later is clamped:
 * nothing after as_of is known). `auto` picks the smallest nice width giving at most ~200 points.
 */
export function parseWindow(q: RawQuery, asOfMs: number, firstEventMs: number | null, maxBuckets = MAX_BUCKETS): Window {
  const from = single(q, 'from')
  const to = single(q, 'to')
  const toMs = Math.min(to ? parseTimeParam(to, 'to') : asOfMs, asOfMs)
  const fromMs = from ? parseTimeParam(from, 'from') : Math.min(firstEventMs ?? toMs, toMs)
  if (fromMs > toMs) throw badRequest('from must not be later than to (or as_of)')
  const bucket = single(q, 'bucket') ?? 'auto'
  const spanMs = toMs - fromMs
  let bucketMs: number
  if (bucket === 'auto') {
    bucketMs = autoBucketMs(spanMs)
  } else {
    bucketMs = Math.round(parseDuration(bucket, 'bucket') * 1000)
    if (bucketMs < 1000) throw badRequest('bucket must be at least 1s')
  }
  if (Math.ceil(spanMs / bucketMs) + 1 > maxBuckets) {
    throw badRequest(`bucket ${bucket} gives more than ${maxBuckets} points over this window; use a wider bucket or a shorter window`)
  }
  return { fromMs, toMs, bucketMs }
}

/**
 * Points of a series: bucket ends aligned to multiples of the width, the first at or after
 * `from`, the last clamped to `to` (so the last point is the state at `to`). Point k sums what
 * happened in (t[k-1], t[k]]; the first bucket covers (t[0] - width, t[0]].
 */
export function pointTimes(w: Window): number[] {
  const first = Math.ceil(w.fromMs / w.bucketMs) * w.bucketMs
  const out: number[] = []
  for (let t = first; t < w.toMs; t += w.bucketMs) out.push(t)
  out.push(w.toMs)
  return out
}
