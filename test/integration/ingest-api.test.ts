import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIngestPipeline } from '../../server/ingest/pipeline.js'
import { createTelemetry } from '../../server/telemetry.js'
import { TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer()
})
afterAll(async () => srv?.stop())

type Ev = Record<string, unknown>
const ev = (id: string, over: Ev = {}): Ev => ({
  event_id: id,
  incident_id: 'inc-api',
  type: 'access_lost',
  occurred_at: '2022-04-05T07:38:00.123Z',
  tenant_id: 'acme',
  ...over,
})
const ndjson = (lines: (Ev | string)[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n'

function post(path: string, body: string | Buffer, contentType: string | null, init: { token?: string | null; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers }
  if (contentType) headers['content-type'] = contentType
  return srv.api(path, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers, token: init.token === undefined ? TOKENS.ingest : init.token })
}

interface StoredEvent {
  incident_id: string
  tenant_id: string
  event_id: string
  type: string
  occurred_at: string
  progress: number | null
  channel: string
  label: string
  message: string
}
async function stored(incident: string): Promise<StoredEvent[]> {
  return srv.store.rows<StoredEvent>(
    `SELECT incident_id, tenant_id, event_id, type, occurred_at, progress, channel, label, message
     FROM ${srv.store.db}.events FINAL WHERE incident_id = {i:String} ORDER BY event_id`,
    { i: incident },
  )
}
const storedIds = async (incident: string) => (await stored(incident)).map((r) => r.event_id)

const row = (over: Partial<StoredEvent>): StoredEvent => ({
  incident_id: 'inc-api',
  tenant_id: 'acme',
  event_id: '',
  type: 'access_lost',
  occurred_at: '2022-04-05T07:38:00.123Z',
  progress: null,
  channel: '',
  label: '',
  message: '',
  ...over,
})

describe('POST /api/v1/events body formats', () => {
  it('stores one application/json event object', async () => {
    const res = await post('/api/v1/events', JSON.stringify(ev('j1', { incident_id: 'inc-json', occurred_at: '2022-04-05T09:38:00.5+02:00', message: 'site gone' })), 'application/json')
    expect([res.status, await res.json()]).toEqual([200, { accepted: 1, rejected: 0, errors: [] }])
    expect(await stored('inc-json')).toEqual([row({ incident_id: 'inc-json', event_id: 'j1', occurred_at: '2022-04-05T07:38:00.500Z', message: 'site gone' })])
  })

  it('stores a JSON array of every event type', async () => {
    const events = [
      ev('a1', { incident_id: 'inc-types' }),
      ev('a2', { incident_id: 'inc-types', type: 'restore_started' }),
      ev('a3', { incident_id: 'inc-types', type: 'restore_progress', progress: 0.4 }),
      ev('a4', { incident_id: 'inc-types', type: 'restore_completed' }),
      ev('a5', { incident_id: 'inc-types', type: 'access_restored' }),
      ev('a6', { incident_id: 'inc-types', type: 'communication', channel: 'email', message: 'we are on it' }),
      ev('a7', { incident_id: 'inc-types', type: 'communication', tenant_id: undefined }),
      ev('a8', { incident_id: 'inc-types', type: 'milestone', tenant_id: undefined, label: 'root cause found' }),
    ]
    const res = await post('/api/v1/events', JSON.stringify(events), 'application/json; charset=utf-8')
    expect([res.status, await res.json()]).toEqual([200, { accepted: 8, rejected: 0, errors: [] }])
    const base = { incident_id: 'inc-types' }
    expect(await stored('inc-types')).toEqual([
      row({ ...base, event_id: 'a1' }),
      row({ ...base, event_id: 'a2', type: 'restore_started' }),
      row({ ...base, event_id: 'a3', type: 'restore_progress', progress: 0.4 }),
      row({ ...base, event_id: 'a4', type: 'restore_completed' }),
      row({ ...base, event_id: 'a5', type: 'access_restored' }),
      row({ ...base, event_id: 'a6', type: 'communication', channel: 'email', message: 'we are on it' }),
      row({ ...base, event_id: 'a7', type: 'communication', channel: 'other', tenant_id: '' }),
      row({ ...base, event_id: 'a8', type: 'milestone', tenant_id: '', label: 'root cause found' }),
    ])
  })

  it('streams NDJSON, numbering errors by line with blank lines counted', async () => {
    const body = ndjson([ev('n1', { incident_id: 'inc-nd' }), '', '{"event_id": "broken"', ev('n2', { incident_id: 'inc-nd', type: 'nope' }), ev('n3', { incident_id: 'inc-nd', tenant_id: '租户-1' })])
    const res = await post('/api/v1/events', body, 'application/x-ndjson')
    const out = await res.json()
    expect(res.status).toBe(200)
    expect(out.accepted).toBe(2)
    expect(out.rejected).toBe(2)
    expect(out.errors.map((e: { index: number; field: string }) => [e.index, e.field])).toEqual([
      [2, ''],
      [3, 'type'],
    ])
    expect(out.errors[0].message).toMatch(/^malformed JSON/)
    expect(await stored('inc-nd')).toEqual([row({ incident_id: 'inc-nd', event_id: 'n1' }), row({ incident_id: 'inc-nd', event_id: 'n3', tenant_id: '租户-1' })])
  })

  it('accepts a gzip-compressed NDJSON body', async () => {
    const res = await post('/api/v1/events', gzipSync(ndjson([ev('g1', { incident_id: 'inc-gz' })])), 'application/x-ndjson', { headers: { 'content-encoding': 'gzip' } })
    expect([res.status, await res.json()]).toEqual([200, { accepted: 1, rejected: 0, errors: [] }])
    expect(await storedIds('inc-gz')).toEqual(['g1'])
  })

  const ce = (id: string, over: Ev = {}): Ev => ({
    specversion: '1.0',
    id,
    source: '/restore-bot',
    type: 'com.example.outage.restore_progress',
    time: '2022-04-10T10:00:00Z',
    subject: 'globex',
    data: { incident_id: 'inc-ce', progress: 0.75 },
    ...over,
  })
  const ceRow = (id: string, over: Partial<StoredEvent> = {}) =>
    row({ incident_id: 'inc-ce', event_id: id, tenant_id: 'globex', type: 'restore_progress', occurred_at: '2022-04-10T10:00:00.000Z', progress: 0.75, ...over })

  it('stores a structured-mode CloudEvent (application/cloudevents+json)', async () => {
    const res = await post('/api/v1/events', JSON.stringify(ce('ce1')), 'application/cloudevents+json')
    expect([res.status, await res.json()]).toEqual([200, { accepted: 1, rejected: 0, errors: [] }])
    expect(await stored('inc-ce')).toEqual([ceRow('ce1')])
  })

  it('stores a CloudEvents batch and names errors after CloudEvents attributes', async () => {
    const batch = [ce('ce2'), ce('ce3', { time: 'soon' }), ce('ce4', { type: 'com.example.milestone', subject: undefined, data: { incident_id: 'inc-ce', label: 'v2 rolled out' } })]
    const res = await post('/api/v1/events', JSON.stringify(batch), 'application/cloudevents-batch+json')
    const out = await res.json()
    expect(res.status).toBe(200)
    expect(out).toMatchObject({ accepted: 2, rejected: 1 })
    expect(out.errors.map((e: { index: number; field: string }) => [e.index, e.field])).toEqual([[1, 'time']])
    expect(await stored('inc-ce')).toEqual([ceRow('ce1'), ceRow('ce2'), ceRow('ce4', { type: 'milestone', tenant_id: '', progress: null, label: 'v2 rolled out' })])
  })

  it('stores a binary-mode CloudEvent (ce-* headers, data as body)', async () => {
    const res = await post('/api/v1/events', JSON.stringify({ incident_id: 'inc-ce-bin', channel: 'status_page', message: 'update 3' }), 'application/json', {
      headers: { 'ce-specversion': '1.0', 'ce-id': 'bin-1', 'ce-source': '/comms', 'ce-type': 'com.example.outage.communication', 'ce-time': '2022-04-06T00:00:00Z', 'ce-subject': 'caf%C3%A9' },
    })
    expect([res.status, await res.json()]).toEqual([200, { accepted: 1, rejected: 0, errors: [] }])
    expect(await stored('inc-ce-bin')).toEqual([
      row({ incident_id: 'inc-ce-bin', event_id: 'bin-1', tenant_id: 'café', type: 'communication', occurred_at: '2022-04-06T00:00:00.000Z', channel: 'status_page', message: 'update 3' }),
    ])
  })
})

describe('POST /api/v1/events partial and atomic acceptance', () => {
  it('keeps the valid events of a mixed batch and lists the errors', async () => {
    const events = [ev('m1', { incident_id: 'inc-mix' }), ev('m2', { incident_id: 'inc-mix', occurred_at: '2999-01-01T00:00:00Z' }), ev('m3', { incident_id: 'inc-mix' }), 'not an event']
    const res = await post('/api/v1/events', JSON.stringify(events), 'application/json')
    expect([res.status, await res.json()]).toEqual([
      200,
      {
        accepted: 2,
        rejected: 2,
        errors: [
          { index: 1, field: 'occurred_at', message: 'must not be more than 5 minutes in the future' },
          { index: 3, field: '', message: 'event must be a JSON object (got string)' },
        ],
      },
    ])
    expect(await storedIds('inc-mix')).toEqual(['m1', 'm3'])
  })

  it('lists at most 100 errors but counts every rejected event', async () => {
    const events = Array.from({ length: 150 }, (_, i) => ev(`bad-${i}`, { incident_id: 'inc-many', type: 'x' }))
    const res = await post('/api/v1/events', JSON.stringify(events), 'application/json')
    const out = await res.json()
    expect([res.status, out.accepted, out.rejected, out.errors.length, out.errors[99].index]).toEqual([200, 0, 150, 100, 99])
  })

  it('answers 422 and keeps nothing when atomic=true and one JSON event is invalid', async () => {
    const res = await post('/api/v1/events?atomic=true', JSON.stringify([ev('x1', { incident_id: 'inc-atomic' }), ev('x2', { incident_id: 'inc-atomic', tenant_id: undefined })]), 'application/json')
    expect([res.status, await res.json()]).toEqual([
      422,
      {
        error: { code: 'invalid_events', message: '1 event(s) invalid; atomic=true, so none were kept' },
        accepted: 0,
        rejected: 1,
        errors: [{ index: 1, field: 'tenant_id', message: 'is required for access_lost events' }],
      },
    ])
    expect(await storedIds('inc-atomic')).toEqual([])
  })

  it('answers 422 and keeps nothing for an atomic NDJSON body with a broken line at the end', async () => {
    const lines: (Ev | string)[] = Array.from({ length: 25_000 }, (_, i) => ev(`xa-${i}`, { incident_id: 'inc-atomic-nd' }))
    lines.push('{oops')
    const res = await post('/api/v1/events?atomic=true', ndjson(lines), 'application/x-ndjson')
    const out = await res.json()
    expect([res.status, out.accepted, out.rejected, out.errors]).toEqual([422, 0, 1, [{ index: 25_000, field: '', message: expect.stringMatching(/^malformed JSON/) }]])
    expect(await storedIds('inc-atomic-nd')).toEqual([])
  })

  it('stores everything of a valid atomic NDJSON body', async () => {
    const res = await post('/api/v1/events?atomic=true', ndjson([ev('ok1', { incident_id: 'inc-atomic-ok' }), ev('ok2', { incident_id: 'inc-atomic-ok' })]), 'application/x-ndjson')
    expect([res.status, await res.json()]).toEqual([200, { accepted: 2, rejected: 0, errors: [] }])
    expect(await storedIds('inc-atomic-ok')).toEqual(['ok1', 'ok2'])
  })

  it('keeps stored events unchanged when the same events are sent twice', async () => {
    const events = Array.from({ length: 500 }, (_, i) => ev(`dup-${i}`, { incident_id: 'inc-dup', tenant_id: `t-${i % 7}` }))
    const count = async () => (await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM ${srv.store.db}.events FINAL`))[0]!.n
    const first = await post('/api/v1/events', ndjson(events), 'application/x-ndjson')
    expect(first.status).toBe(200)
    const before = await count()
    const snapshot = await stored('inc-dup')
    const again = await post('/api/v1/events', JSON.stringify(events), 'application/json')
    expect([again.status, await again.json()]).toEqual([200, { accepted: 500, rejected: 0, errors: [] }])
    expect(await count()).toBe(before)
    expect(await stored('inc-dup')).toEqual(snapshot)
    expect(snapshot).toHaveLength(500)
  })
})

describe('POST /api/v1/events errors', () => {
  const body = JSON.stringify(ev('e-err'))
  it('401 without a token and with an unknown token', async () => {
    for (const token of [null, 'not-a-real-token']) {
      const res = await post('/api/v1/events', body, 'application/json', { token })
      expect(res.status).toBe(401)
      expect((await res.json()).error.code).toBe('unauthorized')
    }
  })

  it('403 with a read-only token', async () => {
    const res = await post('/api/v1/events', body, 'application/json', { token: TOKENS.read })
    expect([res.status, await res.json()]).toEqual([403, { error: { code: 'forbidden', message: 'this token has scope "read"; this endpoint needs "ingest"' } }])
  })

  it('passes with an admin token', async () => {
    const res = await post('/api/v1/events', JSON.stringify(ev('by-admin', { incident_id: 'inc-admin' })), 'application/json', { token: TOKENS.admin })
    expect(res.status).toBe(200)
    expect(await storedIds('inc-admin')).toEqual(['by-admin'])
  })

  it('400 for malformed JSON, with a clear message and no stack', async () => {
    const res = await post('/api/v1/events', '{"event_id": ', 'application/json')
    const out = await res.json()
    expect(res.status).toBe(400)
    expect(out.error.code).toBe('malformed_json')
    expect(out.error.message).toMatch(/^malformed JSON: /)
    expect(JSON.stringify(out)).not.toMatch(/at .*\.ts:\d+/)
  })

  it('400 for a JSON body that is not an event or an array', async () => {
    const res = await post('/api/v1/events', '42', 'application/json')
    expect([res.status, await res.json()]).toEqual([400, { error: { code: 'bad_request', message: 'body must be an event object or an array of event objects' } }])
  })

  it('415 for an unsupported or missing content type', async () => {
    for (const type of ['text/plain', null]) {
      const res = await post('/api/v1/events', body, type)
      expect(res.status).toBe(415)
      expect((await res.json()).error.code).toBe('unsupported_media_type')
    }
  })
})

describe('tenants and incidents', () => {
  interface TenantRow {
    tenant_id: string
    name: string
    attributes: Record<string, string>
    num_attributes: Record<string, number>
  }
  const tenants = () =>
    srv.store.rows<TenantRow>(`SELECT tenant_id, name, attributes, num_attributes FROM ${srv.store.db}.tenants FINAL ORDER BY tenant_id`)

  it('upserts tenants from a JSON array: numeric attributes in both maps, a later upsert merges into the stored record', async () => {
    const first = await post('/api/v1/tenants', JSON.stringify([{ tenant_id: 'acme', name: 'Acme', attributes: { tier: 'enterprise', seats: 1200 } }, { tenant_id: 'globex' }]), 'application/json')
    expect([first.status, await first.json()]).toEqual([200, { accepted: 2, rejected: 0, errors: [] }])
    const second = await post('/api/v1/tenants', ndjson([{ tenant_id: 'acme', name: 'Acme Corp', attributes: { tier: 'premium', region: 'eu' } }]), 'application/x-ndjson')
    expect([second.status, await second.json()]).toEqual([200, { accepted: 1, rejected: 0, errors: [] }])
    expect(await tenants()).toEqual([
      { tenant_id: 'acme', name: 'Acme Corp', attributes: { tier: 'premium', region: 'eu', seats: '1200' }, num_attributes: { seats: 1200 } },
      { tenant_id: 'globex', name: '', attributes: {}, num_attributes: {} },
    ])
  })

  it('merges upserts: a bare record keeps name and attributes, null removes one attribute, replace=true overwrites the record', async () => {
    const up = async (body: unknown[], query = '') => {
      const res = await post(`/api/v1/tenants${query}`, JSON.stringify(body), 'application/json')
      expect(res.status).toBe(200)
      return res.json()
    }
    const acme = async () => (await tenants()).find((t) => t.tenant_id === 'merge-acme')
    await up([{ tenant_id: 'merge-acme', name: 'Acme', attributes: { tier: 'enterprise', seats: 1200, region: 'eu' } }])
    // A bare record, and one with a null name, change nothing.
    expect(await up([{ tenant_id: 'merge-acme' }, { tenant_id: 'merge-acme', name: null, attributes: null }])).toEqual({ accepted: 2, rejected: 0, errors: [] })
    expect(await acme()).toEqual({ tenant_id: 'merge-acme', name: 'Acme', attributes: { tier: 'enterprise', seats: '1200', region: 'eu' }, num_attributes: { seats: 1200 } })
    // Records of one request apply in order; null removes; a number turned string leaves the numeric map.
    await up([{ tenant_id: 'merge-acme', attributes: { region: null, seats: 'many' } }, { tenant_id: 'merge-acme', attributes: { tier: 'premium' } }])
    expect(await acme()).toEqual({ tenant_id: 'merge-acme', name: 'Acme', attributes: { tier: 'premium', seats: 'many' }, num_attributes: {} })
    await up([{ tenant_id: 'merge-acme', attributes: { seats: 40 } }], '?replace=true')
    expect(await acme()).toEqual({ tenant_id: 'merge-acme', name: '', attributes: { seats: '40' }, num_attributes: { seats: 40 } })
    // The attribute limit holds for the merged record.
    await up([{ tenant_id: 'merge-acme', attributes: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`a${i}`, 'x'])) }], '?replace=true')
    const over = await up([{ tenant_id: 'merge-acme', attributes: { one_more: 'x' } }])
    expect([over.accepted, over.rejected, over.errors[0].field]).toEqual([0, 1, 'attributes'])
  })

  it('rejects bad tenant records with field errors and keeps the good ones', async () => {
    const body = [
      { tenant_id: 'initech', attributes: { seats: 40.5 } },
      { tenant_id: '' },
      { tenant_id: 'x', attributes: { 'bad key': 'v' } },
      { tenant_id: 'y', attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) },
      { tenant_id: 'z', attributes: { tier: 'v'.repeat(257) } },
      { tenant_id: 'w', colour: 'red' },
    ]
    const res = await post('/api/v1/tenants', JSON.stringify(body), 'application/json')
    const out = await res.json()
    expect([res.status, out.accepted, out.rejected]).toEqual([200, 1, 5])
    expect(out.errors.map((e: { index: number; field: string }) => [e.index, e.field])).toEqual([
      [1, 'tenant_id'],
      [2, 'attributes.bad key'],
      [3, 'attributes'],
      [4, 'attributes.tier'],
      [5, ''],
    ])
    expect((await tenants()).find((t) => t.tenant_id === 'initech')).toEqual({ tenant_id: 'initech', name: '', attributes: { seats: '40.5' }, num_attributes: { seats: 40.5 } })
  })

  const put = (id: string, body: unknown, token: string = TOKENS.ingest) =>
    srv.api(`/api/v1/incidents/${id}`, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, token })

  it('creates incident metadata and a later partial PUT keeps the other fields', async () => {
    const a = await put('inc-meta', { title: 'Sites deleted', severity: 'sev1', description: 'maintenance script' })
    const policy = { first_contact_within: '4h', update_every: '24h', stall_after: '6h' }
    expect([a.status, await a.json()]).toEqual([200, { incident_id: 'inc-meta', title: 'Sites deleted', description: 'maintenance script', severity: 'sev1', status: 'ongoing', comm_policy: policy }])
    const b = await put('inc-meta', { status: 'resolved' })
    expect([b.status, await b.json()]).toEqual([200, { incident_id: 'inc-meta', title: 'Sites deleted', description: 'maintenance script', severity: 'sev1', status: 'resolved', comm_policy: policy }])
    expect(await srv.store.rows(`SELECT incident_id, title, description, severity, status FROM ${srv.store.db}.incidents FINAL`)).toEqual([
      { incident_id: 'inc-meta', title: 'Sites deleted', description: 'maintenance script', severity: 'sev1', status: 'resolved' },
    ])
  })

  it('rejects invalid incident metadata with 400, and a read token with 403', async () => {
    const bad = await put('inc-meta', { status: 'done', title: 't'.repeat(257) })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.code).toBe('invalid_incident')
    const badId = await put('inc%20meta', { title: 'x' })
    expect([badId.status, (await badId.json()).error.code]).toEqual([400, 'invalid_incident_id'])
    expect((await put('inc-meta', { title: 'x' }, TOKENS.read)).status).toBe(403)
  })
})

describe('telemetry and commit notifications', () => {
  const metric = async (name: string) => {
    const text = await (await srv.api('/metrics', { token: TOKENS.read })).text()
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  }

  it('counts ingested and rejected events and insert latency in /metrics', async () => {
    const [ingested, rejected, inserts] = [await metric('aftermath_events_ingested_total'), await metric('aftermath_events_rejected_total'), await metric('aftermath_insert_duration_seconds_count')]
    const res = await post('/api/v1/events', ndjson([ev('mt1', { incident_id: 'inc-metrics' }), ev('mt2', { incident_id: 'inc-metrics' }), ev('mt3', { incident_id: 'inc-metrics' }), '{']), 'application/x-ndjson')
    expect(res.status).toBe(200)
    expect(await metric('aftermath_events_ingested_total')).toBe(ingested + 3)
    expect(await metric('aftermath_events_rejected_total')).toBe(rejected + 1)
    expect(await srv.drained(10_000)).toBe(true) // acknowledged from the spool; inserted just after
    expect(await metric('aftermath_insert_duration_seconds_count')).toBeGreaterThan(inserts)
  })

  it('calls onCommitted with the incident ids of each committed batch, after the rows are queryable', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'aftermath-pipeline-'))
    const pipeline = await createIngestPipeline({ config: { ...srv.config, dataDir: spoolDir }, store: srv.store, telemetry: createTelemetry(), log: pino({ level: 'silent' }) })
    const seen: { ids: string[]; stored: number }[] = []
    const done = new Promise<void>((resolve) =>
      pipeline.onCommitted((ids) => {
        void stored('inc-notify-a').then((rows) => {
          seen.push({ ids: [...ids].sort(), stored: rows.length })
          resolve()
        })
      }),
    )
    const r = (id: string, incident: string) => ({ incident_id: incident, tenant_id: 't', event_id: id, type: 'access_lost' as const, occurred_at: '2022-04-05 07:38:00.000', progress: null, channel: '', label: '', message: '' })
    await Promise.all([pipeline.submit([r('n1', 'inc-notify-a')]), pipeline.submit([r('n2', 'inc-notify-b')])])
    await done
    expect(seen).toEqual([{ ids: ['inc-notify-a', 'inc-notify-b'], stored: 1 }])
    await pipeline.close()
    rmSync(spoolDir, { recursive: true, force: true })
  })
})
