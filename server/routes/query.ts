import type { Request, Response } from 'express'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { AppDeps } from '../deps.js'
import { communicationsSeries } from '../metrics/communications.js'
import { parseAsOf, parseFilters, parseKnownAt, parseScope, type QueryScope, type RawQuery } from '../metrics/filters.js'
import { downtimeHistogram, parseBins } from '../metrics/histogram.js'
import { assertIncident, incidentHeader, listIncidents } from '../metrics/incidents.js'
import { overdueCsv, overdueTenants, parseOverduePage } from '../metrics/overdue.js'
import { recoverySeries } from '../metrics/recovery.js'
import { reportingLag } from '../metrics/reporting-lag.js'
import { etaHistory } from '../metrics/eta-history.js'
import { compareIncidents, parseCompared } from '../metrics/compare.js'
import { incidentReport } from '../metrics/report.js'
import { parseSummaryParams, summary } from '../metrics/summary.js'
import { tenantTimeline } from '../metrics/timeline.js'
import { parseTenantPage, tenantPage, tenantsCsv } from '../metrics/tenants.js'
import type { Principal } from '../auth.js'
import { badRequest, HttpError } from '../errors.js'
import { withLane, type Lane } from '../storage/lanes.js'
import { perTokenRateLimit } from './rate-limit.js'
import { ApiRouter, type RouteSpec } from './api-route.js'
import { incidentPath, textBody } from './schemas/common.js'
import * as v from './schemas/views.js'

/** A view's contract without what every view shares (GET, tag, access, errors). */
type ViewSpec = Pick<RouteSpec, 'path' | 'operationId' | 'summary' | 'query' | 'responses'> & Partial<Pick<RouteSpec, 'description' | 'params' | 'filters'>>

const json = (description: string, schema: RouteSpec['responses'][number]['schema']) => ({ 200: { description, schema } })
const csv = (description: string) => ({ 200: { ...textBody('text/csv', description), headers: { 'Content-Disposition': 'attachment; filename="<incident>-….csv"' } } })

/** Query API (SPEC §4 "Query"): parse → one metrics function → respond. */
export function queryRouter(deps: AppDeps): ApiRouter {
  const { store, state, telemetry } = deps
  const api = new ApiRouter('/api/v1')
  const limit = perTokenRateLimit(deps.config.queryRateLimitRps)
  const read = [deps.auth.require('read'), limit]
  const query = (req: Request) => req.query as RawQuery
  /** A view of one incident: a read token or that incident's share link; 404 for an unknown incident. */
  const incidentView = (spec: ViewSpec): RouteSpec => ({
    method: 'get',
    tag: 'query',
    access: 'incident',
    params: incidentPath,
    filters: true,
    errors: [400, 404, 503],
    rateLimited: true,
    ...spec,
  })

  /** Parse the common parameters and 404 an unknown incident. */
  const scoped = async (req: Request): Promise<QueryScope> => {
    const scope = parseScope(String(req.params.id), query(req), deps.now())
    await assertIncident(store, scope.incidentId)
    return scope
  }
  /**
   * A read endpoint. `cost` says which lane its statements run in (storage/lanes.ts): views whose
   * cost grows with a parameter (group_by, include_broadcast, exports) are heavy, and a heavy
   * request first takes one of the few permits for expensive reads (else 503/429 at once).
   */
  const get = (spec: RouteSpec, view: string, cost: (q: RawQuery) => Lane, handler: (req: Request, res: Response) => Promise<void>) =>
    api.route(spec, ...read, async (req: Request, res: Response) => {
      const lane = cost(query(req))
      const release = lane === 'heavy' ? deps.heavy.admit(String(res.locals.tokenKey)) : undefined
      const end = telemetry.querySeconds.startTimer({ view })
      try {
        await withLane(lane, async () => {
          // Every figure reflects every event of the incident acknowledged before the request.
          await state.fresh(req.params.id === undefined ? undefined : String(req.params.id))
          await handler(req, res)
        })
      } finally {
        release?.()
        end()
      }
    })
  const cheap = (): Lane => 'cheap'
  const heavy = (): Lane => 'heavy'
  /** Counting broadcasts for every tenant costs tenants × broadcasts. */
  const broadcastCost = (q: RawQuery): Lane => (q.include_broadcast === 'true' || q.include_broadcast === '1' ? 'heavy' : 'cheap')

  // What the presented token may do: the dashboard shows the policy editor to admin tokens only,
  // and opens an incident link's incident directly. A customer status link reads /status only.
  const whoami: RouteSpec = {
    method: 'get',
    path: '/api/v1/whoami',
    operationId: 'whoami',
    summary: 'What the presented token may do',
    description: 'A read or admin token gets its scope; an incident share link gets its incident, expiry, and the incident\'s title and status.',
    tag: 'query',
    access: 'incident',
    responses: json('the token\'s scope, or the share link\'s incident', v.whoamiBody),
    errors: [503],
  }
  api.route(whoami, deps.auth.identify(), async (_req: Request, res: Response) => {
    const p = res.locals.principal as Principal
    if (p.kind === 'token') {
      if (p.scope === 'ingest') throw new HttpError(403, 'forbidden', 'this token has scope "ingest"; this endpoint needs "read"')
      return void res.json({ scope: p.scope })
    }
    if (p.link.tenant_id !== null) throw new HttpError(403, 'forbidden', 'this is a customer status link: it reads only GET /api/v1/status')
    // The incident list is not the link's to read: its incident's title and status come with it.
    const header = await withLane('cheap', () => incidentHeader(store, state, p.link.incident_id))
    res.json({ scope: 'share', incident_id: p.link.incident_id, expires_at: new Date(p.link.expires_ms).toISOString(), ...header })
  })

  const incidents: RouteSpec = {
    method: 'get',
    path: '/api/v1/incidents',
    operationId: 'listIncidents',
    summary: 'Every incident, most recent activity first, with affected and restored at as_of',
    tag: 'query',
    access: 'read',
    query: v.incidentsQuery,
    filters: true,
    responses: json('the incidents', v.incidentsBody),
    errors: [400, 503],
    rateLimited: true,
  }
  const compare: RouteSpec = {
    method: 'get',
    path: '/api/v1/compare',
    operationId: 'compareIncidents',
    summary: 'Incidents side by side: each one\'s recovery on the time since its first impact, and its headline figures (SPEC §7)',
    tag: 'query',
    access: 'read',
    query: v.compareQuery,
    filters: true,
    responses: json('per incident its series and figures', v.compareBody),
    errors: [400, 404, 503],
    rateLimited: true,
  }
  get(compare, 'compare', heavy, async (req, res) => {
    const q = query(req)
    const ids = parseCompared(q)
    const knownAtMs = parseKnownAt(q, deps.now())
    const scope = { asOfMs: parseAsOf(q, deps.now()), filters: parseFilters(q), includeBroadcast: false, ...(knownAtMs === undefined ? {} : { knownAtMs }) }
    res.json(await compareIncidents(store, state, scope, ids, q))
  })
  get(incidents, 'incidents', cheap, async (req, res) => {
    const q = query(req)
    res.json({ incidents: await listIncidents(store, parseAsOf(q, deps.now()), parseFilters(q), parseKnownAt(q, deps.now())) })
  })
  const summarySpec = incidentView({
    path: '/api/v1/incidents/{id}/summary',
    operationId: 'summary',
    summary: 'Headline figures at as_of: recovery, downtime, first contact, stale, overdue, stages, milestones, ETA',
    query: v.summaryQuery,
    responses: json('the summary (SPEC §4)', v.summaryBody),
  })
  get(summarySpec, 'summary', broadcastCost, async (req, res) => {
    const p = parseSummaryParams(query(req))
    res.json(await summary(store, state, await scoped(req), p))
  })
  const recovery = incidentView({
    path: '/api/v1/incidents/{id}/recovery',
    operationId: 'recovery',
    summary: 'Affected, restored and restore stages over time (the state at each bucket end), optionally per group',
    query: v.recoveryQuery,
    responses: json('one series, or one per group', v.recoveryBody),
  })
  get(recovery, 'recovery', (q) => (q.group_by ? 'heavy' : 'cheap'), async (req, res) => {
    res.json(await recoverySeries(store, state, await scoped(req), query(req)))
  })
  const communications = incidentView({
    path: '/api/v1/incidents/{id}/communications',
    operationId: 'communications',
    summary: 'Communications sent, tenants waiting for a first contact, stale and overdue, over time',
    query: v.communicationsQuery,
    responses: json('the series', v.communicationsBody),
  })
  get(communications, 'communications', broadcastCost, async (req, res) => {
    res.json(await communicationsSeries(store, state, await scoped(req), query(req)))
  })
  const tenants = incidentView({
    path: '/api/v1/incidents/{id}/tenants',
    operationId: 'tenants',
    summary: 'The affected tenants, one row each, sorted and paged',
    query: v.tenantsQuery,
    responses: json('a page of rows and how many match', v.tenantPageBody),
  })
  get(tenants, 'tenants', broadcastCost, async (req, res) => {
    const page = parseTenantPage(query(req))
    res.json(await tenantPage(store, state, await scoped(req), page))
  })
  const timeline = incidentView({
    path: '/api/v1/incidents/{id}/tenants/{tenant}/timeline',
    operationId: 'tenantTimeline',
    summary: "One tenant's events in order, with its row",
    description: '404 when the tenant has no event in the incident.',
    params: v.tenantPath,
    query: v.scopeQuery,
    responses: json('the timeline', v.timelineBody),
  })
  get(timeline, 'timeline', cheap, async (req, res) => {
    const tenant = String(req.params.tenant)
    if (tenant.length === 0 || tenant.length > 256) throw badRequest('tenant_id must be 1-256 characters')
    // No separate incident check: a tenant without events in the incident is already a 404.
    res.json(await tenantTimeline(store, state, parseScope(String(req.params.id), query(req), deps.now()), tenant))
  })
  const histogram = incidentView({
    path: '/api/v1/incidents/{id}/downtime-histogram',
    operationId: 'downtimeHistogram',
    summary: 'How many tenants were down how long, in bins of a readable width',
    query: v.histogramQuery,
    responses: json('the bins', v.histogramBody),
  })
  get(histogram, 'histogram', cheap, async (req, res) => {
    const bins = parseBins(query(req))
    res.json(await downtimeHistogram(store, await scoped(req), bins))
  })
  const etaHistorySpec = incidentView({
    path: '/api/v1/incidents/{id}/eta-history',
    operationId: 'etaHistory',
    summary: 'At each bucket end t, the ETA the summary showed then (as_of = known_at = t), and its error against the actual full recovery (SPEC §7)',
    query: v.etaHistoryQuery,
    responses: json('the actual full recovery and one point per bucket end', v.etaHistoryBody),
  })
  get(etaHistorySpec, 'eta_history', heavy, async (req, res) => {
    res.json(await etaHistory(store, state, await scoped(req), query(req)))
  })
  const lag = incidentView({
    path: '/api/v1/incidents/{id}/reporting-lag',
    operationId: 'reportingLag',
    summary: 'How long after they occurred events were received, per event type, and the most delayed events (SPEC §7)',
    query: v.scopeQuery,
    responses: json('per event type the delay received_at − occurred_at, and the 20 most delayed events', v.reportingLagBody),
  })
  get(lag, 'reporting_lag', cheap, async (req, res) => {
    res.json(await reportingLag(store, await scoped(req)))
  })
  /** A CSV export as a download; headers are out once bytes flow, so a failure mid-stream can only cut it short. */
  const sendCsv = async (res: Response, body: Readable, filename: string) => {
    res.type('text/csv; charset=utf-8').attachment(filename)
    await pipeline(body, res).catch((err) => {
      deps.log.warn({ err: err instanceof Error ? err.message : String(err), filename }, 'CSV stream ended early')
      res.destroy()
    })
  }
  const tenantsCsvSpec = incidentView({
    path: '/api/v1/incidents/{id}/tenants.csv',
    operationId: 'tenantsCsv',
    summary: 'The tenants table as CSV, every row, streamed',
    query: v.scopeQuery,
    responses: csv('one line per affected tenant, with the columns of the tenants rows'),
  })
  get(tenantsCsvSpec, 'tenants_csv', heavy, async (req, res) => {
    const scope = await scoped(req)
    await sendCsv(res, await tenantsCsv(store, state, scope), `${scope.incidentId}-tenants.csv`)
  })
  const overdue = incidentView({
    path: '/api/v1/incidents/{id}/overdue',
    operationId: 'overdue',
    summary: 'Tenants overdue for a contact under the communication policy, most overdue first (SPEC §6)',
    query: v.overdueQuery,
    responses: json('a page of overdue tenants and how many there are', v.overdueBody),
  })
  get(overdue, 'overdue', broadcastCost, async (req, res) => {
    const page = parseOverduePage(query(req))
    res.json(await overdueTenants(store, state, await scoped(req), page))
  })
  const overdueCsvSpec = incidentView({
    path: '/api/v1/incidents/{id}/overdue.csv',
    operationId: 'overdueCsv',
    summary: 'Every overdue tenant as CSV',
    query: v.scopeQuery,
    responses: csv('one line per overdue tenant'),
  })
  get(overdueCsvSpec, 'overdue_csv', heavy, async (req, res) => {
    const scope = await scoped(req)
    await sendCsv(res, await overdueCsv(store, state, scope), `${scope.incidentId}-overdue.csv`)
  })
  const report = incidentView({
    path: '/api/v1/incidents/{id}/report.md',
    operationId: 'report',
    summary: 'A postmortem-ready Markdown summary',
    query: v.scopeQuery,
    responses: { 200: textBody('text/markdown', 'key figures, milestones, worst-hit customers, communication gaps') },
  })
  get(report, 'report', heavy, async (req, res) => {
    const scope = await scoped(req)
    const md = await incidentReport(store, state, scope, (await incidentHeader(store, state, scope.incidentId)).title)
    res.type('text/markdown; charset=utf-8').send(md)
  })
  const stream = incidentView({
    path: '/api/v1/incidents/{id}/stream',
    operationId: 'stream',
    summary: 'Server-Sent Events: an `update` carrying the summary, at connect and at most once a second as events arrive',
    description: 'Each `update` event\'s data is the summary document of GET …/summary with the same parameters (as_of is always now). Streams are capped per token and in total (429/503 + Retry-After).',
    query: v.summaryQuery.omit({ as_of: true }),
    responses: { 200: textBody('text/event-stream', 'event: update, data: the summary JSON') },
  })
  api.route(stream, ...read, async (req: Request, res: Response) => {
    const p = parseSummaryParams(query(req))
    const scope = await withLane('cheap', () => scoped(req))
    deps.streams.subscribe(req, res, String(res.locals.tokenKey), scope, p)
  })
  return api
}
