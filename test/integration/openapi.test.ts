import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * The OpenAPI document (GET /api/v1/openapi.json) against the server it describes:
 * - every route Express has is in the document, and nothing else;
 * - real answers of every route, success and error, validate against the document's schema for
 *   that route, status and media type (JSON Schema 2020-12, by Ajv; objects are strict, so an
 *   undocumented field fails);
 * - where a handler validates by hand (query parameters of the views, events), the document and the
 *   code agree: each parameter's valid and invalid values, as the document's own schema judges
 *   them, are accepted and refused (400) by the server.
 */

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
const MIN = 60_000
const HOUR = 60 * MIN
const NOW = Date.parse('2026-04-05T12:00:00.000Z')
const T0 = NOW - 4 * HOUR
const iso = (ms: number) => new Date(ms).toISOString()
const INC = 'oa-1'

type Doc = {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> }
}
type Operation = {
  operationId: string
  parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[]
  requestBody?: { content: Record<string, { schema: unknown }> }
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>
  security: Record<string, string[]>[]
}

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')

describe('OpenAPI 3.1 document', () => {
  let srv: TestServer
  let doc: Doc
  let ajv: Ajv2020
  /** Which (operation, status) pairs real answers exercised. */
  const seen = new Map<string, Set<number>>()
  const routes: { method: string; template: string; re: RegExp }[] = []

  const json = (body: unknown, token: string = TOKENS.admin, method = 'POST') => ({ method, token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  /** The operation a concrete request hits. */
  const operationOf = (method: string, path: string) => {
    const bare = path.split('?')[0]!
    const r = routes.find((x) => x.method === method && x.re.test(bare))
    if (!r) throw new Error(`${method} ${bare}: no operation in the document`)
    return r
  }

  /** Call the server, then check the answer against the document; returns status and body text. */
  async function call(method: string, path: string, init: RequestInit & { token?: string | null } = {}) {
    const res = await srv.api(path, { ...init, method })
    const text = await res.text()
    const { template } = operationOf(method.toLowerCase(), path)
    const op = doc.paths[template]![method.toLowerCase()]!
    const response = op.responses[String(res.status)]
    expect(response, `${method} ${path} answered ${res.status}, which the document does not list (${text.slice(0, 200)})`).toBeDefined()
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim()
    if (res.status !== 204) {
      expect(Object.keys(response!.content ?? {}), `${method} ${path} ${res.status}: media type`).toContain(type)
      if (type === 'application/json' && response!.content![type]!.schema && !(op.operationId === 'openapi')) {
        const validate = ajv.getSchema(`openapi#/${pointer('paths', template, method.toLowerCase(), 'responses', String(res.status), 'content', type, 'schema')}`) as ValidateFunction
        const ok = validate(JSON.parse(text))
        expect(ok ? [] : validate.errors, `${method} ${path} ${res.status}: ${text.slice(0, 300)}`).toEqual([])
      }
    }
    const key = `${method.toLowerCase()} ${template}`
    if (!seen.has(key)) seen.set(key, new Set())
    seen.get(key)!.add(res.status)
    return { status: res.status, text }
  }

  beforeAll(async () => {
    srv = await startTestServer(undefined, { now: () => new Date(NOW) })
    doc = (await (await fetch(`${srv.url}/api/v1/openapi.json`)).json()) as Doc
    ajv = new Ajv2020({ strict: false, allErrors: true })
    addFormats(ajv)
    ajv.addSchema(doc, 'openapi')
    for (const [template, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        routes.push({ method, template, re: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`) })
      }
    }

    // An incident with every event type, tenants with attributes, a policy, a webhook and links.
    const events = [
      { event_id: 'l-a', incident_id: INC, type: 'access_lost', occurred_at: iso(T0), tenant_id: 'acme' },
      { event_id: 'l-b', incident_id: INC, type: 'access_lost', occurred_at: iso(T0 + MIN), tenant_id: 'globex' },
      { event_id: 'l-c', incident_id: INC, type: 'access_lost', occurred_at: iso(T0 + 2 * MIN), tenant_id: 'initech' },
      { event_id: 's-a', incident_id: INC, type: 'restore_started', occurred_at: iso(T0 + 10 * MIN), tenant_id: 'acme' },
      { event_id: 'p-a', incident_id: INC, type: 'restore_progress', occurred_at: iso(T0 + 20 * MIN), tenant_id: 'acme', progress: 0.5 },
      { event_id: 'd-a', incident_id: INC, type: 'restore_completed', occurred_at: iso(T0 + 30 * MIN), tenant_id: 'acme' },
      { event_id: 'r-a', incident_id: INC, type: 'access_restored', occurred_at: iso(T0 + HOUR), tenant_id: 'acme' },
      { event_id: 'c-b', incident_id: INC, type: 'communication', occurred_at: iso(T0 + 15 * MIN), tenant_id: 'globex', channel: 'email', message: 'we are on it' },
      { event_id: 'bc', incident_id: INC, type: 'communication', occurred_at: iso(T0 + 30 * MIN), channel: 'status_page' },
      { event_id: 'm-1', incident_id: INC, type: 'milestone', occurred_at: iso(T0 + 5 * MIN), label: 'root cause found' },
    ]
    expect((await call('POST', '/api/v1/events', json(events, TOKENS.ingest))).status).toBe(200)
    const tenants = [
      { tenant_id: 'acme', name: 'Acme', attributes: { tier: 'enterprise', seats: 100 } },
      { tenant_id: 'globex', name: 'Globex', attributes: { tier: 'free', seats: 5 } },
      { tenant_id: 'initech', name: 'Initech', attributes: { tier: 'enterprise', seats: 40 } },
    ]
    expect((await call('POST', '/api/v1/tenants', json(tenants, TOKENS.ingest))).status).toBe(200)
    const put = await call('PUT', `/api/v1/incidents/${INC}`, json({ title: 'OpenAPI incident', status: 'ongoing', comm_policy: { first_contact_within: '30m' } }, TOKENS.ingest, 'PUT'))
    expect(put.status).toBe(200)
  }, 60_000)

  afterAll(async () => {
    await srv?.stop()
  })

  it('is OpenAPI 3.1 with the bearer scheme, and every path parameter is declared', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
    for (const [template, ops] of Object.entries(doc.paths)) {
      const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1])
      for (const op of Object.values(ops)) {
        expect(op.parameters.filter((p) => p.in === 'path').map((p) => p.name), `${op.operationId}`).toEqual(names)
        const errors = Object.keys(op.responses).filter((s) => Number(s) >= 400)
        if (op.security.length > 0) expect(errors, op.operationId).toEqual(expect.arrayContaining(['401', '403', '429']))
      }
    }
    // Every schema in the document compiles as JSON Schema 2020-12.
    for (const [template, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, r] of Object.entries(op.responses)) {
          for (const type of Object.keys(r.content ?? {})) expect(() => ajv.getSchema(`openapi#/${pointer('paths', template, method, 'responses', status, 'content', type, 'schema')}`)).not.toThrow()
        }
      }
    }
  })

  it('lists exactly the routes the server has', () => {
    type Layer = { rawPath?: string; route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: Layer[] } }
    const registered: string[] = []
    for (const layer of (srv.app as unknown as { router: { stack: Layer[] } }).router.stack) {
      const mount = layer.rawPath === '/' ? '' : (layer.rawPath ?? '')
      for (const inner of layer.handle.stack ?? []) {
        if (!inner.route) continue
        for (const m of Object.keys(inner.route.methods)) registered.push(`${m} ${mount}${inner.route.path.replace(/:(\w+)/g, '{$1}')}`)
      }
    }
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`))
    expect(registered.sort()).toEqual(documented.sort())
    expect(documented.length).toBe(32)
  })

  it('is open and holds no data', async () => {
    const res = await fetch(`${srv.url}/api/v1/openapi.json`)
    expect(res.status).toBe(200)
    const text = await res.text()
    for (const secret of ['acme', 'Globex', INC, TOKENS.admin]) expect(text).not.toContain(secret)
  })

  it('validates real answers of every route, success and error', async () => {
    const base = `/api/v1/incidents/${INC}`
    const views = ['summary', 'recovery', 'communications', 'tenants', 'tenants/acme/timeline', 'downtime-histogram', 'overdue', 'reporting-lag', 'eta-history']
    for (const v of views) {
      expect((await call('GET', `${base}/${v}`)).status, v).toBe(200)
      expect((await call('GET', `${base}/${v}?include_broadcast=true&attr.tier=enterprise`, { token: TOKENS.read })).status, v).toBe(200)
      expect((await call('GET', `/api/v1/incidents/nope/${v}`)).status, v).toBe(404)
      expect((await call('GET', `${base}/${v}?as_of=yesterday`)).status, v).toBe(400)
      expect((await call('GET', `${base}/${v}`, { token: null })).status, v).toBe(401)
      expect((await call('GET', `${base}/${v}`, { token: TOKENS.ingest })).status, v).toBe(403)
    }
    expect((await call('GET', `${base}/summary?weight=seats&as_of=${iso(T0 + 30 * MIN)}`)).status).toBe(200)
    expect((await call('GET', `${base}/recovery?group_by=tier&weight=seats&bucket=5m`)).status).toBe(200)
    expect((await call('GET', `${base}/tenants?state=down&sort=tenant_id&order=asc&q=ini`)).status).toBe(200)
    for (const v of ['tenants.csv', 'overdue.csv', 'report.md']) {
      expect((await call('GET', `${base}/${v}`)).status, v).toBe(200)
      expect((await call('GET', `/api/v1/incidents/nope/${v}`)).status, v).toBe(404)
    }
    expect((await call('GET', '/api/v1/incidents')).status).toBe(200)
    expect((await call('GET', `/api/v1/compare?incidents=${INC}&bucket=1h`)).status).toBe(200)
    expect((await call('GET', `/api/v1/compare?incidents=${INC},nope`)).status).toBe(404)
    expect((await call('GET', '/api/v1/compare')).status).toBe(400)
    expect((await call('GET', '/api/v1/incidents?as_of=2026-13-01T00:00:00Z')).status).toBe(400)
    expect((await call('GET', '/api/v1/whoami', { token: TOKENS.read })).status).toBe(200)
    expect((await call('GET', '/api/v1/whoami', { token: TOKENS.ingest })).status).toBe(403)
    for (const p of ['/healthz', '/readyz', '/metrics']) expect((await call('GET', p)).status, p).toBe(200)
    expect((await call('GET', '/readyz', { token: null })).status).toBe(401)
    expect((await call('GET', '/metrics', { token: TOKENS.ingest })).status).toBe(403)

    // The stream: its first update arrives at once; read the head, then let go.
    const ctl = new AbortController()
    const stream = await srv.api(`${base}/stream`, { signal: ctl.signal })
    expect([stream.status, stream.headers.get('content-type')?.split(';')[0]]).toEqual([200, 'text/event-stream'])
    operationOf('get', `${base}/stream`)
    seen.set(`get /api/v1/incidents/{id}/stream`, new Set([200]))
    ctl.abort()
    expect((await call('GET', '/api/v1/incidents/nope/stream')).status).toBe(404)

    // Ingest: success, partial rejection, atomic 422, media type 415, malformed 400, scope 403.
    const good = { event_id: 'x1', incident_id: INC, type: 'milestone', occurred_at: iso(T0 + 2 * HOUR), label: 'fix deployed' }
    const partial = await call('POST', '/api/v1/events', json([good, { ...good, event_id: '', type: 'nope' }], TOKENS.ingest))
    expect([partial.status, JSON.parse(partial.text).accepted, JSON.parse(partial.text).rejected]).toEqual([200, 1, 1])
    expect((await call('POST', '/api/v1/events?atomic=true', json([{ ...good, type: 'nope' }], TOKENS.ingest))).status).toBe(422)
    expect((await call('POST', '/api/v1/events', { token: TOKENS.ingest, headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(415)
    expect((await call('POST', '/api/v1/events', { token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: '{' })).status).toBe(400)
    expect((await call('POST', '/api/v1/events', json(good, TOKENS.read))).status).toBe(403)
    const nd = [good, { ...good, event_id: 'x2' }].map((e) => JSON.stringify(e)).join('\n')
    expect((await call('POST', '/api/v1/events', { token: TOKENS.ingest, headers: { 'content-type': 'application/x-ndjson' }, body: nd })).status).toBe(200)
    expect((await call('POST', '/api/v1/tenants', json({ tenant_id: 'acme', attributes: { 'bad key': 1 } }, TOKENS.ingest))).status).toBe(200)
    expect((await call('POST', '/api/v1/tenants', { token: TOKENS.ingest, headers: { 'content-type': 'text/csv' }, body: 'x' })).status).toBe(415)
    expect((await call('PUT', '/api/v1/incidents/bad id', json({ title: 'x' }, TOKENS.ingest, 'PUT'))).status).toBe(400)
    expect((await call('PUT', `/api/v1/incidents/${INC}`, json({ status: 'done' }, TOKENS.ingest, 'PUT'))).status).toBe(400)

    // Webhooks.
    const hook = await call('POST', '/api/v1/webhooks', json({ url: 'http://127.0.0.1:9/hook', events: ['tenant.overdue'], incident_id: INC }))
    expect(hook.status).toBe(201)
    const hookId = JSON.parse(hook.text).id as string
    expect((await call('POST', '/api/v1/webhooks', json({ url: 'ftp://x', events: [] }))).status).toBe(400)
    expect((await call('GET', '/api/v1/webhooks')).status).toBe(200)
    expect((await call('POST', `/api/v1/webhooks/${hookId}/test`)).status).toBe(202)
    expect((await call('GET', `/api/v1/webhooks/${hookId}/deliveries`)).status).toBe(200)
    expect((await call('GET', '/api/v1/webhooks/nope/deliveries')).status).toBe(404)
    expect((await call('POST', '/api/v1/webhooks/nope/test')).status).toBe(404)
    expect((await call('GET', '/api/v1/webhooks', { token: TOKENS.read })).status).toBe(403)
    expect((await call('DELETE', `/api/v1/webhooks/${hookId}`)).status).toBe(204)
    expect((await call('DELETE', `/api/v1/webhooks/${hookId}`)).status).toBe(404)

    // Share links and the customer status.
    const one = await call('POST', '/api/v1/share-links', json({ incident_id: INC }))
    expect(one.status).toBe(201)
    const many = await call('POST', '/api/v1/share-links', json([{ incident_id: INC, tenant_id: 'acme' }, { incident_id: INC, tenant_id: 'globex', expires_in: '1h' }]))
    expect(many.status).toBe(201)
    const tenantToken = JSON.parse(many.text).links[1].token as string
    expect((await call('POST', '/api/v1/share-links', json({ incident_id: 'nope' }))).status).toBe(404)
    expect((await call('POST', '/api/v1/share-links', json({ incident_id: INC, expires_in: 'forever' }))).status).toBe(400)
    expect((await call('GET', `/api/v1/share-links?incident_id=${INC}&limit=2`)).status).toBe(200)
    expect((await call('GET', '/api/v1/share-links?limit=0')).status).toBe(400)
    expect((await call('GET', '/api/v1/status', { token: tenantToken })).status).toBe(200)
    expect((await call('GET', '/api/v1/status')).status).toBe(403)
    expect((await call('GET', `${base}/summary`, { token: JSON.parse(one.text).token })).status).toBe(200)
    expect((await call('GET', '/api/v1/whoami', { token: JSON.parse(one.text).token })).status).toBe(200)
    expect((await call('DELETE', `/api/v1/share-links/${JSON.parse(one.text).id}`)).status).toBe(204)
    expect((await call('GET', `${base}/summary`, { token: JSON.parse(one.text).token })).status).toBe(401)
    expect((await call('DELETE', '/api/v1/share-links/nope')).status).toBe(404)

    // Every operation answered with a success and (except the open ones) an error, each as documented.
    for (const [template, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (op.operationId === 'openapi') continue
        const statuses = [...(seen.get(`${method} ${template}`) ?? [])]
        expect(statuses.some((s) => s < 300), `${method} ${template}: no success seen`).toBe(true)
        if (op.security.length > 0) expect(statuses.some((s) => s >= 400), `${method} ${template}: no error seen`).toBe(true)
      }
    }
  }, 120_000)

  /** The document's judgement of one query parameter value (as OpenAPI tools coerce query strings). */
  const paramValidator = (schema: unknown) => {
    const v = new Ajv2020({ strict: false, coerceTypes: true })
    addFormats(v)
    const check = v.compile({ type: 'object', properties: { v: schema } })
    return (value: string) => check({ v: value })
  }

  /**
   * Values to try per parameter, by what the document says of it. A few rules span parameters or
   * the data and cannot be said in JSON Schema (a bucket of at least 1s giving at most 2,000
   * points, a duration of at most 10 years): the parameters' descriptions say them, and the
   * samples stay inside them.
   */
  const SAMPLES: Record<string, string[]> = {
    as_of: ['2026-04-05T11:00:00Z', '2026-04-05T13:00:00.123+02:00', '2026-04-05T11:00:00.1234Z', '1970-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-04-05T11:00Z', '2026-04-05 11:00:00Z', 'yesterday', '1969-12-31T23:59:59Z', '2299-12-31T23:59:59.999Z', '2300-01-01T00:00:00Z', '2026-04-05T24:00:00Z', '2026-04-05t11:00:00z', '2026-04-05T11:00:60Z', '2026-04-05T11:00:00.1234567890Z', '2026-04-05T11:00:00+0200', '2024-02-29T00:00:00Z', '2100-02-29T00:00:00Z'],
    known_at: ['2026-04-05T11:00:00Z', '2026-04-05T13:00:00.123+02:00', '2026-04-05T11:00:00.1234Z', '1970-01-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-04-05T11:00Z', '2026-04-05 11:00:00Z', 'yesterday', '1969-12-31T23:59:59Z', '2299-12-31T23:59:59.999Z', '2300-01-01T00:00:00Z', '2026-04-05T24:00:00Z', '2026-04-05t11:00:00z', '2026-04-05T11:00:60Z', '2026-04-05T11:00:00.1234567890Z', '2026-04-05T11:00:00+0200', '2024-02-29T00:00:00Z', '2100-02-29T00:00:00Z'],
    include_broadcast: ['true', 'false', '1', '0', 'yes', 'TRUE'],
    weight: ['seats', 'a.b-c_1', 'x'.repeat(64), 'x'.repeat(65), 'bad name', 'sëats'],
    group_by: ['tier', 'x'.repeat(64), 'x'.repeat(65), 'a b'],
    stale_after: ['24h', '30m', '1.5h', '90', '2w', '250ms', '1y', 'h', '-1h', '24 hours'],
    bucket: ['auto', '5m', '1h', '90', '1.5h', 'AUTO', '1y', 'm', '-5m'],
    from: ['2026-04-05T08:00:00Z', '2026-04-05T08:00:00+01:00', 'not a time', '2026-04-05'],
    to: ['2026-04-05T11:00:00Z', '2026-04-05T11:00:00.5Z', 'later', '2026-04-05T11:00'],
    sort: ['downtime_s', 'first_contact_latency_s', 'max_comm_gap_s', 'first_lost_at', 'tenant_id', 'name', 'DOWNTIME_S'],
    order: ['asc', 'desc', 'up'],
    limit: ['0', '1', '1000', '1001', '-1', '1.5', 'ten'],
    offset: ['0', '5', '1000000000', '1000000001', '-1', 'x'],
    q: ['acme', 'ü', 'x'.repeat(256), 'x'.repeat(257)],
    state: ['down', 'up', 'sideways'],
    bins: ['1', '20', '200', '0', '201', '2.5'],
  }
  // An empty value (?limit=) means "the default" to these handlers, as to most query APIs; the
  // document's schemas describe given values, so '' is not among the samples.

  it('query parameters: the server accepts and refuses what the document says', async () => {
    let checked = 0
    for (const [template, ops] of Object.entries(doc.paths)) {
      const op = ops.get
      if (!op || !template.startsWith('/api/v1/incidents/{id}') || /stream|\.csv|report/.test(template)) continue
      const path = template.replace('{id}', INC).replace('{tenant}', 'acme')
      for (const p of op.parameters.filter((x) => x.in === 'query' && x.name !== 'attr.{name}')) {
        const samples = SAMPLES[p.name]
        expect(samples, `no samples for ${p.name}`).toBeDefined()
        const documented = paramValidator(p.schema)
        for (const value of samples!) {
          const res = await srv.api(`${path}?${new URLSearchParams({ [p.name]: value })}`)
          const body = await res.text()
          expect([res.status === 200 ? 'accepted' : res.status === 400 ? 'refused' : `status ${res.status}: ${body}`], `${op.operationId} ${p.name}=${value}`).toEqual([
            documented(value) ? 'accepted' : 'refused',
          ])
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(150)
  }, 120_000)

  it('events: the server accepts and refuses what the document\'s Event schema says', async () => {
    const schema = doc.paths['/api/v1/events']!.post!.requestBody!.content['application/json']!.schema
    const v = new Ajv2020({ strict: false })
    addFormats(v)
    const documented = v.compile(schema as object)
    const at = iso(T0 + 3 * HOUR)
    const base = { incident_id: INC, occurred_at: at }
    const cases: Record<string, unknown>[] = [
      { type: 'access_lost', tenant_id: 't1' },
      { type: 'access_lost' },
      { type: 'access_lost', tenant_id: '' },
      { type: 'access_lost', tenant_id: 'x'.repeat(256) },
      { type: 'access_lost', tenant_id: 'x'.repeat(257) },
      { type: 'access_lost', tenant_id: 't1', message: null },
      { type: 'access_lost', tenant_id: 't1', message: 'm'.repeat(4097) },
      { type: 'access_lost', tenant_id: 't1', extra: 1 },
      { type: 'access_lost', tenant_id: 't1', progress: 0.5 },
      { type: 'access_lost', tenant_id: 't1', channel: 'email' },
      { type: 'access_lost', tenant_id: 't1', label: 'x' },
      { type: 'access_restored', tenant_id: 't1' },
      { type: 'restore_started', tenant_id: 't1' },
      { type: 'restore_completed', tenant_id: 't1' },
      { type: 'restore_progress', tenant_id: 't1', progress: 0 },
      { type: 'restore_progress', tenant_id: 't1', progress: 1 },
      { type: 'restore_progress', tenant_id: 't1', progress: 1.01 },
      { type: 'restore_progress', tenant_id: 't1', progress: '0.5' },
      { type: 'restore_progress', tenant_id: 't1' },
      { type: 'communication' },
      { type: 'communication', tenant_id: null, channel: null },
      { type: 'communication', tenant_id: 't1', channel: 'ticket' },
      { type: 'communication', tenant_id: 't1', channel: 'fax' },
      { type: 'milestone', label: 'x' },
      { type: 'milestone', label: '' },
      { type: 'milestone', label: null, tenant_id: null },
      { type: 'milestone', tenant_id: 't1' },
      { type: 'milestone', label: 'x'.repeat(257) },
      { type: 'outage' },
      { type: 'access_lost', tenant_id: 't1', occurred_at: '2026-04-05T10:00Z' },
      { type: 'access_lost', tenant_id: 't1', occurred_at: '2026-02-29T10:00:00Z' },
      { type: 'access_lost', tenant_id: 't1', occurred_at: '2024-02-29T10:00:00.5-03:00' },
      { type: 'access_lost', tenant_id: 't1', incident_id: 'bad id' },
      { type: 'access_lost', tenant_id: 't1', event_id: 'e'.repeat(129) },
      { type: 'access_lost', tenant_id: 't1', event_id: 7 },
    ]
    const events = cases.map((c, i) => ({ event_id: `ev-${i}`, ...base, ...c }))
    const res = await srv.api('/api/v1/events', json(events, TOKENS.ingest))
    const out = (await res.json()) as { errors: { index: number }[] }
    const refused = new Set(out.errors.map((e) => e.index))
    expect(events.map((e, i) => [i, refused.has(i) ? 'refused' : 'accepted'])).toEqual(events.map((e, i) => [i, documented(e) ? 'accepted' : 'refused']))
    expect(refused.size).toBeGreaterThan(10)
    expect(events.length - refused.size).toBeGreaterThan(10)
  })

  it('CloudEvents (structured): the server accepts and refuses what the document\'s CloudEvent schema says', async () => {
    const schema = doc.paths['/api/v1/events']!.post!.requestBody!.content['application/cloudevents-batch+json']!.schema as { items: object }
    const v = new Ajv2020({ strict: false })
    addFormats(v)
    const documented = v.compile(schema.items)
    const ok = { specversion: '1.0', source: '/restore-bot', type: 'com.example.outage.access_lost', subject: 't-ce', time: iso(T0 + 3 * HOUR), data: { incident_id: INC } }
    const b64 = Buffer.from(JSON.stringify({ incident_id: INC })).toString('base64')
    const cases: Record<string, unknown>[] = [
      {},
      { subject: null, type: 'com.example.communication', datacontenttype: null, dataschema: null },
      { region: 'eu', tier: 3, beta: true, gone: null },
      { Region: 'eu' },
      { my_ext: 'x' },
      { region: { nested: 1 } },
      { region: 1.5 },
      { region: 2 ** 31 },
      { specversion: '0.3' },
      { source: undefined },
      { source: '' },
      { id: 5 },
      { type: '' },
      { time: undefined },
      { time: '2026-04-05T11:00Z' },
      { dataschema: 'https://example.com/schema.json' },
      { dataschema: 'relative/schema.json' },
      { dataschema: 'https://example.com/schema.json#v1' },
      { data: undefined, data_base64: b64, datacontenttype: 'application/json' },
      { data_base64: b64 },
      { subject: '' },
    ]
    const batch = cases.map((c, i) => JSON.parse(JSON.stringify({ id: `ce-${i}`, ...ok, ...c })) as Record<string, unknown>)
    const res = await srv.api('/api/v1/events', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(batch) })
    expect(res.status).toBe(200)
    const out = (await res.json()) as { errors: { index: number }[] }
    const refused = new Set(out.errors.map((e) => e.index))
    expect(batch.map((e, i) => [i, refused.has(i) ? 'refused' : 'accepted'])).toEqual(batch.map((e, i) => [i, documented(e) ? 'accepted' : 'refused']))
    expect(refused.size).toBeGreaterThan(8)
  })
})
