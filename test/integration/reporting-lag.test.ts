import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventRow } from '../../server/ingest/types.js'
import { broadcast, comm, insertEvents, insertTenants, lost, milestone, progress, restored, rowTime } from '../helpers/factories.js'
import { quantile } from '../helpers/reference.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * GET …/reporting-lag (SPEC §7): the delay from occurred_at to received_at per event type and the
 * most delayed events, against a plain computation over the same events; as_of, known_at and
 * segment filters narrow what counts; a re-sent copy received later changes nothing.
 */
const T0 = Date.parse('2022-04-05T07:00:00Z')
const S = 1000
const MIN = 60 * S
const H = 60 * MIN
const D = 24 * H
const INC = 'lag-1'

type Arrived = EventRow & { received_at: string; seq: number }
let seq = 0
const arrive = (e: EventRow, lagMs: number): Arrived => {
  const occurred = Date.parse(e.occurred_at.replace(' ', 'T') + 'Z')
  return { ...e, incident_id: e.incident_id === 'inc-1' ? INC : e.incident_id, received_at: rowTime(occurred + lagMs), seq: ++seq }
}

// Tenant a reported promptly, b three days late (a late-published outage), c with a restore step
// reported in a batch hours later; a broadcast, a milestone, a re-sent copy, another incident.
const events: Arrived[] = [
  arrive(lost('a', T0), 5 * S),
  arrive(comm('a', T0 + 30 * MIN), 0),
  arrive(restored('a', T0 + H), 2 * MIN),
  arrive(lost('b', T0 + 10 * MIN, { event_id: 'b-lost' }), 3 * D),
  arrive(lost('c', T0 + 20 * MIN), 40 * S),
  arrive(progress('c', T0 + 2 * H, 0.5), 6 * H),
  arrive(restored('c', T0 + 5 * H), 6 * H + 30 * S),
  arrive(broadcast(T0 + 2 * H), 1 * S),
  arrive(milestone('fix deployed', T0 + 4 * H), 10 * MIN),
  arrive(lost('x', T0, { incident_id: 'lag-other' }), 9 * D),
]
// The same event sent again a day after its first copy: the first accepted copy keeps its received_at.
const resent: Arrived = { ...events[3]!, received_at: rowTime(T0 + 10 * MIN + 4 * D), seq: ++seq }

const ms = (t: string) => Date.parse(t.replace(' ', 'T') + 'Z')
const iso = (t: number) => new Date(t).toISOString()

/** Numbers to 1e-6 s (the engine's interpolated quantiles differ from JS in the last bits). */
const rounded = <T>(v: T): T => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' ? Math.round(x * 1e6) / 1e6 : x)))

/** The plain computation: first copies of the incident's events that count, grouped by type. */
function expected(counted: (e: Arrived) => boolean) {
  const seen = new Set<string>()
  const rows = [...events, resent].filter((e) => {
    const key = `${e.incident_id}\u0000${e.tenant_id}\u0000${e.event_id}`
    if (seen.has(key)) return false
    seen.add(key)
    return e.incident_id === INC && counted(e)
  })
  const lag = (e: Arrived) => (ms(e.received_at) - ms(e.occurred_at)) / 1000
  const order = ['access_lost', 'access_restored', 'restore_started', 'restore_progress', 'restore_completed', 'communication', 'milestone']
  const types = [...new Set(rows.map((e) => e.type))].sort((a, b) => order.indexOf(a) - order.indexOf(b))
  return rounded({
    types: types.map((type) => {
      const lags = rows.filter((e) => e.type === type).map(lag)
      return { type, events: lags.length, median_s: quantile(lags, 0.5), p90_s: quantile(lags, 0.9), max_s: Math.max(...lags) }
    }),
    most_delayed: rows
      .sort((a, b) => lag(b) - lag(a) || (a.event_id < b.event_id ? -1 : 1))
      .slice(0, 20)
      .map((e) => ({ event_id: e.event_id, tenant_id: e.tenant_id, type: e.type, occurred_at: iso(ms(e.occurred_at)), received_at: iso(ms(e.received_at)), lag_s: lag(e) })),
  })
}

describe('reporting lag', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startTestServer()
    await insertEvents(srv.store, events)
    await insertEvents(srv.store, [resent])
    await insertTenants(srv.store, [
      { tenant_id: 'a', name: 'A', attributes: { tier: 'gold' } },
      { tenant_id: 'b', name: 'B', attributes: { tier: 'free' } },
    ])
  })
  afterAll(async () => srv?.stop())

  const get = async (query: string) => {
    const res = await srv.api(`/api/v1/incidents/${INC}/reporting-lag?${query}`)
    expect(res.status).toBe(200)
    return rounded(await res.json())
  }

  it('gives the delay per event type and the most delayed events, each event once', async () => {
    const body = await get(`as_of=${iso(T0 + 10 * D)}`)
    expect(body).toEqual(expected(() => true))
    expect(body.most_delayed[0]).toMatchObject({ event_id: 'b-lost', tenant_id: 'b', lag_s: (3 * D) / 1000 })
    expect(body.types.find((t: { type: string }) => t.type === 'access_lost')).toMatchObject({ events: 3, max_s: (3 * D) / 1000 })
  })

  it('counts only events that occurred by as_of and were received by known_at', async () => {
    expect(await get(`as_of=${iso(T0 + 90 * MIN)}`)).toEqual(expected((e) => ms(e.occurred_at) <= T0 + 90 * MIN))
    const knownAt = T0 + D
    const early = await get(`as_of=${iso(T0 + 10 * D)}&known_at=${iso(knownAt)}`)
    expect(early).toEqual(expected((e) => ms(e.received_at) <= knownAt))
    expect(early.most_delayed.map((e: { event_id: string }) => e.event_id)).not.toContain('b-lost')
  })

  it('narrows tenant events to the segment and keeps the broadcasts and milestones', async () => {
    const gold = await get(`as_of=${iso(T0 + 10 * D)}&attr.tier=gold`)
    expect(gold).toEqual(expected((e) => e.tenant_id === '' || e.tenant_id === 'a'))
  })

  it('answers 404 for an unknown incident', async () => {
    expect((await srv.api('/api/v1/incidents/lag-none/reporting-lag')).status).toBe(404)
  })

  it("puts the late outages, the lag per event type and the forecast's history in the report", async () => {
    const res = await srv.api(`/api/v1/incidents/${INC}/report.md?as_of=${iso(T0 + 10 * D)}`)
    expect(res.status).toBe(200)
    const md = await res.text()
    const section = md.slice(md.indexOf('## What we knew, when'))
    expect(section).toContain('| `b` | 2022-04-05 07:10:00 UTC | 2022-04-08 07:10:00 UTC | 3 d |')
    // access_lost lags 5 s, 40 s, 3 d: median 40 s, p90 (interpolated) 2 d 9 h, max 3 d.
    expect(section).toContain('| access_lost | 3 | 40 s | 2 d 9 h | 3 d |')
    expect(section).toContain('| milestone | 1 | 10 min | 10 min | 10 min |')
    // The forecast's lines are those of GET …/eta-history (the default window), with their errors.
    const historyRes = await srv.api(`/api/v1/incidents/${INC}/eta-history?as_of=${iso(T0 + 10 * D)}`)
    const history = await historyRes.json()
    expect(history).toHaveProperty('points')
    const shown = history.points.filter((p: { eta_at: string | null }) => p.eta_at !== null)
    // From T0 + 1 h a restore (a) and a tenant down (c) make a forecast; b is never restored, so no error.
    expect(shown.length).toBeGreaterThan(0)
    const w = (t: string) => t.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC')
    expect(section).toContain(`| ${w(shown[0].t)} | ${w(shown[0].eta_at)} | not recovered yet |`)
  })

  it('gives at each point of the ETA history the forecast the summary showed then (as_of = known_at = t), over days', async () => {
    // Points with no late arrival from the incident log (built at once), the others in ClickHouse.
    srv.config.incidentLog = 'always'
    const history = await (await srv.api(`/api/v1/incidents/${INC}/eta-history?as_of=${iso(T0 + 10 * D)}&bucket=6h`)).json()
    expect(history.actual_full_recovery_at).toBeNull()
    expect(history.points.length).toBeGreaterThan(30)
    for (const p of history.points) {
      const known = Date.parse(p.t) < Date.now() ? `&known_at=${p.t}` : ''
      const then = await (await srv.api(`/api/v1/incidents/${INC}/summary?as_of=${p.t}${known}`)).json()
      expect({ t: p.t, eta_at: p.eta_at, low: p.low, high: p.high }).toEqual({ t: p.t, eta_at: then.eta?.at ?? null, low: then.eta?.low ?? null, high: then.eta?.high ?? null })
    }
    // A forecast was shown while restores were recent, none once the last restore was over a day old.
    expect(history.points.some((p: { eta_at: string | null }) => p.eta_at !== null)).toBe(true)
    expect(history.points.at(-1).eta_at).toBeNull()
  })

  it('lists the incidents as known at known_at: a late-reported outage and a late incident appear only later', async () => {
    const list = async (q: string) => {
      const res = await srv.api(`/api/v1/incidents?as_of=${iso(T0 + 10 * D)}${q}`)
      expect(res.status).toBe(200)
      return new Map((await res.json()).incidents.map((i: { incident_id: string; affected: number; restored: number }) => [i.incident_id, [i.affected, i.restored]]))
    }
    const now = await list('')
    expect(now.get(INC)).toEqual([3, 2])
    expect(now.get('lag-other')).toEqual([1, 0])
    // A day in: b's outage (reported 3 days late) and the other incident (9 days late) were not known.
    const then = await list(`&known_at=${iso(T0 + D)}`)
    expect(then.get(INC)).toEqual([2, 2])
    expect(then.has('lag-other')).toBe(false)
    expect((await list(`&known_at=${iso(T0 + 5 * D)}`)).get(INC)).toEqual([3, 2])
  })

  it('refuses an ETA history with more points to compute afresh than it allows, with 400 naming the limit', async () => {
    // b's outage was late at every point of its three days: at a 30 s bucket over 3 h, 340 such points.
    const res = await srv.api(`/api/v1/incidents/${INC}/eta-history?from=${iso(T0)}&to=${iso(T0 + 3 * H)}&as_of=${iso(T0 + 10 * D)}&bucket=30s`)
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.error.code).toBe('too_expensive')
    expect(body.error.message).toContain('at most 200')
    // The same window at a 5 min bucket (36 such points) is answered.
    expect((await srv.api(`/api/v1/incidents/${INC}/eta-history?from=${iso(T0)}&to=${iso(T0 + 3 * H)}&as_of=${iso(T0 + 10 * D)}&bucket=5m`)).status).toBe(200)
  })
})
