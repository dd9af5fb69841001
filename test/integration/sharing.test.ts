import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'csv-parse/sync'
import fc from 'fast-check'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventType } from '../../server/domain/events.js'
import type { EventRow } from '../../server/ingest/types.js'
import { hashToken, linkStatus, ShareLinks } from '../../server/sharing/links.js'
import { TOKENS } from '../helpers/db.js'
import { broadcast, comm, event, lost, restored, started, progress, type TenantMeta } from '../helpers/factories.js'
import { referenceTenants } from '../helpers/reference.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const MIN = 60_000
const HOUR = 60 * MIN
const BASE = Date.parse('2026-04-05T07:00:00.000Z')
const A = 'share-A'
const B = 'share-B'

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) out.push(...filesUnder(p))
    else if (st.isFile()) out.push(p)
  }
  return out
}

describe('share links and the customer status (SPEC §8)', () => {
  let srv: TestServer
  /** The server's clock: figures are "as of now", links expire against it. */
  let nowMs = BASE + 3 * HOUR

  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const post = async (path: string, body: unknown, token: string | null = TOKENS.admin) => srv.api(path, { method: 'POST', token, ...json(body) })
  const createLink = async (body: Record<string, unknown>) => {
    const res = await post('/api/v1/share-links', body)
    expect(res.status, await res.clone().text()).toBe(201)
    return (await res.json()) as { id: string; token: string; url: string; expires_at: string; tenant_id: string | null }
  }
  const ingest = async (events: EventRow[]) => {
    const body = events.map((e) => ({ ...e, occurred_at: e.occurred_at.replace(' ', 'T') + 'Z', progress: e.progress ?? undefined, tenant_id: e.tenant_id || undefined, label: e.label || undefined, channel: e.channel || undefined }))
    const res = await post('/api/v1/events?atomic=true', body, TOKENS.ingest)
    expect(res.status, await res.clone().text()).toBe(200)
  }
  const tenants = async (rows: TenantMeta[]) => {
    const res = await post('/api/v1/tenants', rows, TOKENS.ingest)
    expect(res.status, await res.clone().text()).toBe(200)
  }
  const status = async (token: string) => {
    const res = await srv.api('/api/v1/status', { token })
    expect(res.status, await res.clone().text()).toBe(200)
    return res.json()
  }

  let incidentLink: Awaited<ReturnType<typeof createLink>>
  let tenantLink: Awaited<ReturnType<typeof createLink>>
  let expiredLink: Awaited<ReturnType<typeof createLink>>
  let revokedLink: Awaited<ReturnType<typeof createLink>>

  beforeAll(async () => {
    srv = await startTestServer(undefined, { now: () => new Date(nowMs) })
    await tenants([
      { tenant_id: 'acme', name: 'Acme Corporation', attributes: { tier: 'gold' } },
      { tenant_id: 'globex', name: 'Globex Industries', attributes: { tier: 'free' } },
    ])
    await ingest([
      lost('acme', BASE, { incident_id: A }),
      lost('globex', BASE + 5 * MIN, { incident_id: A }),
      started('acme', BASE + 30 * MIN, { incident_id: A }),
      progress('acme', BASE + 60 * MIN, 0.4, { incident_id: A }),
      comm('acme', BASE + 20 * MIN, { incident_id: A, message: 'We are restoring your site.' }),
      comm('globex', BASE + 25 * MIN, { incident_id: A, message: 'Dear Globex Industries, your data is safe.' }),
      broadcast(BASE + 90 * MIN, { incident_id: A, message: 'Restores are under way for every affected customer.' }),
      restored('globex', BASE + 2 * HOUR, { incident_id: A }),
      lost('acme', BASE, { incident_id: B }),
    ])
    const put = await srv.api(`/api/v1/incidents/${A}`, { method: 'PUT', ...json({ title: 'Sites unavailable', status: 'ongoing' }) })
    expect(put.status).toBe(200)
    incidentLink = await createLink({ incident_id: A, expires_in: '7d' })
    tenantLink = await createLink({ incident_id: A, tenant_id: 'acme', expires_in: '30d' })
    expiredLink = await createLink({ incident_id: A, expires_in: '1m' })
    revokedLink = await createLink({ incident_id: A, tenant_id: 'acme' })
    expect((await srv.api(`/api/v1/share-links/${revokedLink.id}`, { method: 'DELETE' })).status).toBe(204)
    nowMs += 2 * MIN // the 1-minute link has expired
  })
  afterAll(async () => srv?.stop())

  it('creates links whose URL opens the dashboard or the status page, with the token in the fragment', () => {
    expect(incidentLink.token).toMatch(/^shl_[A-Za-z0-9_-]{32}$/)
    expect(incidentLink.url).toBe(`${srv.url}/#token=${incidentLink.token}`)
    expect(tenantLink.url).toBe(`${srv.url}/status#token=${tenantLink.token}`)
    expect(tenantLink.tenant_id).toBe('acme')
    expect(Date.parse(tenantLink.expires_at)).toBe(BASE + 3 * HOUR + 30 * 24 * HOUR)
  })

  it('route × token: each kind of token reaches exactly its routes', async () => {
    const tokens: Record<string, string | null> = {
      none: null,
      invalid: 'shl_' + 'x'.repeat(32),
      read: TOKENS.read,
      ingest: TOKENS.ingest,
      admin: TOKENS.admin,
      incident: incidentLink.token,
      tenant: tenantLink.token,
      expired: expiredLink.token,
      revoked: revokedLink.token,
    }
    const ev = { event_id: 'w1', incident_id: 'share-writes', type: 'access_lost', tenant_id: 'w', occurred_at: new Date(BASE).toISOString() }
    const routes: [string, string, unknown?][] = [
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/metrics'],
      ['GET', '/api/v1/whoami'],
      ['GET', '/api/v1/status'],
      ['GET', '/api/v1/incidents'],
      ...['summary', 'recovery', 'communications', 'tenants', 'tenants/acme/timeline', 'downtime-histogram', 'overdue', 'tenants.csv', 'overdue.csv', 'report.md', 'stream'].map(
        (v): [string, string] => ['GET', `/api/v1/incidents/${A}/${v}`],
      ),
      ['GET', `/api/v1/incidents/${B}/summary`],
      ['GET', `/api/v1/incidents/${B}/tenants.csv`],
      ['GET', `/api/v1/incidents/${B}/stream`],
      ['POST', '/api/v1/events', ev],
      ['POST', '/api/v1/tenants', [{ tenant_id: 'w', name: 'W' }]],
      ['PUT', `/api/v1/incidents/${A}`, { title: 'Sites unavailable' }],
      ['GET', '/api/v1/webhooks'],
      ['POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['incident.milestone'], incident_id: 'none' }],
      ['GET', '/api/v1/share-links'],
      ['POST', '/api/v1/share-links', { incident_id: A }],
      ['DELETE', '/api/v1/share-links/sl_nosuchlink'],
    ]
    const table: string[] = [['route', ...Object.keys(tokens)].join(' | ')]
    for (const [method, path, body] of routes) {
      const cells: string[] = []
      for (const token of Object.values(tokens)) {
        const ac = new AbortController()
        const res = await srv.api(path, { method, token, signal: ac.signal, ...(body === undefined ? {} : json(body)) })
        cells.push(String(res.status))
        ac.abort() // a stream would never end
        await res.arrayBuffer().catch(() => undefined)
      }
      table.push([`${method} ${path.replace(A, '{A}').replace(B, '{B}')}`, ...cells].join(' | '))
    }
    const A_VIEW = '401 | 401 | 200 | 403 | 200 | 200 | 403 | 401 | 401'
    const OTHER_READ = '401 | 401 | 200 | 403 | 200 | 403 | 403 | 401 | 401'
    const WRITE = '401 | 401 | 403 | 200 | 200 | 403 | 403 | 401 | 401'
    const ADMIN = (ok: number) => `401 | 401 | 403 | 403 | ${ok} | 403 | 403 | 401 | 401`
    expect(table.join('\n')).toBe(
      [
        'route | none | invalid | read | ingest | admin | incident | tenant | expired | revoked',
        'GET /healthz | 200 | 200 | 200 | 200 | 200 | 200 | 200 | 200 | 200',
        `GET /readyz | ${OTHER_READ}`,
        `GET /metrics | ${OTHER_READ}`,
        'GET /api/v1/whoami | 401 | 401 | 200 | 403 | 200 | 200 | 403 | 401 | 401',
        'GET /api/v1/status | 401 | 401 | 403 | 403 | 403 | 403 | 200 | 401 | 401',
        `GET /api/v1/incidents | ${OTHER_READ}`,
        ...['summary', 'recovery', 'communications', 'tenants', 'tenants/acme/timeline', 'downtime-histogram', 'overdue', 'tenants.csv', 'overdue.csv', 'report.md', 'stream'].map(
          (v) => `GET /api/v1/incidents/{A}/${v} | ${A_VIEW}`,
        ),
        `GET /api/v1/incidents/{B}/summary | ${OTHER_READ}`,
        `GET /api/v1/incidents/{B}/tenants.csv | ${OTHER_READ}`,
        `GET /api/v1/incidents/{B}/stream | ${OTHER_READ}`,
        `POST /api/v1/events | ${WRITE}`,
        `POST /api/v1/tenants | ${WRITE}`,
        `PUT /api/v1/incidents/{A} | ${WRITE}`,
        `GET /api/v1/webhooks | ${ADMIN(200)}`,
        `POST /api/v1/webhooks | ${ADMIN(201)}`,
        `GET /api/v1/share-links | ${ADMIN(200)}`,
        `POST /api/v1/share-links | ${ADMIN(201)}`,
        `DELETE /api/v1/share-links/sl_nosuchlink | ${ADMIN(404)}`,
      ].join('\n'),
    )
  })

  it('says why a link stopped working, and what an incident link is', async () => {
    const expired = await srv.api('/api/v1/status', { token: expiredLink.token })
    expect((await expired.json()).error.code).toBe('link_expired')
    const revoked = await srv.api('/api/v1/status', { token: revokedLink.token })
    expect((await revoked.json()).error.code).toBe('link_revoked')
    const who = await (await srv.api('/api/v1/whoami', { token: incidentLink.token })).json()
    expect(who).toEqual({ scope: 'share', incident_id: A, expires_at: incidentLink.expires_at, title: 'Sites unavailable', status: 'ongoing' })
  })

  it('a link expires at its expiry time on the server clock', async () => {
    const link = await createLink({ incident_id: A, tenant_id: 'acme', expires_in: '10m' })
    expect((await srv.api('/api/v1/status', { token: link.token })).status).toBe(200)
    nowMs += 10 * MIN - 1
    expect((await srv.api('/api/v1/status', { token: link.token })).status).toBe(200)
    nowMs += 1
    const res = await srv.api('/api/v1/status', { token: link.token })
    expect(res.status).toBe(401)
    expect((await res.json()).error.code).toBe('link_expired')
  })

  it('revocation is effective at once, here and (after a refresh) on another server of the same database', async () => {
    const other = await ShareLinks.open(srv.store, pino({ level: 'silent' }), { refreshMs: 0, flushMs: 0 })
    const link = await createLink({ incident_id: A })
    await other.refresh()
    expect(other.resolve(link.token)?.id).toBe(link.id)
    expect((await srv.api(`/api/v1/incidents/${A}/summary`, { token: link.token })).status).toBe(200)
    expect((await srv.api(`/api/v1/share-links/${link.id}`, { method: 'DELETE' })).status).toBe(204)
    // No wait of any kind between the DELETE and the next request.
    expect((await srv.api(`/api/v1/incidents/${A}/summary`, { token: link.token })).status).toBe(401)
    expect(linkStatus(other.resolve(link.token)!, nowMs)).toBe('active')
    await other.refresh()
    expect(linkStatus(other.resolve(link.token)!, nowMs)).toBe('revoked')
    await other.close()
    // Revoking again is harmless; an unknown id is a 404.
    expect((await srv.api(`/api/v1/share-links/${link.id}`, { method: 'DELETE' })).status).toBe(204)
    expect((await srv.api('/api/v1/share-links/sl_unknown', { method: 'DELETE' })).status).toBe(404)
  })

  it('lists links with their use counts and last use, never their tokens', async () => {
    const link = await createLink({ incident_id: A, tenant_id: 'acme' })
    for (let i = 0; i < 3; i++) await status(link.token)
    expect((await srv.api('/api/v1/incidents', { token: link.token })).status).toBe(403) // refused: not a use
    const res = await srv.api(`/api/v1/share-links?incident_id=${A}&limit=1000`)
    const text = await res.text()
    const body = JSON.parse(text)
    const row = body.share_links.find((l: { id: string }) => l.id === link.id)
    expect(row).toMatchObject({ kind: 'tenant', incident_id: A, tenant_id: 'acme', status: 'active', uses: 3, revoked_at: null })
    expect(Date.parse(row.last_used_at)).toBe(nowMs)
    expect(body.share_links.find((l: { id: string }) => l.id === revokedLink.id)).toMatchObject({ status: 'revoked' })
    expect(body.share_links.find((l: { id: string }) => l.id === expiredLink.id)).toMatchObject({ status: 'expired' })
    for (const l of [incidentLink, tenantLink, link]) expect(text).not.toContain(l.token)
    expect(body.total).toBe(body.share_links.length)
    const page = await (await srv.api(`/api/v1/share-links?incident_id=${A}&limit=2&offset=1`)).json()
    expect(page.share_links.map((l: { id: string }) => l.id)).toEqual(body.share_links.slice(1, 3).map((l: { id: string }) => l.id))
  })

  it('refuses bad link requests with a clear 400/404', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ incident_id: A, expires_in: '0s' }, 400, /expires_in: must be from 1m to 365d/],
      [{ incident_id: A, expires_in: '400d' }, 400, /expires_in: must be from 1m to 365d/],
      [{ incident_id: A, expires_in: 'soon' }, 400, /expires_in: must be a duration/],
      [{ incident_id: 'no such incident!' }, 400, /incident_id/],
      [{ incident_id: 'share-none' }, 404, /no incident "share-none"/],
      [{ incident_id: A, tenant_id: '' }, 400, /tenant_id/],
      [{ incident_id: A, tenant_id: 'x'.repeat(257) }, 400, /tenant_id/],
      [{ incident_id: A, extra: 1 }, 400, /extra/],
      [[{ incident_id: A }, { incident_id: B }], 400, /one incident/],
      [[], 400, /body/],
      ['text', 400, /.+/],
    ]
    for (const [body, code, message] of cases) {
      const res = await post('/api/v1/share-links', body)
      const text = await res.text()
      expect(res.status, text).toBe(code)
      expect(JSON.parse(text).error.message).toMatch(message)
    }
    expect((await srv.api('/api/v1/share-links?limit=5000')).status).toBe(400)
  })

  it('creates many links in one request (one insert)', async () => {
    const res = await post(
      '/api/v1/share-links',
      Array.from({ length: 500 }, (_, i) => ({ incident_id: A, tenant_id: `bulk-${i}`, expires_in: '1d' })),
    )
    expect(res.status).toBe(201)
    const { links } = await res.json()
    expect(links).toHaveLength(500)
    expect(new Set(links.map((l: { token: string }) => l.token)).size).toBe(500)
    const s = await status(links[7].token)
    expect(s.tenant).toEqual({ id: 'bulk-7', name: '' })
    expect(s).toMatchObject({ affected: false, state: 'up', down_since: null, downtime_s: 0 })
  })

  it('the status document: the tenant\'s own state, restore, downtime and updates', async () => {
    const s = await status(tenantLink.token)
    expect(s).toEqual({
      as_of: new Date(nowMs).toISOString(),
      incident: { title: 'Sites unavailable', status: 'ongoing' },
      tenant: { id: 'acme', name: 'Acme Corporation' },
      affected: true,
      state: 'down',
      restore_stage: 'in_progress',
      restore_progress: 0.4,
      down_since: new Date(BASE).toISOString(),
      downtime_s: (nowMs - BASE) / 1000,
      last_update_at: new Date(BASE + 90 * MIN).toISOString(),
      updates: [
        { at: new Date(BASE + 90 * MIN).toISOString(), channel: 'status_page', message: 'Restores are under way for every affected customer.', broadcast: true },
        { at: new Date(BASE + 20 * MIN).toISOString(), channel: 'email', message: 'We are restoring your site.', broadcast: false },
      ],
    })
    const text = JSON.stringify(s)
    expect(text).not.toContain('globex')
    expect(text).not.toContain('Globex')
  })

  it('the CLI makes a status link for every affected tenant as CSV (mail merge), lists and revokes', async () => {
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'server/cli/main.ts', 'share-links', ...args, '--url', srv.url, '--token', TOKENS.admin], { timeout: 60_000 })
    const csv = (await cli(['create', '--incident', A, '--all-affected', '--expires', '14d'])).stdout
    const rows = parse(csv, { columns: true }) as { tenant_id: string; name: string; url: string; expires_at: string }[]
    expect(rows.map((r) => [r.tenant_id, r.name])).toEqual([
      ['acme', 'Acme Corporation'],
      ['globex', 'Globex Industries'],
    ])
    for (const r of rows) {
      expect(r.url).toMatch(new RegExp(`^${srv.url}/status#token=shl_`))
      expect(Date.parse(r.expires_at)).toBe(nowMs + 14 * 24 * HOUR)
      const doc = await status(r.url.split('#token=')[1]!)
      expect(doc.tenant.id).toBe(r.tenant_id)
    }
    // Only the tenants down now, into a file readable by its owner only.
    const file = join(srv.config.dataDir, '..', `links-${process.pid}.csv`)
    await cli(['create', '--incident', A, '--all-affected', '--state', 'down', '--out', file])
    const down = parse(readFileSync(file), { columns: true }) as { tenant_id: string }[]
    expect(down.map((r) => r.tenant_id)).toEqual(['acme'])
    expect(statSync(file).mode & 0o777).toBe(0o600)
    rmSync(file)
    const listed = JSON.parse((await cli(['list', '--incident', A, '--limit', '1000'])).stdout)
    const first = rows[0]!.url.split('#token=')[1]!
    const id = listed.share_links.find((l: { tenant_id: string; status: string; expires_at: string }) => l.tenant_id === 'acme' && l.expires_at === rows[0]!.expires_at).id
    expect((await cli(['revoke', id])).stdout).toBe(`revoked ${id}\n`)
    expect((await srv.api('/api/v1/status', { token: first })).status).toBe(401)
    const single = JSON.parse((await cli(['create', '--incident', A, '--tenant', 'globex', '--expires', '1h'])).stdout)
    expect(single).toMatchObject({ tenant_id: 'globex', expires_at: new Date(nowMs + HOUR).toISOString() })
  })

  it('a broadcast sent with a time ahead shows once that time has come, with no other change', async () => {
    const before = await status(tenantLink.token) // the incident's broadcasts are now read and kept
    await ingest([broadcast(nowMs + 2 * MIN, { incident_id: A, message: 'Scheduled: restore wave 2.' })])
    const soon = await status(tenantLink.token)
    expect(soon.updates).toEqual(before.updates)
    nowMs += 2 * MIN
    const then = await status(tenantLink.token)
    expect(then.updates[0]).toEqual({ at: new Date(nowMs).toISOString(), channel: 'status_page', message: 'Scheduled: restore wave 2.', broadcast: true })
    expect(then.last_update_at).toBe(new Date(nowMs).toISOString())
  })

  it('stores only a hash of each token: no token in any table or any file of the data directory', async () => {
    await srv.close() // every use count and part is on disk
    const all = [incidentLink, tenantLink, expiredLink, revokedLink]
    const files = filesUnder(srv.config.dataDir)
    expect(files.length).toBeGreaterThan(10)
    const hits = (needle: string) => files.filter((f) => readFileSync(f).includes(Buffer.from(needle)))
    for (const l of all) expect(hits(l.token)).toEqual([])
    // The scan reads what the engine wrote: uncompressed data (the schema, and the incident id in
    // the names of the tables' metadata) is found by the same search.
    expect(hits('token_hash').length).toBeGreaterThan(0)
    // Parts are compressed, so the engine reads every table back, decompressed, as well.
    srv = await startTestServer(srv.config, { now: () => new Date(nowMs) })
    const tables = await srv.store.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = {db:String} AND engine NOT LIKE '%View%'`, { db: srv.store.db })
    let dump = ''
    for (const t of tables) dump += JSON.stringify(await srv.store.rows(`SELECT * FROM ${srv.store.db}.\`${t.name}\``))
    for (const l of all) {
      expect(dump).not.toContain(l.token)
      expect(dump).toContain(hashToken(l.token))
    }
    // The restarted server knows every link (and their use counts survived the restart).
    expect((await srv.api('/api/v1/status', { token: tenantLink.token })).status).toBe(200)
    expect((await srv.api('/api/v1/status', { token: revokedLink.token })).status).toBe(401)
    const listed = await (await srv.api(`/api/v1/share-links?incident_id=${A}&limit=1000`)).json()
    expect(listed.share_links.find((l: { id: string }) => l.id === tenantLink.id).uses).toBeGreaterThanOrEqual(3)
  })
})

describe('the status document never holds another tenant\'s data (random incidents)', () => {
  let srv: TestServer
  let nowMs = BASE
  beforeAll(async () => {
    srv = await startTestServer(undefined, { now: () => new Date(nowMs) })
  })
  afterAll(async () => srv?.stop())

  const TYPES: EventType[] = ['access_lost', 'access_lost', 'access_restored', 'restore_started', 'restore_progress', 'restore_completed', 'communication', 'communication']
  let run = 0
  // Ids and names of one fixed length from an alphabet no other text uses: one is inside another only if equal.
  const word = fc.stringMatching(/^[QXZ][qxzjkv]{9}$/)

  it('each tenant link sees exactly its own figures and no other tenant\'s id, name or message', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ id: word, name: word }), { minLength: 2, maxLength: 6, selector: (t) => t.id }),
        fc.array(fc.record({ tenant: fc.nat(), type: fc.constantFrom(...TYPES), minute: fc.integer({ min: 0, max: 300 }), broadcast: fc.boolean(), p: fc.double({ min: 0, max: 1, noNaN: true }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: 320 }),
        async (ts, raw, asOfMinute) => {
          // Ids and names never collide across tenants (names could repeat an id by chance: skip those).
          fc.pre(new Set([...ts.map((t) => t.id), ...ts.map((t) => t.name)]).size === ts.length * 2)
          const incidentId = `prop-share-${++run}`
          const events = raw.map((e) => {
            const t = ts[e.tenant % ts.length]!
            const isBroadcast = e.type === 'communication' && e.broadcast
            return event(e.type, BASE + e.minute * MIN, {
              incident_id: incidentId,
              tenant_id: isBroadcast ? '' : t.id,
              progress: e.type === 'restore_progress' ? e.p : null,
              // A direct message names its tenant, as a real one would.
              message: e.type === 'communication' ? (isBroadcast ? 'to every customer' : `Hello ${t.name} (${t.id})`) : '',
            })
          })
          nowMs = BASE + 400 * MIN // ingest refuses events from the future of the server's clock
          const body = events.map((e) => ({ ...e, occurred_at: e.occurred_at.replace(' ', 'T') + 'Z', progress: e.progress ?? undefined, tenant_id: e.tenant_id || undefined, channel: e.channel || undefined, label: undefined }))
          const res = await srv.api('/api/v1/events?atomic=true', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
          expect(res.status, await res.clone().text()).toBe(200)
          const meta: TenantMeta[] = ts.map((t) => ({ tenant_id: t.id, name: t.name, attributes: {} }))
          expect((await srv.api('/api/v1/tenants', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: JSON.stringify(meta) })).status).toBe(200)
          nowMs = BASE + asOfMinute * MIN
          const made = await srv.api('/api/v1/share-links', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(ts.map((t) => ({ incident_id: incidentId, tenant_id: t.id }))),
          })
          expect(made.status).toBe(201)
          const { links } = (await made.json()) as { links: { token: string; tenant_id: string }[] }
          const ref = referenceTenants(events, meta, { incidentId, asOfMs: nowMs })
          // Asked at once, the lookups share statements: each answer is still its own tenant's.
          const together = await Promise.all(links.map(async (l) => (await srv.api('/api/v1/status', { token: l.token })).json()))
          for (const link of links) {
            const r = await srv.api('/api/v1/status', { token: link.token })
            const text = await r.text()
            expect(r.status, text).toBe(200)
            const doc = JSON.parse(text)
            expect(together[links.indexOf(link)]).toEqual(doc)
            const own = ts.find((t) => t.id === link.tenant_id)!
            for (const other of ts) {
              if (other === own) continue
              expect(text).not.toContain(other.id)
              expect(text).not.toContain(other.name)
            }
            // Its figures are its own, computed independently.
            const mine = ref.get(own.id)
            const open = mine?.intervals.find((iv) => iv.end === null || iv.end > nowMs)
            const updates = events
              .filter((e) => e.type === 'communication' && (e.tenant_id === own.id || e.tenant_id === '') && Date.parse(e.occurred_at.replace(' ', 'T') + 'Z') <= nowMs)
              .map((e) => Date.parse(e.occurred_at.replace(' ', 'T') + 'Z'))
              .sort((a, b) => b - a)
            expect({
              tenant: doc.tenant,
              affected: doc.affected,
              state: doc.state,
              restore_stage: doc.restore_stage,
              restore_progress: doc.restore_progress,
              down_since: doc.down_since,
              downtime_s: doc.downtime_s,
              last_update_at: doc.last_update_at,
              updates: doc.updates.map((u: { at: string }) => Date.parse(u.at)),
            }).toEqual({
              tenant: { id: own.id, name: own.name },
              affected: mine !== undefined,
              state: mine?.state ?? 'up',
              restore_stage: mine?.restore_stage ?? null,
              restore_progress: mine?.restore_progress ?? null,
              down_since: open && mine?.state === 'down' ? new Date(open.start).toISOString() : null,
              downtime_s: mine ? mine.downtime_ms / 1000 : 0,
              last_update_at: updates.length ? new Date(updates[0]!).toISOString() : null,
              updates: updates.slice(0, 20),
            })
          }
        },
      ),
      { numRuns: 15 },
    )
  })
})
