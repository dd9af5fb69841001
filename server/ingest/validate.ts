import { CHANNELS, EVENT_TYPES, type EventRow, type EventType } from './types.js'

/**
 * Event validation (SPEC §2): pure, no exceptions, every field checked at the edge.
 *
 * Hand-written rather than a zod schema because this runs once per event on the hot ingest
 * path (≥150,000 events/s on 2 cores): a discriminated zod schema with refinements cost
 * several times more per event than these direct checks (see bench/validate.ts figures in the
 * report), and the outcome type stays the same either way.
 */

export interface FieldError {
  field: string
  message: string
}

export type ValidationOutcome = { ok: true; row: EventRow } | { ok: false; errors: FieldError[] }

/** Events may be late, but not more than this far in the future (clock skew allowance). */
export const MAX_FUTURE_MS = 5 * 60 * 1000

export const LIMITS = {
  eventId: 128,
  incidentId: 128,
  tenantId: 256,
  label: 256,
  message: 4096,
} as const

export const INCIDENT_ID_RE = /^[A-Za-z0-9._:-]+$/

const KNOWN_FIELDS = new Set(['event_id', 'incident_id', 'type', 'occurred_at', 'tenant_id', 'progress', 'channel', 'label', 'message'])
const KNOWN_FIELD_LIST = [...KNOWN_FIELDS].join(', ')
/** Unknown fields named per event at most. */
const MAX_UNKNOWN_FIELD_ERRORS = 10
const TYPE_SET = new Set<string>(EVENT_TYPES)
const CHANNEL_SET = new Set<string>(CHANNELS)
const TENANT_REQUIRED = new Set<string>(['access_lost', 'access_restored', 'restore_started', 'restore_progress', 'restore_completed'])

/** Length in Unicode code points (what a user means by "characters"); cheap when short. */
function charLength(s: string, limit: number): number {
  // A string of at most `limit` UTF-16 units has at most `limit` code points.
  if (s.length <= limit) return s.length
  let n = 0
  for (const _ of s) n++
  return n
}

/** A string field within 1..max characters (or 0..max when `allowEmpty`); returns an error message or null. */
function checkString(v: unknown, max: number, allowEmpty: boolean): string | null {
  if (typeof v !== 'string') return `must be a string (got ${describe(v)})`
  if (!allowEmpty && v.length === 0) return 'must not be empty'
  const n = charLength(v, max)
  if (n > max) return `must be at most ${max} characters (got ${n})`
  if (!isWellFormed(v)) return 'must be valid Unicode (lone surrogate)'
  return null
}

/** String.prototype.isWellFormed (Node 20; not in the TS lib we target): no lone surrogates. */
export const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

const fieldError = (field: string, message: string): FieldError => ({ field, message })

/**
 * Validate one event object. `nowMs` is the injected clock (epoch ms) for the future bound.
 * `null` counts as absent for optional fields (producers often serialize absent as null).
 */
export function validateEvent(input: unknown, nowMs: number): ValidationOutcome {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: [{ field: '', message: `event must be a JSON object (got ${describe(input)})` }] }
  }
  const o = input as Record<string, unknown>
  // No per-call closure here: this runs per event (and tsx's keepNames wraps every closure).
  const errors: FieldError[] = []

  for (const key in o) {
    if (KNOWN_FIELDS.has(key)) continue
    // An object of a million unknown keys must not cost a million messages.
    if (errors.length >= MAX_UNKNOWN_FIELD_ERRORS) break
    errors.push(fieldError(key.slice(0, 64), `unknown field (allowed: ${KNOWN_FIELD_LIST})`))
  }

  const eventId = o.event_id
  if (eventId === undefined || eventId === null) errors.push(fieldError('event_id', 'is required'))
  else {
    const m = checkString(eventId, LIMITS.eventId, false)
    if (m) errors.push(fieldError('event_id', m))
  }

  const incidentId = o.incident_id
  if (incidentId === undefined || incidentId === null) errors.push(fieldError('incident_id', 'is required'))
  else {
    const m = checkString(incidentId, LIMITS.incidentId, false)
    if (m) errors.push(fieldError('incident_id', m))
    else if (!INCIDENT_ID_RE.test(incidentId as string)) errors.push(fieldError('incident_id', 'may only contain letters, digits and . _ : -'))
  }

  const type = o.type
  let typeOk = false
  if (type === undefined || type === null) errors.push(fieldError('type', 'is required'))
  else if (typeof type !== 'string' || !TYPE_SET.has(type)) errors.push(fieldError('type', `must be one of ${EVENT_TYPES.join(', ')}`))
  else typeOk = true

  let occurredAt = ''
  const at = o.occurred_at
  if (at === undefined || at === null) errors.push(fieldError('occurred_at', 'is required'))
  else if (typeof at !== 'string') errors.push(fieldError('occurred_at', `must be an RFC 3339 timestamp string (got ${describe(at)})`))
  else {
    const r = parseTimestamp(at)
    if (typeof r === 'string') errors.push(fieldError('occurred_at', r))
    else if (r < 0) errors.push(fieldError('occurred_at', 'must not be before 1970-01-01T00:00:00Z'))
    else if (r > nowMs + MAX_FUTURE_MS) errors.push(fieldError('occurred_at', 'must not be more than 5 minutes in the future'))
    else occurredAt = formatRowTime(r)
  }

  const t = type as EventType
  const tenantId = o.tenant_id
  const hasTenant = tenantId !== undefined && tenantId !== null
  if (hasTenant) {
    if (typeOk && t === 'milestone') errors.push(fieldError('tenant_id', 'must be absent for milestone events (a milestone is incident-wide)'))
    else {
      const m = checkString(tenantId, LIMITS.tenantId, false)
      if (m) errors.push(fieldError('tenant_id', m))
    }
  } else if (typeOk && TENANT_REQUIRED.has(t)) errors.push(fieldError('tenant_id', `is required for ${t} events`))

  const progress = o.progress
  let progressValue: number | null = null
  if (progress !== undefined && progress !== null) {
    if (typeOk && t !== 'restore_progress') errors.push(fieldError('progress', 'is only allowed for restore_progress events'))
    else if (typeof progress !== 'number' || !Number.isFinite(progress)) errors.push(fieldError('progress', `must be a number from 0 to 1 (got ${describe(progress)})`))
    else if (progress < 0 || progress > 1) errors.push(fieldError('progress', `must be from 0 to 1 (got ${progress})`))
    else progressValue = progress
  } else if (typeOk && t === 'restore_progress') errors.push(fieldError('progress', 'is required for restore_progress events'))

  const channel = o.channel
  let channelValue = ''
  if (channel !== undefined && channel !== null) {
    if (typeOk && t !== 'communication') errors.push(fieldError('channel', 'is only allowed for communication events'))
    else if (typeof channel !== 'string' || !CHANNEL_SET.has(channel)) errors.push(fieldError('channel', `must be one of ${CHANNELS.join(', ')}`))
    else channelValue = channel
  } else if (typeOk && t === 'communication') channelValue = 'other'

  const label = o.label
  let labelValue = ''
  if (label !== undefined && label !== null) {
    if (typeOk && t !== 'milestone') errors.push(fieldError('label', 'is only allowed for milestone events'))
    else {
      const m = checkString(label, LIMITS.label, true)
      if (m) errors.push(fieldError('label', m))
      else labelValue = label as string
    }
  }

  const message = o.message
  let messageValue = ''
  if (message !== undefined && message !== null) {
    const m = checkString(message, LIMITS.message, true)
    if (m) errors.push(fieldError('message', m))
    else messageValue = message as string
  }

  if (errors.length > 0) return { ok: false, errors }
  return {
    ok: true,
    row: {
      incident_id: incidentId as string,
      tenant_id: hasTenant ? (tenantId as string) : '',
      event_id: eventId as string,
      type: t,
      occurred_at: occurredAt,
      progress: progressValue,
      channel: channelValue,
      label: labelValue,
      message: messageValue,
    },
  }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const TIMESTAMP_HELP = 'must be an RFC 3339 timestamp such as 2022-04-05T07:38:00.000Z (with Z or a ±hh:mm offset)'

/** Two or four ASCII digits at `i` as a number, or -1. charCodeAt instead of a regex: this runs per event. */
function digits(s: string, i: number, n: number): number {
  let v = 0
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 48
    if (c < 0 || c > 9) return -1
    v = v * 10 + c
  }
  return v
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/**
 * Parse an RFC 3339 timestamp `YYYY-MM-DD[T t space]hh:mm:ss[.fraction](Z|z|±hh:mm)` to epoch
 * milliseconds (fraction truncated to ms), or return an error message. Calendar fields are
 * range-checked (no Feb 30, no hour 24, no leap second 60).
 */
export function parseTimestamp(s: string): number | string {
  const len = s.length
  if (len < 20 || len > 40) return TIMESTAMP_HELP
  const year = digits(s, 0, 4)
  const month = digits(s, 5, 2)
  const day = digits(s, 8, 2)
  const hour = digits(s, 11, 2)
  const minute = digits(s, 14, 2)
  const second = digits(s, 17, 2)
  const sep = s.charCodeAt(10)
  if (
    year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 ||
    s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 ||
    (sep !== 84 && sep !== 116 && sep !== 32) // T t space
  ) return TIMESTAMP_HELP
  let i = 19
  let ms = 0
  if (s.charCodeAt(i) === 46) {
    // '.' then 1..9 digits; digits past the third are truncated
    i++
    const fracStart = i
    while (i < len) {
      const c = s.charCodeAt(i) - 48
      if (c < 0 || c > 9) break
      if (i - fracStart < 3) ms = ms * 10 + c
      i++
    }
    const n = i - fracStart
    if (n === 0 || n > 9) return TIMESTAMP_HELP
    if (n === 1) ms *= 100
    else if (n === 2) ms *= 10
  }
  let offsetMin = 0
  const z = s.charCodeAt(i)
  if (z === 90 || z === 122) {
    if (i + 1 !== len) return TIMESTAMP_HELP
  } else if (z === 43 || z === 45) {
    const oh = digits(s, i + 1, 2)
    const om = digits(s, i + 4, 2)
    if (i + 6 !== len || s.charCodeAt(i + 3) !== 58 || oh < 0 || om < 0) return TIMESTAMP_HELP
    if (oh > 23 || om > 59) return `has an invalid offset ${s.slice(i)}`
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om)
  } else return TIMESTAMP_HELP
  if (month < 1 || month > 12) return `has an invalid month ${s.slice(5, 7)}`
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const dim = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!
  if (day < 1 || day > dim) return `has an invalid day ${s.slice(8, 10)} for month ${s.slice(5, 7)}`
  if (hour > 23) return `has an invalid hour ${s.slice(11, 13)}`
  if (minute > 59) return `has an invalid minute ${s.slice(14, 16)}`
  if (second > 59) return `has an invalid second ${s.slice(17, 19)}`
  return ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMin) * 60_000 + second * 1000 + ms
}

const pad2 = (n: number) => (n < 10 ? '0' + n : '' + n)
const pad3 = (n: number) => (n < 10 ? '00' + n : n < 100 ? '0' + n : '' + n)

/** Epoch ms (≥ 0, year ≤ 9999) → 'YYYY-MM-DD hh:mm:ss.sss' UTC, the text DateTime64(3) parses in JSONEachRow. */
export function formatRowTime(ms: number): string {
  const days = Math.floor(ms / 86_400_000)
  let rem = ms - days * 86_400_000
  // civil_from_days (Hinnant)
  const zd = days + 719468
  const era = Math.floor(zd / 146097)
  const doe = zd - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0)
  const h = Math.floor(rem / 3_600_000)
  rem -= h * 3_600_000
  const mi = Math.floor(rem / 60_000)
  rem -= mi * 60_000
  const sec = Math.floor(rem / 1000)
  return `${y}-${pad2(m)}-${pad2(d)} ${pad2(h)}:${pad2(mi)}:${pad2(sec)}.${pad3(rem - sec * 1000)}`
}
