import { describe, expect, it } from 'vitest'
import { HttpError } from '../../server/errors.js'
import { parseDuration, parseScope, parseTimeParam, parseWindow, pointTimes } from '../../server/metrics/filters.js'
import { formatReportDuration, mdText } from '../../server/metrics/report.js'
import { eta } from '../../server/metrics/eta.js'
import { parseTenantPage } from '../../server/metrics/tenants.js'

const badRequest = (fn: () => unknown) => {
  try {
    fn()
  } catch (e) {
    return e instanceof HttpError && e.status === 400 ? e.message : `not a 400: ${String(e)}`
  }
  return 'no error'
}

describe('query parameter parsing', () => {
  it('reads durations with units or as seconds', () => {
    expect([parseDuration('24h', 'x'), parseDuration('30m', 'x'), parseDuration('1d', 'x'), parseDuration('90', 'x'), parseDuration('1.5h', 'x')]).toEqual([
      86400, 1800, 86400, 90, 5400,
    ])
    for (const bad of ['', 'soon', '-1h', '1y', '1e3', '99999999d']) expect(badRequest(() => parseDuration(bad, 'stale_after'))).toMatch(/stale_after/)
  })

  it('reads RFC 3339 timestamps with offsets and rejects the rest', () => {
    expect(parseTimeParam('2022-04-05T07:38:00.123Z', 'as_of')).toBe(Date.UTC(2022, 3, 5, 7, 38, 0, 123))
    expect(parseTimeParam('2022-04-05T09:38:00+02:00', 'as_of')).toBe(Date.UTC(2022, 3, 5, 7, 38))
    for (const bad of ['2022-04-05', 'yesterday', '2022-04-05T07:38:00', '1649144280', '1969-12-31T23:59:59Z']) {
      expect(badRequest(() => parseTimeParam(bad, 'as_of'))).toMatch(/as_of/)
    }
  })

  it('collects attr.<name> filters (repeats OR-ed) and checks names', () => {
    const now = new Date('2022-04-06T00:00:00Z')
    const s = parseScope('inc-1', { 'attr.tier': ['gold', 'free'], 'attr.region': 'eu', include_broadcast: 'true' }, now)
    expect(s).toEqual({
      incidentId: 'inc-1',
      asOfMs: now.getTime(),
      filters: [
        { name: 'tier', values: ['gold', 'free'] },
        { name: 'region', values: ['eu'] },
      ],
      includeBroadcast: true,
    })
    expect(badRequest(() => parseScope('inc-1', { "attr.x'y": 'a' }, now))).toMatch(/attribute name/)
    expect(badRequest(() => parseScope('inc-1', { attr: { tier: 'a' } }, now))).toMatch(/attr\.<name>/)
    expect(badRequest(() => parseScope('inc 1', {}, now))).toMatch(/incident_id/)
    expect(badRequest(() => parseScope('inc-1', { as_of: ['a', 'b'] }, now))).toMatch(/as_of/)
    expect(badRequest(() => parseScope('inc-1', { include_broadcast: 'maybe' }, now))).toMatch(/include_broadcast/)
  })

  it('checks the tenants page parameters', () => {
    expect(parseTenantPage({})).toEqual({ sort: 'downtime_s', order: 'desc', limit: 100, offset: 0, q: undefined, state: undefined })
    expect(badRequest(() => parseTenantPage({ limit: '1001' }))).toMatch(/limit/)
    expect(badRequest(() => parseTenantPage({ sort: 'name' }))).toMatch(/sort must be one of/)
    expect(badRequest(() => parseTenantPage({ offset: '-1' }))).toMatch(/offset/)
  })
})

describe('series windows', () => {
  const from = Date.UTC(2022, 3, 5, 7, 38)
  it('auto picks the smallest nice bucket giving at most 200 points', () => {
    const w = parseWindow({}, from + 14 * 86_400_000, from)
    expect(w.bucketMs).toBe(7200_000) // 14 d / 200 = 100.8 min → 2 h
    const points = pointTimes(w)
    expect(points.length).toBeLessThanOrEqual(201)
    expect(points.at(-1)).toBe(w.toMs)
  })

  it('aligns points to the bucket and ends exactly at `to`', () => {
    const w = parseWindow({ bucket: '1h', to: '2022-04-05T10:15:00Z' }, Date.UTC(2022, 3, 6), from)
    expect(pointTimes(w).map((t) => new Date(t).toISOString().slice(11, 16))).toEqual(['08:00', '09:00', '10:00', '10:15'])
  })

  it('clamps `to` to as_of and refuses windows with too many points', () => {
    const asOf = from + 3600_000
    expect(parseWindow({ to: '2030-01-01T00:00:00Z' }, asOf, from).toMs).toBe(asOf)
    expect(badRequest(() => parseWindow({ bucket: '1s' }, from + 86_400_000, from))).toMatch(/more than 2000 points/)
    expect(badRequest(() => parseWindow({ bucket: '30x' }, asOf, from))).toMatch(/bucket/)
  })
})

describe('report formatting', () => {
  it('writes durations the way people say them', () => {
    expect([3 * 86400 + 4 * 3600, 5 * 3600 + 12 * 60, 7 * 60 + 3, 12, 86400, null].map(formatReportDuration)).toEqual(['3 d 4 h', '5 h 12 min', '7 min 3 s', '12 s', '1 d', '—'])
  })

  it('escapes Markdown in tenant text', () => {
    expect(mdText('[x](http://evil) | *b* <img>\nnext')).toBe('\\[x\\]\\(http://evil\\) \\| \\*b\\* \\<img\\> next')
  })
})

describe('ETA', () => {
  const T = Date.UTC(2022, 3, 10)
  it('extrapolates the restore rate of the last 24 h over the tenants still down', () => {
    // 48 restores in 24 h = 2 per hour; 10 down → 5 h.
    const e = eta(T, T - 5 * 86_400_000, 10, 48)!
    expect(e.at).toBe(new Date(T + 5 * 3600_000).toISOString())
    expect(Date.parse(e.low)).toBeLessThan(Date.parse(e.at))
    expect(Date.parse(e.high)).toBeGreaterThan(Date.parse(e.at))
    expect(e.method).toMatch(/48 tenants got access back in the last 24 h/)
  })

  it('uses the time since first impact when shorter than 24 h, and is null without restores or without anyone down', () => {
    const e = eta(T, T - 6 * 3600_000, 3, 3)!
    expect(e.at).toBe(new Date(T + 6 * 3600_000).toISOString())
    expect(eta(T, T - 86_400_000, 5, 0)).toBeNull()
    expect(eta(T, T - 86_400_000, 0, 5)).toBeNull()
  })
})
