import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { broadcast, comm, completed, INCIDENT, insertEvents, insertIncident, insertTenants, lost, milestone, progress, restored, started } from '../helpers/factories.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { TOKENS } from '../helpers/db.js'

/**
 * Hand-computed figures for each §3 definition. Scenario (t0 = 2022-04-05T07:00Z, T = 2022-04-10T00:00Z,
 * so T − t0 = 113 h):
 *   A: lost t0, started +1h, progress 0.5 +2h, completed +3h, restored +4h; direct comms +30m, +2h.
 *   B: lost +1h, restored +2h, restore_started +2h30 (between outages), lost +3h, progress 0.25 +5h;
 *      a direct comm at t0 (before its first loss).
 *   C: a stray restored at t0, lost and restored both at +2h (a zero-length outage).
 *   D: only a direct communication (never affected).
 *   A broadcast at +2h30; a milestone at +6h; an event after T; every event of A sent twice.
 */
const H = 3600_000
const t0 = Date.parse('2022-04-05T07:00:00Z')
const T = Date.parse('2022-04-10T00:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()
const asOf = `as_of=${iso(T)}`

describe('metric definitions on a hand-computed incident', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startTestServer()
    const a = [
      lost('A', t0),
      started('A', t0 + H),
      progress('A', t0 + 2 * H, 0.5),
      completed('A', t0 + 3 * H),
      restored('A', t0 + 4 * H),
      comm('A', t0 + 0.5 * H),
      comm('A', t0 + 2 * H),
    ]
    const rest = [
      lost('B', t0 + H),
      restored('B', t0 + 2 * H),
      started('B', t0 + 2.5 * H),
      lost('B', t0 + 3 * H),
      progress('B', t0 + 5 * H, 0.25),
      comm('B', t0),
      restored('C', t0),
      lost('C', t0 + 2 * H),
      restored('C', t0 + 2 * H),
      comm('D', t0 + H),
      broadcast(t0 + 2.5 * H),
      milestone('root cause found', t0 + 6 * H),
      lost('A', T + H),
    ]
    await insertEvents(srv.store, [...a, ...rest].reverse(), 3)
    await insertEvents(srv.store, a)
    await insertTenants(srv.store, [
      { tenant_id: 'A', name: 'Acme Corp', attributes: { tier: 'gold', seats: 100 } },
      { tenant_id: 'B', name: '=cmd()', attributes: { tier: 'free', seats: 10 } },
    ])
    await insertIncident(srv.store, { incident_id: 'meta-only', title: 'Only metadata', status: 'resolved' })
  })
  afterAll(async () => srv?.stop())

  const api = (path: string, init?: RequestInit) => srv.api(path, init)
  const get = async (path: string) => {
    const res = await srv.api(path, { token: TOKENS.read })
    expect(res.status, await res.clone().text()).toBe(200)
    return res.json()
  }

  it('computes each tenant row: state, intervals, downtime, stage, first contact, gaps', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}`)
    expect(body).toEqual({
      total: 3,
      rows: [
        {
          tenant_id: 'B',
          name: '=cmd()',
          attributes: { tier: 'free', seats: '10' },
          state: 'down',
          first_lost_at: iso(t0 + H),
          last_restored_at: null,
          downtime_s: 111 * 3600,
          outages: 2,
          restore_stage: 'in_progress',
          restore_progress: 0.25,
          first_contact_at: null,
          first_contact_latency_s: null,
          communications: 0,
          max_comm_gap_s: 112 * 3600,
        },
        {
          tenant_id: 'A',
          name: 'Acme Corp',
          attributes: { tier: 'gold', seats: '100' },
          state: 'up',
          first_lost_at: iso(t0),
          last_restored_at: iso(t0 + 4 * H),
          downtime_s: 4 * 3600,
          outages: 1,
          restore_stage: null,
          restore_progress: null,
          first_contact_at: iso(t0 + 0.5 * H),
          first_contact_latency_s: 1800,
          communications: 2,
          max_comm_gap_s: 7200,
        },
        {
          tenant_id: 'C',
          name: '',
          attributes: {},
          state: 'up',
          first_lost_at: iso(t0 + 2 * H),
          last_restored_at: iso(t0 + 2 * H),
          downtime_s: 0,
          outages: 1,
          restore_stage: null,
          restore_progress: null,
          first_contact_at: null,
          first_contact_latency_s: null,
          communications: 0,
          max_comm_gap_s: 0,
        },
      ],
    })
  })

  it('counts broadcasts for every tenant with include_broadcast=true', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}&include_broadcast=true&sort=tenant_id&order=asc`)
    const pick = (r: Record<string, unknown>) => [r.tenant_id, r.first_contact_latency_s, r.communications, r.max_comm_gap_s]
    expect(body.rows.map(pick)).toEqual([
      ['A', 1800, 3, 5400],
      ['B', 5400, 1, 112 * 3600],
      ['C', 1800, 1, 0],
    ])
  })

  it('summarises the incident: counts, stats, stale, stages and milestones', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/summary?${asOf}&weight=seats`)
    expect(body).toEqual({
      incident_id: INCIDENT,
      as_of: iso(T),
      affected: 3,
      restored: 2,
      down: 1,
      recovery_pct: 200 / 3,
      weighted: { weight: 'seats', affected: 110, restored: 100, recovery_pct: (100 * 100) / 110 },
      downtime_s: { median: 14400, p90: expect.closeTo(322560, 6), max: 399600, total: 414000 },
      first_contact_latency_s: { median: 1800, p90: 1800, max: 1800 },
      waiting_first_contact: 2,
      stale: 1,
      stale_after_s: 86400,
      // Default policy (4 h, 24 h): B, down and never contacted, is overdue for a first contact.
      // Counted for first contact on time: A (contacted after 30 min), B and C (never, deadline passed).
      overdue: 1,
      first_contact_on_time_pct: 100 / 3,
      comm_policy: { first_contact_within: '4h', update_every: '24h', stall_after: '6h' },
      stages: { not_started: 0, in_progress: 1, completed: 0 },
      milestones: {
        first_impact_at: iso(t0),
        first_contact_at: iso(t0),
        pct50_at: iso(t0 + 2 * H),
        pct90_at: null,
        pct100_at: null,
        events: [{ at: iso(t0 + 6 * H), label: 'root cause found' }],
      },
      eta: null,
    })
  })

  it('lists who to contact now under the incident\'s policy, and follows a policy change', async () => {
    const list = await get(`/api/v1/incidents/${INCIDENT}/overdue?${asOf}`)
    expect(list).toEqual({
      total: 1,
      rows: [{ tenant_id: 'B', name: '=cmd()', kind: 'first_contact', due_at: iso(t0 + 5 * H), overdue_s: (T - (t0 + 5 * H)) / 1000, last_contact_at: null }],
    })
    // B was lost 112 h before T: a first contact within 113 h is not due yet.
    const put = await api(`/api/v1/incidents/${INCIDENT}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ comm_policy: { first_contact_within: '113h' } }) })
    expect((await put.json()).comm_policy).toEqual({ first_contact_within: '113h', update_every: '24h', stall_after: '6h' })
    expect(await get(`/api/v1/incidents/${INCIDENT}/overdue?${asOf}`)).toEqual({ total: 0, rows: [] })
    expect((await get(`/api/v1/incidents/${INCIDENT}/summary?${asOf}`)).overdue).toBe(0)
    // null resets a field to the default.
    await api(`/api/v1/incidents/${INCIDENT}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ comm_policy: { first_contact_within: null } }) })
    expect((await get(`/api/v1/incidents/${INCIDENT}/overdue?${asOf}`)).total).toBe(1)
    const bad = await api(`/api/v1/incidents/${INCIDENT}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ comm_policy: { update_every: '10s' } }) })
    expect(bad.status).toBe(400)
    const csv = await (await api(`/api/v1/incidents/${INCIDENT}/overdue.csv?${asOf}`)).text()
    expect(csv.trim().split('\n')).toEqual([
      '"tenant_id","name","kind","due_at","overdue_s","last_contact_at"',
      `"B","'=cmd()","first_contact","${iso(t0 + 5 * H)}",${(T - (t0 + 5 * H)) / 1000},`,
    ])
  })

  it('treats stale_after as a strict bound and accepts durations', async () => {
    // B's last anchor is its first loss (t0+1h): 112 h before T.
    expect((await get(`/api/v1/incidents/${INCIDENT}/summary?${asOf}&stale_after=112h`)).stale).toBe(0)
    expect((await get(`/api/v1/incidents/${INCIDENT}/summary?${asOf}&stale_after=111h`)).stale).toBe(1)
    expect((await get(`/api/v1/incidents/${INCIDENT}/summary?${asOf}&stale_after=${111 * 3600}`)).stale_after_s).toBe(111 * 3600)
  })

  it('sees only events at or before as_of', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/summary?as_of=${iso(t0 + 1.5 * H)}`)
    expect([body.affected, body.restored, body.stages]).toEqual([2, 0, { not_started: 1, in_progress: 1, completed: 0 }])
  })

  it('filters tenants by segment and searches ids and names', async () => {
    const gold = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}&attr.tier=gold`)
    expect(gold.rows.map((r: { tenant_id: string }) => r.tenant_id)).toEqual(['A'])
    const both = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}&attr.tier=gold&attr.tier=free&sort=tenant_id&order=asc`)
    expect(both.rows.map((r: { tenant_id: string }) => r.tenant_id)).toEqual(['A', 'B'])
    const none = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}&attr.tier=gold&attr.seats=10`)
    expect(none).toEqual({ total: 0, rows: [] })
    const q = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}&q=acme`)
    expect(q.rows.map((r: { tenant_id: string }) => r.tenant_id)).toEqual(['A'])
    const up = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}&state=up&sort=first_lost_at&order=asc&limit=1`)
    expect([up.total, up.rows.map((r: { tenant_id: string }) => r.tenant_id)]).toEqual([2, ['A']])
    const past = await get(`/api/v1/incidents/${INCIDENT}/tenants?${asOf}&offset=10`)
    expect(past).toEqual({ total: 3, rows: [] })
  })

  it('answers 404 for an unknown incident and 400 for bad parameters', async () => {
    expect((await srv.api(`/api/v1/incidents/nope/summary`)).status).toBe(404)
    expect((await srv.api(`/api/v1/incidents/meta-only/summary`)).status).toBe(200)
    const bad = [
      'tenants?as_of=yesterday',
      'tenants?sort=name',
      'tenants?limit=1001',
      'tenants?order=up',
      'tenants?attr.bad%20name=x',
      'tenants?state=gone',
      'summary?stale_after=soon',
      'summary?weight=no%20spaces',
    ]
    for (const path of bad) {
      const res = await srv.api(`/api/v1/incidents/${INCIDENT}/${path}`)
      expect([path, res.status]).toEqual([path, 400])
      expect((await res.json()).error.code).toBe('bad_request')
    }
  })

  it('exports CSV with spreadsheet-safe cells', async () => {
    const res = await srv.api(`/api/v1/incidents/${INCIDENT}/tenants.csv?${asOf}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    const lines = (await res.text()).trim().split('\n')
    expect(lines[0]).toBe(
      '"tenant_id","name","attributes","state","first_lost_at","last_restored_at","downtime_s","outages","restore_stage","restore_progress","first_contact_at","first_contact_latency_s","communications","max_comm_gap_s"',
    )
    expect(lines[1]).toContain(`"B","'=cmd()"`)
    expect(lines).toHaveLength(4)
  })

  it('recovery series: state at each bucket end, weighted, with restore stages', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/recovery?${asOf}&bucket=1h&from=${iso(t0 - H)}&to=${iso(t0 + 6 * H)}&weight=seats`)
    expect(body.bucket_s).toBe(3600)
    const pts = body.series[0].points
    expect(body.series[0].group).toBeNull()
    expect(pts.map((p: { t: string }) => p.t)).toEqual([-1, 0, 1, 2, 3, 4, 5, 6].map((h) => iso(t0 + h * H)))
    const cols = (p: Record<string, number | null>) => [p.affected, p.restored, p.not_started, p.in_progress, p.completed]
    expect(pts.map(cols)).toEqual([
      [0, 0, 0, 0, 0],
      [1, 0, 1, 0, 0],
      [2, 0, 1, 1, 0],
      [3, 2, 0, 1, 0],
      [3, 1, 1, 0, 1],
      [3, 2, 1, 0, 0],
      [3, 2, 0, 1, 0],
      [3, 2, 0, 1, 0],
    ])
    const pct = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000)
    expect(pts.map((p: { recovery_pct: number | null }) => pct(p.recovery_pct))).toEqual([null, 0, 0, 66.667, 33.333, 66.667, 66.667, 66.667])
    expect(pts.map((p: { weighted_recovery_pct: number | null }) => pct(p.weighted_recovery_pct))).toEqual([null, 0, 0, 9.091, 0, 90.909, 90.909, 90.909])
  })

  it('recovery series grouped by an attribute (tenants without it form the "" group)', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/recovery?${asOf}&bucket=1d&from=${iso(t0)}&group_by=tier`)
    const last = (g: { group: string; points: { affected: number; restored: number }[] }) => [g.group, g.points.at(-1)!.affected, g.points.at(-1)!.restored]
    expect(body.series.map(last).sort()).toEqual([
      ['', 1, 1],
      ['free', 1, 0],
      ['gold', 1, 1],
    ])
  })

  it('communications series: sent per bucket, waiting, stale and first-contact latency', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/communications?${asOf}&bucket=1h&from=${iso(t0 - H)}&to=${iso(t0 + 6 * H)}&stale_after=1h`)
    const cols = (p: Record<string, number | null>) => [p.sent_direct, p.sent_broadcast, p.waiting_first_contact, p.stale, p.median_first_contact_latency_s]
    expect(body.points.map(cols)).toEqual([
      [0, 0, 0, 0, null],
      [1, 0, 1, 0, null],
      [2, 0, 1, 0, 1800],
      [1, 0, 2, 0, null],
      [0, 1, 2, 1, null],
      [0, 0, 2, 1, null],
      [0, 0, 2, 1, null],
      [0, 0, 2, 1, null],
    ])
  })

  it('rejects a bucket that gives too many points, and unknown bucket syntax', async () => {
    for (const q of ['bucket=1s', 'bucket=soon', 'bucket=0s', `from=${iso(T + H)}`]) {
      const res = await srv.api(`/api/v1/incidents/${INCIDENT}/recovery?${asOf}&${q}`)
      expect([q, res.status]).toEqual([q, 400])
    }
  })

  it('downtime histogram: nice-width bins from 0 covering the longest downtime', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/downtime-histogram?${asOf}&bins=20`)
    // Longest is B's 111 h: 6 h bins (10 800 s × 20 would not reach it), 19 of them.
    expect(body.bins).toHaveLength(19)
    expect(body.bins[0]).toEqual({ from_s: 0, to_s: 21600, tenants: 2 })
    expect(body.bins[18]).toEqual({ from_s: 18 * 21600, to_s: 19 * 21600, tenants: 1 })
    expect(body.bins.reduce((n: number, b: { tenants: number }) => n + b.tenants, 0)).toBe(3)
  })

  it('timeline: the tenant events in order, broadcasts when asked, and its row', async () => {
    const body = await get(`/api/v1/incidents/${INCIDENT}/tenants/B/timeline?${asOf}&include_broadcast=true`)
    expect(body.events.map((e: { type: string; occurred_at: string; direct: boolean }) => [e.type, e.occurred_at, e.direct])).toEqual([
      ['communication', iso(t0), true],
      ['access_lost', iso(t0 + H), true],
      ['access_restored', iso(t0 + 2 * H), true],
      ['restore_started', iso(t0 + 2.5 * H), true],
      ['communication', iso(t0 + 2.5 * H), false],
      ['access_lost', iso(t0 + 3 * H), true],
      ['restore_progress', iso(t0 + 5 * H), true],
    ])
    expect(body.row).toMatchObject({ tenant_id: 'B', state: 'down', outages: 2, first_contact_latency_s: 5400 })
    expect(body.diagnostics).toEqual({ stray_restores: 0 })
    // C sent access_restored at t0 while up: a stray, ignored by the state machine.
    expect((await get(`/api/v1/incidents/${INCIDENT}/tenants/C/timeline?${asOf}`)).diagnostics).toEqual({ stray_restores: 1 })
    const d = await get(`/api/v1/incidents/${INCIDENT}/tenants/D/timeline?${asOf}`)
    expect([d.events.length, d.row]).toEqual([1, null])
    expect((await srv.api(`/api/v1/incidents/${INCIDENT}/tenants/Z/timeline`)).status).toBe(404)
    expect((await srv.api(`/api/v1/incidents/nope/tenants/A/timeline`)).status).toBe(404)
  })

  it('lists incidents, including one with metadata only', async () => {
    const body = await get(`/api/v1/incidents?${asOf}`)
    expect(body.incidents).toEqual([
      {
        incident_id: INCIDENT,
        title: INCIDENT,
        status: 'ongoing',
        first_event_at: iso(t0),
        last_event_at: iso(t0 + 6 * H),
        affected: 3,
        restored: 2,
        recovery_pct: 200 / 3,
      },
      { incident_id: 'meta-only', title: 'Only metadata', status: 'resolved', first_event_at: null, last_event_at: null, affected: 0, restored: 0, recovery_pct: null },
    ])
  })

  it('narrows the incidents list counts to a segment', async () => {
    const body = await get(`/api/v1/incidents?${asOf}&attr.tier=free`)
    expect(body.incidents[0]).toMatchObject({ incident_id: INCIDENT, affected: 1, restored: 0, recovery_pct: 0 })
  })

  it('writes a Markdown report with key figures, milestones and the worst-hit customers', async () => {
    const res = await srv.api(`/api/v1/incidents/${INCIDENT}/report.md?${asOf}`)
    expect(res.headers.get('content-type')).toMatch(/^text\/markdown/)
    const md = await res.text()
    expect(md).toContain('| Affected tenants | 3 |')
    expect(md).toContain('| Restored | 2 (66.7 %) |')
    expect(md).toContain('- **2022-04-05 09:00:00 UTC** — 50 % of affected tenants restored')
    expect(md).toContain('- **2022-04-05 13:00:00 UTC** — root cause found')
    // Tenant-supplied text cannot inject Markdown; durations read as "4 d 15 h".
    expect(md).toContain('| =cmd\\(\\) (`B`) | 4 d 15 h | 2 | still down | — |')
    expect(md).toContain('| Acme Corp (`A`) | 4 h | 1 | restored | 30 min |')
    // Against the default policy: only A was contacted, in time; B (never contacted) is overdue.
    expect(md).toContain('| First contacts within the policy | 33.3 % |')
    expect(md).toContain('| Overdue for a contact now | 1 |')
    expect(md).toContain('| =cmd\\(\\) (`B`) | first contact | 4 d 12 h | never |')
  })
})
