import { Session } from 'chdb'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventRow } from '../../server/ingest/types.js'
import { TOKENS } from '../helpers/db.js'
import { broadcast, comm, completed, lost, milestone, progress, restored, started } from '../helpers/factories.js'
import { expandGrafanaSql, grafanaDocBlocks, type GrafanaQueryContext } from '../helpers/grafana-doc.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * docs/grafana.md against the API: each SQL block of the doc, expanded as Grafana and its
 * ClickHouse plugin expand it (test/helpers/grafana-doc.ts), run as written against the embedded
 * engine in a read-only session, equals the API's figures for the same incident and moment. The
 * incident arrives through POST /api/v1/events in several requests, newest first, with a request
 * sent twice, re-sent event ids carrying other content, and events sent late.
 */
const H = 3_600_000
const t0 = Date.parse('2024-03-01T08:00:00.000Z')
const h = (x: number) => t0 + x * H
const iso = (ms: number) => new Date(ms).toISOString()
const INCIDENT = 'gx-1'
const OTHER = 'gx-2'

const at = (incident: string, events: EventRow[]) => events.map((e) => ({ ...e, incident_id: incident }))

/** The incident, sent first (the late events and the re-sent copies come after). */
const FIRST = at(INCIDENT, [
  // Two outages, restore steps in each.
  lost('acme', h(0)), started('acme', h(2)), progress('acme', h(3), 0.4), restored('acme', h(5)),
  lost('acme', h(20)), started('acme', h(21)), progress('acme', h(22), 0.7), completed('acme', h(23)), restored('acme', h(26)),
  comm('acme', h(1)), comm('acme', h(21.5)),
  // A stray restore (while up), an access_lost while down (ignored).
  restored('bolt', h(-0.5)), comm('bolt', h(0.5)), lost('bolt', h(1)), comm('bolt', h(4)), restored('bolt', h(10)),
  lost('cask', h(2)), lost('cask', h(3)), started('cask', h(4)), comm('cask', h(6)), restored('cask', h(12)),
  // Still down; contacted the moment it lost access; its restore completed, access still pending.
  lost('dune', h(3)), comm('dune', h(3)), started('dune', h(5)), progress('dune', h(6), 0.3), progress('dune', h(8), 0.6), completed('dune', h(30)),
  // Lost and restored in the same millisecond (access_lost comes first), then a second outage; never contacted.
  lost('echo', h(4)), restored('echo', h(4)), lost('echo', h(8)), restored('echo', h(15)),
  lost('fern', h(6), { event_id: 'fern-lost' }), comm('fern', h(7), { event_id: 'fern-c1' }), restored('fern', h(9), { event_id: 'fern-restore' }),
  // Contacted, never affected.
  comm('gale', h(5)),
  broadcast(h(-2)), broadcast(h(2.5)), broadcast(h(12)), broadcast(h(12)),
  milestone('root cause found', h(6)), milestone('restore v2 rolled out', h(18)),
])
/** Copies of accepted event ids with other content: the first accepted copy wins, these change nothing. */
const RESENT = at(INCIDENT, [
  restored('fern', h(6), { event_id: 'fern-lost' }),
  restored('fern', h(40), { event_id: 'fern-restore' }),
  comm('fern', h(2), { event_id: 'fern-c1' }),
])
/** Sent last, about earlier moments: bolt's outage started before its first access_lost; hive appears. */
const LATE = at(INCIDENT, [lost('bolt', h(0.2)), lost('hive', h(1.5)), restored('hive', h(7))])
/** Another incident with the same tenant ids: nothing of it may show in the first one's figures. */
const OTHER_EVENTS = at(OTHER, [lost('acme', h(0)), comm('acme', h(0.5)), restored('acme', h(1)), lost('zulu', h(0.5)), restored('zulu', h(1))])

/** An EventRow as the JSON a producer sends. */
function wire(e: EventRow): Record<string, unknown> {
  const out: Record<string, unknown> = { event_id: e.event_id, incident_id: e.incident_id, type: e.type, occurred_at: new Date(e.occurred_at.replace(' ', 'T') + 'Z').toISOString() }
  if (e.tenant_id) out.tenant_id = e.tenant_id
  if (e.progress !== null) out.progress = e.progress
  if (e.type === 'communication') out.channel = e.channel
  if (e.label) out.label = e.label
  return out
}

/** The dashboard ranges the panels are asked for: the whole incident; a window ending on an event (bolt's restore) at an odd interval; one shorter than its interval; one before anything happened. */
const RANGES: { name: string; fromMs: number; toMs: number; intervalMs: number }[] = [
  { name: 'the whole incident, hourly', fromMs: h(-3), toMs: h(48), intervalMs: H },
  { name: 'an unaligned window ending on an event, 1234 s', fromMs: h(0) - 1_033_500, toMs: h(10), intervalMs: 1_234_000 },
  { name: 'a window shorter than its interval', fromMs: h(4.5), toMs: h(5), intervalMs: 2 * H },
  { name: 'a window before the first event', fromMs: h(-10), toMs: h(-5), intervalMs: H },
]

describe('the SQL of docs/grafana.md', () => {
  let srv: TestServer
  let grafana: Session
  const blocks = grafanaDocBlocks()

  const post = async (path: string, body: unknown, method = 'POST') => {
    const res = await srv.api(path, { method, token: TOKENS.admin, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(res.status).toBe(200)
    return res.json()
  }
  const api = async (path: string) => {
    const res = await srv.api(path, { token: TOKENS.read })
    expect(res.status).toBe(200)
    return res.json()
  }
  /** A doc block, expanded for a range (and the incident variable), run in the read-only session. */
  const panel = async <T>(name: string, range: Omit<GrafanaQueryContext, 'vars' | 'db'>, incident = INCIDENT): Promise<T[]> => {
    const sql = blocks.get(name)
    if (!sql) throw new Error(`docs/grafana.md has no block ${name}`)
    return query<T>(expandGrafanaSql(sql, { ...range, vars: { incident }, db: srv.store.db }))
  }
  const query = async <T>(sql: string): Promise<T[]> => {
    const text = (await grafana.queryAsync(sql, { format: 'JSONEachRow' })).text()
    return text.length === 0 ? [] : text.trimEnd().split('\n').map((line) => JSON.parse(line) as T)
  }

  beforeAll(async () => {
    srv = await startTestServer()
    await post('/api/v1/tenants', [
      { tenant_id: 'acme', name: 'Acme Corp', attributes: { tier: 'gold', seats: 50 } },
      { tenant_id: 'bolt', name: 'Bolt Ltd', attributes: { tier: 'silver', seats: 5 } },
      { tenant_id: 'cask', name: 'Cask' },
    ])
    await post(`/api/v1/incidents/${INCIDENT}`, { title: 'Storage outage', severity: 'critical' }, 'PUT')
    // Newest first, in three requests, the first one sent twice; then the re-sent ids, the late events, the other incident.
    const reversed = [...FIRST].reverse()
    const third = Math.ceil(reversed.length / 3)
    const requests = [reversed.slice(0, third), reversed.slice(third, 2 * third), reversed.slice(2 * third), reversed.slice(0, third), RESENT, LATE, OTHER_EVENTS]
    for (const batch of requests) expect((await post('/api/v1/events', batch.map(wire))).accepted).toBe(batch.length)
    expect(await srv.drained(30_000)).toBe(true)
    // What the grafana user gets: a session of its own on the same engine, readonly = 1. Without
    // Variant as a common type (a newer default), so a query that would only run with it fails here.
    grafana = new Session(resolve(join(srv.config.dataDir, 'clickhouse')))
    grafana.query(
      `SET date_time_output_format = 'iso'; SET output_format_json_quote_64bit_integers = 0; SET use_variant_as_common_type = 0; SET readonly = 1`,
    )
  })
  afterAll(async () => {
    grafana?.close()
    await srv?.stop()
  })

  it('has the blocks the dashboard is made of', () => {
    expect([...blocks.keys()].sort()).toEqual(['communications', 'distribution', 'downtime', 'incidents', 'milestones', 'now', 'recovery', 'user'])
  })

  for (const range of RANGES) {
    const bucket = `from=${iso(range.fromMs)}&to=${iso(range.toMs)}&bucket=${range.intervalMs / 1000}s`

    it(`recovery: affected, restored and recovery % at every bucket end equal GET …/recovery (${range.name})`, async () => {
      const rows = await panel<{ time: string; affected: number; restored: number; recovery_pct: number | null }>('recovery', range)
      const res = await api(`/api/v1/incidents/${INCIDENT}/recovery?${bucket}`)
      expect(res.series).toHaveLength(1)
      const expected = res.series[0].points.map((p: Record<string, unknown>) => ({ time: p.t, affected: p.affected, restored: p.restored, recovery_pct: p.recovery_pct }))
      expect(rows).toEqual(expected)
      expect(rows.length).toBeGreaterThan(0)
    })

    it(`communications: sent per bucket and waiting for a first contact equal GET …/communications (${range.name})`, async () => {
      const rows = await panel<Record<string, unknown>>('communications', range)
      const res = await api(`/api/v1/incidents/${INCIDENT}/communications?${bucket}`)
      const expected = res.points.map((p: Record<string, unknown>) => ({
        time: p.t,
        sent_direct: p.sent_direct,
        sent_broadcast: p.sent_broadcast,
        waiting_first_contact: p.waiting_first_contact,
      }))
      expect(rows).toEqual(expected)
    })

    it(`downtime per customer equals GET …/tenants sorted by downtime at the range's end (${range.name})`, async () => {
      const rows = await panel<Record<string, unknown>>('downtime', range)
      const res = await api(`/api/v1/incidents/${INCIDENT}/tenants?as_of=${iso(range.toMs)}&sort=downtime_s&order=desc&limit=100`)
      const expected = res.rows.map((r: Record<string, unknown>) => ({
        tenant_id: r.tenant_id,
        name: r.name,
        state: r.state,
        outages: r.outages,
        first_lost_at: r.first_lost_at,
        last_restored_at: r.last_restored_at,
        downtime_s: r.downtime_s,
      }))
      expect(rows).toEqual(expected)
    })

    it(`downtime distribution: customers per bin equal GET …/downtime-histogram at the range's end (${range.name})`, async () => {
      const rows = await panel<{ downtime: string; tenants: number }>('distribution', range)
      const { bins } = await api(`/api/v1/incidents/${INCIDENT}/downtime-histogram?as_of=${iso(range.toMs)}`)
      // No bins before anyone lost access.
      expect(bins.length === 0).toBe(range.toMs < h(0))
      // Each bin's label is its edges as the engine writes durations.
      const labels = bins.length
        ? await query<{ label: string }>(
            `SELECT concat(formatReadableTimeDelta(a), ' – ', formatReadableTimeDelta(b)) AS label FROM (SELECT arrayJoin([${bins.map((b: { from_s: number; to_s: number }) => `(${b.from_s}, ${b.to_s})`).join(', ')}]) AS e, e.1 AS a, e.2 AS b)`,
          )
        : []
      expect(rows).toEqual(bins.map((b: { tenants: number }, i: number) => ({ downtime: labels[i]!.label, tenants: b.tenants })))
      expect(rows.reduce((n, r) => n + r.tenants, 0)).toBe((await api(`/api/v1/incidents/${INCIDENT}/summary?as_of=${iso(range.toMs)}`)).affected)
    })

    it(`milestones as annotations equal the summary's milestones within the range (${range.name})`, async () => {
      const rows = await panel<{ time: string; text: string; tags: string }>('milestones', range)
      const s = await api(`/api/v1/incidents/${INCIDENT}/summary?as_of=${iso(range.toMs)}`)
      const m = s.milestones
      const expected = [
        [m.first_impact_at, 'First impact', 'first_impact'],
        [m.first_contact_at, 'First communication', 'first_contact'],
        [m.pct50_at, 'Recovery reached 50 %', 'recovery_50'],
        [m.pct90_at, 'Recovery reached 90 %', 'recovery_90'],
        [m.pct100_at, 'Recovery reached 100 %', 'recovery_100'],
        ...m.events.map((e: { at: string; label: string }) => [e.at, e.label, 'milestone']),
      ]
        .filter(([time]) => time !== null && Date.parse(time) >= range.fromMs)
        .map(([time, text, tags]) => ({ time, text, tags }))
        .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.tags < b.tags ? -1 : a.tags > b.tags ? 1 : a.text < b.text ? -1 : 1))
      expect(rows).toEqual(expected)
    })
  }

  it('milestones of the whole incident are the ones these events make', async () => {
    const rows = await panel<{ time: string; text: string; tags: string }>('milestones', RANGES[0]!)
    expect(rows.map((r) => [r.time, r.tags])).toEqual([
      [iso(h(0)), 'first_impact'],
      // bolt's direct update at 0.5 h: the first communication at or after first impact (the broadcast at -2 h is before it)
      [iso(h(0.5)), 'first_contact'],
      [iso(h(6)), 'milestone'],
      // bolt's restore makes 4 of 7 back; 90 % is never reached (dune is still down)
      [iso(h(10)), 'recovery_50'],
      [iso(h(18)), 'milestone'],
    ])
    // The other incident recovered fully within its first hour.
    const other = await panel<{ time: string; tags: string }>('milestones', RANGES[0]!, OTHER)
    expect(other.map((r) => [r.time, r.tags])).toEqual([
      [iso(h(0)), 'first_impact'],
      [iso(h(0.5)), 'first_contact'],
      [iso(h(1)), 'recovery_100'],
      [iso(h(1)), 'recovery_50'],
      [iso(h(1)), 'recovery_90'],
    ])
  })

  it('customers right now equal GET …/tenants at the moment the view was read, whole rows', async () => {
    const rows = await query<Record<string, unknown> & { as_of: string }>(
      `SELECT * EXCEPT (incident_id) FROM ${srv.store.db}.grafana_tenant_figures WHERE incident_id = '${INCIDENT}' ORDER BY downtime_s DESC, tenant_id`,
    )
    const asOf = rows[0]!.as_of
    expect(rows.every((r) => r.as_of === asOf)).toBe(true)
    const res = await api(`/api/v1/incidents/${INCIDENT}/tenants?as_of=${asOf}&sort=downtime_s&order=desc&limit=100`)
    expect(rows.map(({ as_of: _, ...r }) => r)).toEqual(res.rows)
    // The panel reads the same view.
    const now = await panel<Record<string, unknown>>('now', RANGES[0]!)
    expect(now.map((r) => r.tenant_id)).toEqual(['dune', 'acme', 'cask', 'bolt', 'echo', 'hive', 'fern'])
    expect(now[0]).toMatchObject({ state: 'down', restore_stage: 'completed', restore_progress: 0.6, first_contact_latency_s: 0, communications: 1 })
  })

  it('affected tenants: first loss and first direct contact equal the API rows', async () => {
    const rows = await query<Record<string, unknown>>(
      `SELECT tenant_id, first_lost_at, first_contact_at, first_contact_latency_s FROM ${srv.store.db}.grafana_affected_tenants WHERE incident_id = '${INCIDENT}' ORDER BY tenant_id`,
    )
    const res = await api(`/api/v1/incidents/${INCIDENT}/tenants?sort=tenant_id&order=asc&limit=100`)
    expect(rows).toEqual(
      res.rows.map((r: Record<string, unknown>) => ({
        tenant_id: r.tenant_id,
        first_lost_at: r.first_lost_at,
        first_contact_at: r.first_contact_at,
        first_contact_latency_s: r.first_contact_latency_s,
      })),
    )
  })

  it('access intervals follow SPEC §3: strays and losses while down ignored, the first copy of an event wins, late events count', async () => {
    const rows = await query<{ tenant_id: string; outage: number; lost_at: string; restored_at: string | null }>(
      `SELECT tenant_id, outage, lost_at, restored_at FROM ${srv.store.db}.grafana_access_intervals WHERE incident_id = '${INCIDENT}' ORDER BY tenant_id, outage`,
    )
    const open = null
    expect(rows.map((r) => [r.tenant_id, r.outage, r.lost_at, r.restored_at])).toEqual([
      ['acme', 1, iso(h(0)), iso(h(5))],
      ['acme', 2, iso(h(20)), iso(h(26))],
      ['bolt', 1, iso(h(0.2)), iso(h(10))],
      ['cask', 1, iso(h(2)), iso(h(12))],
      ['dune', 1, iso(h(3)), open],
      ['echo', 1, iso(h(4)), iso(h(4))],
      ['echo', 2, iso(h(8)), iso(h(15))],
      ['fern', 1, iso(h(6)), iso(h(9))],
      ['hive', 1, iso(h(1.5)), iso(h(7))],
    ])
    const fern = await query<{ type: string; occurred_at: string }>(
      `SELECT type, occurred_at FROM ${srv.store.db}.grafana_events WHERE incident_id = '${INCIDENT}' AND tenant_id = 'fern' ORDER BY occurred_at`,
    )
    expect(fern).toEqual([
      { type: 'access_lost', occurred_at: iso(h(6)) },
      { type: 'communication', occurred_at: iso(h(7)) },
      { type: 'access_restored', occurred_at: iso(h(9)) },
    ])
  })

  it('communications: direct and broadcast, each once', async () => {
    const rows = await query<{ kind: string; n: number }>(
      `SELECT kind, count() AS n FROM ${srv.store.db}.grafana_communications WHERE incident_id = '${INCIDENT}' GROUP BY kind ORDER BY kind`,
    )
    expect(rows).toEqual([
      { kind: 'broadcast', n: 4 },
      { kind: 'direct', n: 8 },
    ])
  })

  it('the incident variable lists the incidents as GET /incidents does, with their metadata and first copies only', async () => {
    const rows = await panel<{ incident_id: string; title: string }>('incidents', RANGES[0]!)
    const res = await api('/api/v1/incidents')
    expect(rows).toEqual(res.incidents.map((i: { incident_id: string; title: string }) => ({ incident_id: i.incident_id, title: i.title })))
    expect(rows).toEqual([
      { incident_id: INCIDENT, title: 'Storage outage' },
      { incident_id: OTHER, title: OTHER },
    ])
    const [gx1] = await query<Record<string, unknown>>(`SELECT * FROM ${srv.store.db}.grafana_incidents WHERE incident_id = '${INCIDENT}'`)
    // The re-sent copy of fern-restore at 40 h is not an event of the incident: the last one is dune's restore_completed.
    expect(gx1).toEqual({ incident_id: INCIDENT, title: 'Storage outage', status: 'ongoing', severity: 'critical', first_event_at: iso(h(-2)), last_event_at: iso(h(30)) })
  })

  it('the views keep their documented columns (the contract)', async () => {
    const rows = await srv.store.rows<{ table: string; columns: string[] }>(
      `SELECT table, groupArray(concat(name, ' ', type)) AS columns FROM (SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table LIKE 'grafana\\_%' ORDER BY table, position)
       GROUP BY table ORDER BY table`,
      { db: srv.store.db },
    )
    const time = "DateTime64(3, 'UTC')"
    expect(Object.fromEntries(rows.map((r) => [r.table, r.columns]))).toEqual({
      grafana_access_intervals: ['incident_id String', 'tenant_id String', 'outage UInt32', `lost_at ${time}`, `restored_at Nullable(${time})`],
      grafana_affected_tenants: ['incident_id String', 'tenant_id String', `first_lost_at ${time}`, `first_contact_at Nullable(${time})`, 'first_contact_latency_s Nullable(Float64)'],
      grafana_communications: ['incident_id String', 'event_id String', `sent_at ${time}`, 'tenant_id String', 'kind String', 'channel String', 'message String'],
      grafana_events: [
        'incident_id String',
        'event_id String',
        'type String',
        `occurred_at ${time}`,
        'tenant_id String',
        'progress Nullable(Float64)',
        'channel String',
        'label String',
        'message String',
        `received_at ${time}`,
      ],
      grafana_incidents: ['incident_id String', 'title String', 'status String', 'severity String', `first_event_at Nullable(${time})`, `last_event_at Nullable(${time})`],
      grafana_milestones: ['incident_id String', `at ${time}`, 'kind String', 'label String'],
      grafana_tenant_figures: [
        'incident_id String',
        'tenant_id String',
        'name String',
        'attributes Map(String, String)',
        `as_of ${time}`,
        'state String',
        `first_lost_at ${time}`,
        `last_restored_at Nullable(${time})`,
        'downtime_s Float64',
        'outages UInt32',
        'restore_stage Nullable(String)',
        'restore_progress Nullable(Float64)',
        `first_contact_at Nullable(${time})`,
        'first_contact_latency_s Nullable(Float64)',
        'communications UInt32',
        'max_comm_gap_s Float64',
      ],
      grafana_tenants: ['tenant_id String', 'name String', 'attributes Map(String, String)', 'numeric_attributes Map(String, Float64)'],
    })
  })

  it('the read-only user: its statements parse, its grant covers every view the panels read, and readonly = 1 reads but never writes', async () => {
    const statements = blocks.get('user')!.split(';').map((s) => s.trim()).filter(Boolean)
    expect(statements).toHaveLength(2)
    // chdb keeps no user directory it can write (CREATE USER is refused), so the statements are checked with the engine's parser.
    const formatted = await srv.store.rows<{ q: string }>(`SELECT formatQuerySingleLine(arrayJoin({qs:Array(String)})) AS q`, { qs: statements })
    expect(formatted.map((r) => r.q)).toEqual([
      "CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY 'replace-with-a-long-random-password' DEFAULT DATABASE aftermath SETTINGS readonly = 1, max_execution_time = 60 MIN 1 MAX 300 CHANGEABLE_IN_READONLY",
      'GRANT SELECT ON aftermath.grafana_* TO grafana',
    ])
    // Every table the panels name is a grafana_ view, created SQL SECURITY DEFINER, so SELECT on grafana_* is all a reader needs.
    const named = new Set([...blocks].filter(([name]) => name !== 'user').flatMap(([, sql]) => [...sql.matchAll(/\baftermath\.(\w+)/g)].map((m) => m[1]!)))
    const views = await srv.store.rows<{ name: string; engine: string; q: string }>(
      `SELECT name, engine, create_table_query AS q FROM system.tables WHERE database = {db:String} AND startsWith(name, 'grafana_') ORDER BY name`,
      { db: srv.store.db },
    )
    expect([...named].every((n) => views.some((v) => v.name === n))).toBe(true)
    expect(views.map((v) => [v.name, v.engine, /SQL SECURITY DEFINER/.test(v.q)])).toEqual(views.map((v) => [v.name, 'View', true]))
    expect(views).toHaveLength(8)
    // The session these tests read through has readonly = 1: it cannot write or drop.
    await expect(query(`INSERT INTO ${srv.store.db}.events (incident_id, tenant_id, event_id, type, occurred_at) VALUES ('x', 'y', 'z', 'access_lost', now64(3))`)).rejects.toThrow(/readonly/i)
    await expect(query(`DROP VIEW ${srv.store.db}.grafana_events`)).rejects.toThrow(/readonly/i)
    expect(await query(`SELECT count() AS n FROM ${srv.store.db}.grafana_events WHERE incident_id = 'x'`)).toEqual([{ n: 0 }])
  })
})
