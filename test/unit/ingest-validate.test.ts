import { describe, expect, it } from 'vitest'
import { formatRowTime, parseTimestamp } from '../../server/domain/time.js'
import { validateEvent } from '../../server/ingest/validate.js'

const NOW = Date.parse('2026-03-01T12:00:00.000Z')
const base = { event_id: 'e-1', incident_id: 'inc-1', type: 'access_lost', occurred_at: '2022-04-05T07:38:00.123Z', tenant_id: 'acme' }
const errorsOf = (input: unknown) => {
  const r = validateEvent(input, NOW)
  return r.ok ? [] : r.errors
}

describe('validateEvent', () => {
  it('produces the table row with occurred_at as UTC text and defaults filled', () => {
    expect(validateEvent(base, NOW)).toEqual({
      ok: true,
      row: { incident_id: 'inc-1', tenant_id: 'acme', event_id: 'e-1', type: 'access_lost', occurred_at: '2022-04-05 07:38:00.123', progress: null, channel: '', label: '', message: '' },
    })
  })

  it('converts offsets to UTC and keeps milliseconds, truncating finer fractions', () => {
    const r = validateEvent({ ...base, occurred_at: '2022-04-05T09:38:00.123987+02:00' }, NOW)
    expect(r.ok && r.row.occurred_at).toBe('2022-04-05 07:38:00.123')
  })

  it('defaults the channel of a communication to other and allows a broadcast without tenant', () => {
    const r = validateEvent({ event_id: 'c', incident_id: 'inc-1', type: 'communication', occurred_at: '2022-04-05T07:38:00Z' }, NOW)
    expect(r.ok && [r.row.channel, r.row.tenant_id]).toEqual(['other', ''])
  })

  it('keeps a restore_progress fraction and a milestone label', () => {
    const p = validateEvent({ ...base, type: 'restore_progress', progress: 0.25 }, NOW)
    expect(p.ok && p.row.progress).toBe(0.25)
    const m = validateEvent({ event_id: 'm', incident_id: 'inc-1', type: 'milestone', occurred_at: '2022-04-05T07:38:00Z', label: 'root cause found' }, NOW)
    expect(m.ok && m.row.label).toBe('root cause found')
  })

  it('stores any Unicode tenant id unchanged and counts its length in characters', () => {
    const tenant = '🏢'.repeat(256)
    const r = validateEvent({ ...base, tenant_id: tenant }, NOW)
    expect(r.ok && r.row.tenant_id).toBe(tenant)
    expect(errorsOf({ ...base, tenant_id: '🏢'.repeat(257) })).toEqual([{ field: 'tenant_id', message: 'must be at most 256 characters (got 257)' }])
  })

  it.each([
    [{ ...base, event_id: undefined }, 'event_id', 'is required'],
    [{ ...base, event_id: '' }, 'event_id', 'must not be empty'],
    [{ ...base, event_id: 'x'.repeat(129) }, 'event_id', 'must be at most 128 characters (got 129)'],
    [{ ...base, event_id: 42 }, 'event_id', 'must be a string (got number)'],
    [{ ...base, incident_id: 'inc 1' }, 'incident_id', 'may only contain letters, digits and . _ : -'],
    [{ ...base, incident_id: 'i'.repeat(129) }, 'incident_id', 'must be at most 128 characters (got 129)'],
    [{ ...base, type: 'access_gone' }, 'type', 'must be one of access_lost, access_restored, restore_started, restore_progress, restore_completed, communication, milestone'],
    [{ ...base, tenant_id: undefined }, 'tenant_id', 'is required for access_lost events'],
    [{ ...base, tenant_id: '' }, 'tenant_id', 'must not be empty'],
    [{ ...base, tenant_id: 'a\ud800b' }, 'tenant_id', 'must be valid Unicode (lone surrogate)'],
    [{ ...base, occurred_at: '2022-04-05 07:38' }, 'occurred_at', 'must be an RFC 3339 timestamp such as 2022-04-05T07:38:00.000Z (with Z or a ±hh:mm offset)'],
    [{ ...base, occurred_at: '2022-04-05T07:38:00' }, 'occurred_at', 'must be an RFC 3339 timestamp such as 2022-04-05T07:38:00.000Z (with Z or a ±hh:mm offset)'],
    [{ ...base, occurred_at: '2023-02-29T00:00:00Z' }, 'occurred_at', 'has an invalid day 29 for month 02'],
    [{ ...base, occurred_at: '2022-04-05T24:00:00Z' }, 'occurred_at', 'has an invalid hour 24'],
    [{ ...base, occurred_at: '1969-12-31T23:59:59.999Z' }, 'occurred_at', 'must not be before 1970-01-01T00:00:00Z'],
    [{ ...base, occurred_at: '2026-03-01T12:05:00.001Z' }, 'occurred_at', 'must not be more than 5 minutes in the future'],
    [{ ...base, occurred_at: 1649144280000 }, 'occurred_at', 'must be an RFC 3339 timestamp string (got number)'],
    [{ ...base, type: 'restore_progress' }, 'progress', 'is required for restore_progress events'],
    [{ ...base, type: 'restore_progress', progress: 1.5 }, 'progress', 'must be from 0 to 1 (got 1.5)'],
    [{ ...base, type: 'restore_progress', progress: '0.5' }, 'progress', 'must be a number from 0 to 1 (got string)'],
    [{ ...base, progress: 0.5 }, 'progress', 'is only allowed for restore_progress events'],
    [{ ...base, channel: 'email' }, 'channel', 'is only allowed for communication events'],
    [{ ...base, type: 'communication', channel: 'pigeon' }, 'channel', 'must be one of email, ticket, status_page, phone, chat, social, other'],
    [{ ...base, label: 'x' }, 'label', 'is only allowed for milestone events'],
    [{ ...base, tenant_id: undefined, type: 'milestone', label: 'x'.repeat(257) }, 'label', 'must be at most 256 characters (got 257)'],
    [{ ...base, type: 'milestone' }, 'tenant_id', 'must be absent for milestone events (a milestone is incident-wide)'],
    [{ ...base, message: 'x'.repeat(4097) }, 'message', 'must be at most 4096 characters (got 4097)'],
    [{ ...base, seats: 10 }, 'seats', 'unknown field (allowed: event_id, incident_id, type, occurred_at, tenant_id, progress, channel, label, message)'],
  ])('rejects %j on %s', (input, field, message) => {
    expect(errorsOf(input)).toEqual([{ field, message }])
  })

  it('accepts the 5-minute future bound exactly and a 4096-character message', () => {
    expect(validateEvent({ ...base, occurred_at: '2026-03-01T12:05:00.000Z', message: 'm'.repeat(4096) }, NOW).ok).toBe(true)
  })

  it('lists every problem of an event, not just the first', () => {
    expect(errorsOf({ type: 'restore_progress', occurred_at: 'yesterday' }).map((e) => e.field)).toEqual(['event_id', 'incident_id', 'occurred_at', 'tenant_id', 'progress'])
  })

  it('rejects non-objects', () => {
    expect(errorsOf([base])).toEqual([{ field: '', message: 'event must be a JSON object (got array)' }])
    expect(errorsOf('x')).toEqual([{ field: '', message: 'event must be a JSON object (got string)' }])
  })
})

describe('parseTimestamp / formatRowTime', () => {
  it('agree with Date for every millisecond layout and offset', () => {
    // Independent reference: the platform's Date parser on the same instants.
    for (let ms = 0; ms < 4e12; ms += 9_876_543_211) {
      const iso = new Date(ms).toISOString()
      expect(parseTimestamp(iso)).toBe(ms)
      expect(formatRowTime(ms)).toBe(iso.slice(0, 10) + ' ' + iso.slice(11, 23))
      const shifted = new Date(ms - 5.5 * 3_600_000).toISOString().slice(0, 19)
      expect(parseTimestamp(`${shifted}.5-05:30`)).toBe(Math.floor(ms / 1000) * 1000 + 500)
    }
  })

  it('accepts lower-case t/z and a space separator (RFC 3339 §5.6 note)', () => {
    expect(parseTimestamp('2022-04-05t07:38:00z')).toBe(Date.parse('2022-04-05T07:38:00Z'))
    expect(parseTimestamp('2022-04-05 07:38:00+00:00')).toBe(Date.parse('2022-04-05T07:38:00Z'))
  })
})
