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

/**
 * Validate one event object. `nowMs` is the injected clock (epoch ms) for the future bound.
 * `null` counts as absent for optional fields (producers often serialize absent as null).
 */
export function validateEvent(input: unknown, nowMs: number): ValidationOutcome {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: [{ field: '', message: `event must be a JSON object (got ${describe(input)})` }] }
  }
  const o = input as Record<string, unknown>
  let errors: FieldError[] | null = null
  const fail = (field: string, message: string) => {
    ;(errors ??= []).push({ field, message })
  }

  for (const key in o) {
    if (!KNOWN_FIELDS.has(key)) fail(key, `unknown field (allowed: ${[...KNOWN_FIELDS].join(', ')})`)
  }

  const eventId = o.event_id
  if (eventId === undefined || eventId === null) fail('event_id', 'is required')
  else {
    const m = checkString(eventId, LIMITS.eventId, false)
    if (m) fail('event_id', m)
  }

  const incidentId = o.incident_id
  if (incidentId === undefined || incidentId === null) fail('incident_id', 'is required')
  else {
    const m = checkString(incidentId, LIMITS.incidentId, false)
    if (m) fail('incident_id', m)
    else if (!INCIDENT_ID_RE.test(incidentId as string)) fail('incident_id', 'may only contain letters, digits and . _ : -')
  }

  const type = o.type
  let typeOk = false
  if (type === undefined || type === null) fail('type', 'is required')
  else if (typeof type !== 'string' || !TYPE_SET.has(type)) fail('type', `must be one of ${EVENT_TYPES.join(', ')}`)
  else typeOk = true

  let occurredAt = ''
  const at = o.occurred_at
  if (at === undefined || at === null) fail('occurred_at', 'is required')
  else if (typeof at !== 'string') fail('occurred_at', `must be an RFC 3339 timestamp string (got ${describe(at)})`)
  else {
    const r = parseTimestamp(at)
    if (typeof r === 'string') fail('occurred_at', r)
    else if (r < 0) fail('occurred_at', 'must not be before 1970-01-01T00:00:00Z')
    else if (r > nowMs + MAX_FUTURE_MS) fail('occurred_at', 'must not be more than 5 minutes in the future')
    else occurredAt = formatRowTime(r)
  }

  const t = type as EventType
  const tenantId = o.tenant_id
  const hasTenant = tenantId !== undefined && tenantId !== null
  if (hasTenant) {
    if (typeOk && t === 'milestone') fail('tenant_id', 'must be absent for milestone events (a milestone is incident-wide)')
    else {
      const m = checkString(tenantId, LIMITS.tenantId, false)
      if (m) fail('tenant_id', m)
    }
  } else if (typeOk && TENANT_REQUIRED.has(t)) fail('tenant_id', `is required for ${t} events`)

  const progress = o.progress
  let progressValue: number | null = null
  if (progress !== undefined && progress !== null) {
    if (typeOk && t !== 'restore_progress') fail('progress', 'is only allowed for restore_progress events')
    else if (typeof progress !== 'number' || !Number.isFinite(progress)) fail('progress', `must be a number from 0 to 1 (got ${describe(progress)})`)
    else if (progress < 0 || progress > 1) fail('progress', `must be from 0 to 1 (got ${progress})`)
    else progressValue = progress
  } else if (typeOk && t === 'restore_progress') fail('progress', 'is required for restore_progress events')

  const channel = o.channel
  let channelValue = ''
  if (channel !== undefined && channel !== null) {
    if (typeOk && t !== 'communication') fail('channel', 'is only allowed for communication events')
    else if (typeof channel !== 'string' || !CHANNEL_SET.has(channel)) fail('channel', `must be one of ${CHANNELS.join(', ')}`)
    else channelValue = channel
  } else if (typeOk && t === 'communication') channelValue = 'other'

  const label = o.label
  let labelValue = ''
  if (label !== undefined && label !== null) {
    if (typeOk && t !== 'milestone') fail('label', 'is only allowed for milestone events')
    else {
      const m = checkString(label, LIMITS.label, true)
      if (m) fail('label', m)
      else labelValue = label as string
    }
  }

  const message = o.message
  let messageValue = ''
  if (message !== undefined && message !== null) {
    const m = checkString(message, LIMITS.message, true)
    if (m) fail('message', m)
    else messageValue = message as string
  }

  if (errors) return { ok: false, errors }
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

// YYYY-MM-DD[T t space]hh:mm:ss[.fraction](Z|z|±hh:mm)
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * Parse an RFC 3339 timestamp to epoch milliseconds (fraction truncated to ms), or return an
 * error message. Calendar fields are range-checked (no Feb 30, no hour 24, no leap second 60).
 */
export function parseTimestamp(s: string): number | string {
  const m = RFC3339_RE.exec(s)
  if (!m) return 'must be an RFC 3339 timestamp such as 2022-04-05T07:38:00.000Z (with Z or a ±hh:mm offset)'
  const year = +m[1]!
  const month = +m[2]!
  const day = +m[3]!
  const hour = +m[4]!
  const minute = +m[5]!
  const second = +m[6]!
  // Date.UTC maps years 0..99 to 1900..1999; such years are before 1970 anyway.
  if (year < 1900) return -1
  if (month < 1 || month > 12) return `has an invalid month ${m[2]}`
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const dim = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!
  if (day < 1 || day > dim) return `has an invalid day ${m[3]} for month ${m[2]}`
  if (hour > 23) return `has an invalid hour ${m[4]}`
  if (minute > 59) return `has an invalid minute ${m[5]}`
  if (second > 59) return `has an invalid second ${m[6]}`
  const frac = m[7]
  const ms = frac === undefined ? 0 : +(frac.length >= 3 ? frac.slice(0, 3) : frac.padEnd(3, '0'))
  let offsetMin = 0
  if (m[8] === undefined) {
    const oh = +m[10]!
    const om = +m[11]!
    if (oh > 23 || om > 59) return `has an invalid offset ${m[9]}${m[10]}:${m[11]}`
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om)
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000
}

/** Epoch ms → 'YYYY-MM-DD hh:mm:ss.sss' (UTC), the text form DateTime64(3) parses in JSONEachRow. */
export function formatRowTime(ms: number): string {
  const iso = new Date(ms).toISOString() // YYYY-MM-DDThh:mm:ss.sssZ for years 0000..9999
  return iso.slice(0, 10) + ' ' + iso.slice(11, 23)
}
