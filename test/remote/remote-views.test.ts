import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startChildServer, type ChildServer } from '../helpers/child-server.js'
import { startClickHouseFront, type ClickHouseFront, type ClickHouseFrontOptions } from '../helpers/clickhouse-front.js'
import { removeDataDir } from '../helpers/db.js'

/**
 * The same server on a ClickHouse server (CLICKHOUSE_URL, the remote store, through the HTTP
 * front over the ClickHouse 26 engine) and embedded: the same requests give the same answers.
 * Both are child processes started from server/main.ts with the same settings but CLICKHOUSE_URL.
 */
const TOKEN = 'rv-admin-token-0123456789abcdef0123'
const MIN = 60_000
const t0 = Date.parse('2022-04-05T07:38:00Z')
const at = (minutes: number) => new Date(t0 + minutes * MIN).toISOString()
const INCIDENT = 'rv-main'
const OTHER = 'rv-other'
const UMBRELLA = 'umbrella-ü 🌂'

type Event = Record<string, unknown>
const ev = (event_id: string, type: string, minutes: number, fields: Event = {}): Event => ({ event_id, incident_id: INCIDENT, type, occurred_at: at(minutes), ...fields })
const lost = (id: string, tenant: string, m: number) => ev(id, 'access_lost', m, { tenant_id: tenant })
const restored = (id: string, tenant: string, m: number) => ev(id, 'access_restored', m, { tenant_id: tenant })
const comm = (id: string, tenant: string | null, channel: string, m: number, message = '') =>
  ev(id, 'communication', m, { ...(tenant ? { tenant_id: tenant } : {}), channel, ...(message ? { message } : {}) })

/**
 * One incident with what makes figures hard: a tenant lost twice, stray restores (restored again,
 * restored without a loss), an event id sent three times with different content (the first copy
 * wins), broadcasts, restore progress, milestones, events arriving late and out of order, a tenant
 * id outside ASCII, tenants with and without metadata, metadata merged after the events.
 */
const REQUESTS: { method: 'POST' | 'PUT'; path: string; type: string; body: string }[] = [
  json('PUT', `/api/v1/incidents/${INCIDENT}`, { title: 'Storage outage — eu/us', severity: 'sev1', status: 'ongoing', comm_policy: { first_contact_within: '30m', update_every: '2h' } }),
  json('POST', '/api/v1/tenants', [
    { tenant_id: 'acme', name: 'ACME Corp', attributes: { tier: 'enterprise', region: 'eu', seats: 120 } },
    { tenant_id: 'globex', name: 'Globex', attributes: { tier: 'standard', region: 'us', seats: 15 } },
    { tenant_id: UMBRELLA, name: 'Umbrella Ü', attributes: { tier: 'enterprise', region: 'us', seats: 300 } },
    { tenant_id: 'hooli', name: 'Hooli', attributes: { tier: 'standard', region: 'eu', seats: 40, legacy: 'yes' } },
    { tenant_id: 'initech', attributes: { tier: 'standard', region: 'us' } },
    { tenant_id: 'wayne', name: 'Wayne Enterprises', attributes: { tier: 'enterprise', region: 'apac', seats: 75 } },
  ]),
  json('POST', '/api/v1/events', [
    lost('acme-lost', 'acme', 0),
    comm('acme-mail', 'acme', 'email', 20, 'We are on it — ça va'),
    ev('acme-start', 'restore_started', 60, { tenant_id: 'acme' }),
    ev('acme-p1', 'restore_progress', 90, { tenant_id: 'acme', progress: 0.3 }),
    lost('globex-lost', 'globex', 5),
    comm('bcast-1', null, 'status_page', 30, 'Investigating'),
    ev('ms-1', 'milestone', 120, { label: 'root cause found' }),
    lost('dup-1', 'hooli', 15),
    restored('dup-1', 'hooli', 16),
    comm('hooli-ticket', 'hooli', 'ticket', -10, 'heads-up before the loss'),
    lost('umbrella-lost', UMBRELLA, 10),
  ]),
  ndjson('/api/v1/events', [
    ev('acme-p2', 'restore_progress', 120, { tenant_id: 'acme', progress: 0.8 }),
    ev('acme-done', 'restore_completed', 180, { tenant_id: 'acme' }),
    restored('acme-up', 'acme', 190),
    lost('acme-lost-2', 'acme', 300),
    restored('acme-up-2', 'acme', 360),
    restored('globex-up', 'globex', 100),
    restored('globex-up-stray', 'globex', 200),
    restored('initech-stray', 'initech', 120),
    restored('hooli-up', 'hooli', 60),
    comm('hooli-chat', 'hooli', 'chat', 45),
    comm('umbrella-chat', UMBRELLA, 'chat', 240, 'Ü: still working on it'),
    comm('bcast-2', null, 'status_page', 150, 'Restores under way'),
    ev('ms-2', 'milestone', 240, { label: 'restore v2 rolled out' }),
    lost('stark-lost', 'stark', 30),
    restored('stark-up', 'stark', 480),
  ]),
  // Late and out of order: events from the first minutes arrive last, with re-sends of known ids.
  json('POST', '/api/v1/events', [
    comm('wayne-phone', 'wayne', 'phone', 400),
    lost('wayne-lost', 'wayne', 1),
    comm('dup-1', 'hooli', 'email', 5),
    comm('acme-mail', 'acme', 'email', 21, 'a different message under a known id'),
    comm('stark-social', 'stark', 'social', 35),
    ev('umbrella-start', 'restore_started', 200, { tenant_id: UMBRELLA }),
  ]),
  json('POST', '/api/v1/events', [
    { event_id: 'o-lost', incident_id: OTHER, type: 'access_lost', tenant_id: 'acme', occurred_at: at(1440) },
    { event_id: 'o-up', incident_id: OTHER, type: 'access_restored', tenant_id: 'acme', occurred_at: at(1500) },
  ]),
  // Metadata merged after the events: a changed attribute (the rest kept) and a removed one.
  json('POST', '/api/v1/tenants', [
    { tenant_id: 'acme', attributes: { region: 'eu-west' } },
    { tenant_id: 'hooli', attributes: { legacy: null } },
  ]),
]
function json(method: 'POST' | 'PUT', path: string, body: unknown) {
  return { method, path, type: 'application/json', body: JSON.stringify(body) }
}
function ndjson(path: string, events: Event[]) {
  return { method: 'POST' as const, path, type: 'application/x-ndjson', body: events.map((e) => JSON.stringify(e)).join('\n') + '\n' }
}

/** Moments the views are asked about: before most events, mid-incident, long after the last event. */
const MOMENTS = [at(12), at(150), at(1800)]
const SEGMENTS = ['', '&attr.tier=enterprise', '&attr.region=eu&attr.region=us&attr.tier=standard', '&attr.region=eu-west', '&include_broadcast=true']
const TENANTS = ['acme', 'globex', UMBRELLA, 'hooli', 'initech', 'wayne', 'stark']

/** Every variant of a view: each moment × each segment, plus the view's own parameters. */
function variants(view: string, own: string[] = ['']): string[] {
  return MOMENTS.flatMap((t) => SEGMENTS.flatMap((seg) => own.map((extra) => `/api/v1/incidents/${INCIDENT}/${view}?as_of=${t}${seg}${extra}`)))
}

interface Answer {
  status: number
  type: string | null
  body: unknown
}
async function answer(server: ChildServer, path: string): Promise<Answer> {
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${TOKEN}` } })
  const type = res.headers.get('content-type')
  const text = await res.text()
  return { status: res.status, type, body: type?.startsWith('application/json') ? JSON.parse(text) : text }
}

const sorts = ['downtime_s', 'first_contact_latency_s', 'max_comm_gap_s', 'first_lost_at', 'tenant_id'].flatMap((s) => [`&sort=${s}&order=asc`, `&sort=${s}&order=desc`])
/** The views compared, each with its variants; `servedByLog`: answered from the in-memory incident log when there is one. */
const VIEWS: { name: string; paths: string[]; servedByLog?: true }[] = [
  { name: 'incidents list', paths: MOMENTS.map((t) => `/api/v1/incidents?as_of=${t}`) },
  { name: 'summary: every moment and segment, weighted by seats, with a short stale_after', paths: variants('summary', ['', '&weight=seats', '&weight=seats&stale_after=1h']), servedByLog: true },
  {
    name: 'recovery: buckets, a window, grouped by tier, weighted',
    paths: variants('recovery', ['&bucket=15m', `&bucket=5m&from=${at(0)}&to=${at(200)}`, '&bucket=30m&group_by=tier&weight=seats']),
    servedByLog: true,
  },
  { name: 'communications: buckets and stale_after', paths: variants('communications', ['&bucket=30m', '&bucket=1h&stale_after=1h']), servedByLog: true },
  { name: 'tenants: each sort in each order, search, state, paging', paths: variants('tenants', [...sorts, `&q=${encodeURIComponent('ü')}`, '&state=down', '&state=up&limit=2&offset=1']) },
  {
    name: 'timeline of every tenant (stray restores, a tenant never lost, a tenant without metadata)',
    paths: MOMENTS.flatMap((t) => TENANTS.map((tenant) => `/api/v1/incidents/${INCIDENT}/tenants/${encodeURIComponent(tenant)}/timeline?as_of=${t}`)),
  },
  { name: 'downtime histogram', paths: variants('downtime-histogram', ['', '&bins=6']) },
  { name: 'overdue list and CSV', paths: [...variants('overdue'), ...variants('overdue.csv'), ...variants('overdue', ['&limit=1&offset=1'])] },
  { name: 'tenants.csv', paths: variants('tenants.csv') },
  { name: 'report.md', paths: variants('report.md') },
]

/**
 * The comparison against a front configured by `frontOptions` (each kind of ClickHouse server the
 * remote path must support gets the same suite), with both servers computing every figure in
 * ClickHouse (`incidentLog` off) or answering what they can from the incident log built from it
 * (always: the log is read over the remote path as RowBinary).
 */
function remoteEqualsEmbedded(label: string, frontOptions: Omit<ClickHouseFrontOptions, 'dataDir'>, incidentLog: 'off' | 'always') {
  describe(`views on a ClickHouse server (${label}, incident log ${incidentLog}) equal the embedded ones`, () => {
    const root = mkdtempSync(join(tmpdir(), 'aftermath-remote-views-'))
    let front: ClickHouseFront
    let remote: ChildServer
    let embedded: ChildServer
    const ingestAnswers: { remote: Answer[]; embedded: Answer[] } = { remote: [], embedded: [] }

    beforeAll(async () => {
      const started = performance.now()
      front = await startClickHouseFront({ dataDir: join(root, 'front'), ...frontOptions })
      const env = {
        AFTERMATH_TOKENS: `admin:${TOKEN}`,
        CLICKHOUSE_DATABASE: 'rv',
        AFTERMATH_INCIDENT_LOG: incidentLog,
        AFTERMATH_RATE_LIMIT_RPS: '0',
        AFTERMATH_QUERY_RATE_LIMIT_RPS: '0',
      }
      ;[remote, embedded] = await Promise.all([
        startChildServer({ ...env, AFTERMATH_DATA_DIR: join(root, 'remote'), CLICKHOUSE_URL: front.url }),
        startChildServer({ ...env, AFTERMATH_DATA_DIR: join(root, 'embedded') }),
      ])
      const send = async (server: ChildServer, into: Answer[]) => {
        for (const r of REQUESTS) {
          const res = await fetch(server.url + r.path, { method: r.method, body: r.body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': r.type } })
          const text = await res.text()
          into.push({ status: res.status, type: res.headers.get('content-type'), body: text ? JSON.parse(text) : null })
        }
      }
      await Promise.all([send(remote, ingestAnswers.remote), send(embedded, ingestAnswers.embedded)])
      console.log(`remote views (${label}, incident log ${incidentLog}): front and both servers started and fed in ${Math.round(performance.now() - started)} ms`)
    }, 120_000)
    afterAll(async () => {
      for (const s of [remote, embedded]) if (s && s.child.exitCode === null) s.child.kill('SIGTERM')
      await Promise.all([remote?.exited, embedded?.exited])
      await front?.stop()
      removeDataDir(root)
    }, 60_000)

    /** Each path answered by both servers: equal, and a success (two equal failures prove nothing). */
    const same = async (paths: string[]) => {
      expect(paths.length).toBeGreaterThan(0)
      for (const path of paths) {
        const [r, e] = await Promise.all([answer(remote, path), answer(embedded, path)])
        expect({ path, status: e.status }).toEqual({ path, status: 200 })
        expect({ path, ...r }).toEqual({ path, ...e })
      }
    }

    it(`keeps cards on ${frontOptions.refuseEngines?.includes('EmbeddedRocksDB') ? 'a ReplacingMergeTree (the target has no RocksDB)' : 'RocksDB'}`, async () => {
      const res = await fetch(`${front.url}/?query=${encodeURIComponent("SELECT engine FROM system.tables WHERE database = 'rv' AND name = 'cards'")}`)
      expect((await res.text()).trim()).toBe(frontOptions.refuseEngines?.includes('EmbeddedRocksDB') ? 'ReplacingMergeTree' : 'EmbeddedRocksDB')
    })

    it('accepts every ingest request alike (the duplicates and re-sends counted as accepted)', () => {
      expect(ingestAnswers.remote).toEqual(ingestAnswers.embedded)
      expect(ingestAnswers.embedded.map((a) => a.status)).toEqual(REQUESTS.map(() => 200))
    })

    it('holds the edge cases the comparison relies on (checked on both)', async () => {
      for (const server of [remote, embedded]) {
        const s = (await answer(server, `/api/v1/incidents/${INCIDENT}/summary?as_of=${at(1800)}`)).body as Record<string, unknown>
        // acme, globex, umbrella, hooli, stark, wayne affected; umbrella and wayne still down; initech was never lost.
        expect([s.affected, s.restored, s.down]).toEqual([6, 4, 2])
        const hooli = (await answer(server, `/api/v1/incidents/${INCIDENT}/tenants/hooli/timeline?as_of=${at(1800)}`)).body as { events: { event_id: string; type: string }[] }
        // The first copy of dup-1 (access_lost) is the one kept; the later ones, whatever their content, are not.
        expect(hooli.events.filter((e) => e.event_id === 'dup-1').map((e) => e.type)).toEqual(['access_lost'])
        const globex = (await answer(server, `/api/v1/incidents/${INCIDENT}/tenants/globex/timeline?as_of=${at(1800)}`)).body as { diagnostics: unknown }
        expect(globex.diagnostics).toEqual({ stray_restores: 1 })
        const page = (await answer(server, `/api/v1/incidents/${INCIDENT}/tenants?as_of=${at(1800)}&sort=tenant_id&order=asc`)).body as { rows: { tenant_id: string; outages: number; attributes: Record<string, string> }[] }
        expect(page.rows.map((r) => [r.tenant_id, r.outages])).toEqual([['acme', 2], ['globex', 1], ['hooli', 1], ['stark', 1], [UMBRELLA, 1], ['wayne', 1]])
        expect(page.rows.find((r) => r.tenant_id === 'acme')!.attributes).toEqual({ tier: 'enterprise', region: 'eu-west', seats: '120' })
        expect(page.rows.find((r) => r.tenant_id === 'hooli')!.attributes).toEqual({ tier: 'standard', region: 'eu', seats: '40' })
      }
    })

    for (const view of VIEWS.filter((v) => incidentLog === 'off' || v.servedByLog)) {
      it(view.name, async () => {
        await same(view.paths)
      })
    }
  })
}

remoteEqualsEmbedded('default', {}, 'off')
remoteEqualsEmbedded('default', {}, 'always')
// ClickHouse Cloud has no EmbeddedRocksDB: the server starts, cards are a ReplacingMergeTree, every view the same.
remoteEqualsEmbedded('like ClickHouse Cloud', { refuseEngines: ['EmbeddedRocksDB'] }, 'off')
