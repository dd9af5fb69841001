import { Router, type Request, type Response } from 'express'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { AppDeps } from '../app.js'
import { communicationsSeries } from '../metrics/communications.js'
import { parseAsOf, parseFilters, parseScope, type QueryScope, type RawQuery } from '../metrics/filters.js'
import { downtimeHistogram, parseBins } from '../metrics/histogram.js'
import { assertIncident, incidentHeader, listIncidents } from '../metrics/incidents.js'
import { overdueCsv, overdueTenants, parseOverduePage } from '../metrics/overdue.js'
import { recoverySeries } from '../metrics/recovery.js'
import { incidentReport } from '../metrics/report.js'
import { parseSummaryParams, summary } from '../metrics/summary.js'
import { tenantTimeline } from '../metrics/timeline.js'
import { parseTenantPage, tenantPage, tenantsCsv } from '../metrics/tenants.js'
import type { Principal } from '../auth.js'
import { badRequest, HttpError } from '../errors.js'
import { withLane, type Lane } from '../storage/lanes.js'
import { perTokenRateLimit } from './ingest.js'

/** Query API (SPEC §4 "Query"): parse → one metrics function → respond. */
export function queryRouter(deps: AppDeps): Router {
  const { store, state, telemetry } = deps
  const r = Router()
  const limit = perTokenRateLimit(deps.config.queryRateLimitRps)
  const read = [deps.auth.require('read'), limit]
  const query = (req: Request) => req.query as RawQuery

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
  const get = (path: string, view: string, cost: (q: RawQuery) => Lane, handler: (req: Request, res: Response) => Promise<void>) =>
    r.get(path, ...read, async (req: Request, res: Response) => {
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
  r.get('/whoami', deps.auth.identify(), async (_req, res) => {
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

  get('/incidents', 'incidents', cheap, async (req, res) => {
    const q = query(req)
    res.json({ incidents: await listIncidents(store, parseAsOf(q, deps.now()), parseFilters(q)) })
  })
  get('/incidents/:id/summary', 'summary', broadcastCost, async (req, res) => {
    const p = parseSummaryParams(query(req))
    res.json(await summary(store, state, await scoped(req), p))
  })
  get('/incidents/:id/recovery', 'recovery', (q) => (q.group_by ? 'heavy' : 'cheap'), async (req, res) => {
    res.json(await recoverySeries(store, state, await scoped(req), query(req)))
  })
  get('/incidents/:id/communications', 'communications', broadcastCost, async (req, res) => {
    res.json(await communicationsSeries(store, state, await scoped(req), query(req)))
  })
  get('/incidents/:id/tenants', 'tenants', broadcastCost, async (req, res) => {
    const page = parseTenantPage(query(req))
    res.json(await tenantPage(store, state, await scoped(req), page))
  })
  get('/incidents/:id/tenants/:tenant/timeline', 'timeline', cheap, async (req, res) => {
    const tenant = String(req.params.tenant)
    if (tenant.length === 0 || tenant.length > 256) throw badRequest('tenant_id must be 1-256 characters')
    // No separate incident check: a tenant without events in the incident is already a 404.
    res.json(await tenantTimeline(store, state, parseScope(String(req.params.id), query(req), deps.now()), tenant))
  })
  get('/incidents/:id/downtime-histogram', 'histogram', cheap, async (req, res) => {
    const bins = parseBins(query(req))
    res.json(await downtimeHistogram(store, await scoped(req), bins))
  })
  /** A CSV export as a download; headers are out once bytes flow, so a failure mid-stream can only cut it short. */
  const sendCsv = async (res: Response, body: Readable, filename: string) => {
    res.type('text/csv; charset=utf-8').attachment(filename)
    await pipeline(body, res).catch((err) => {
      deps.log.warn({ err: err instanceof Error ? err.message : String(err), filename }, 'CSV stream ended early')
      res.destroy()
    })
  }
  get('/incidents/:id/tenants.csv', 'tenants_csv', heavy, async (req, res) => {
    const scope = await scoped(req)
    await sendCsv(res, await tenantsCsv(store, state, scope), `${scope.incidentId}-tenants.csv`)
  })
  get('/incidents/:id/overdue', 'overdue', broadcastCost, async (req, res) => {
    const page = parseOverduePage(query(req))
    res.json(await overdueTenants(store, state, await scoped(req), page))
  })
  get('/incidents/:id/overdue.csv', 'overdue_csv', heavy, async (req, res) => {
    const scope = await scoped(req)
    await sendCsv(res, await overdueCsv(store, state, scope), `${scope.incidentId}-overdue.csv`)
  })
  get('/incidents/:id/report.md', 'report', heavy, async (req, res) => {
    const scope = await scoped(req)
    const md = await incidentReport(store, state, scope, (await incidentHeader(store, state, scope.incidentId)).title)
    res.type('text/markdown; charset=utf-8').send(md)
  })
  r.get('/incidents/:id/stream', ...read, async (req: Request, res: Response) => {
    const p = parseSummaryParams(query(req))
    const scope = await withLane('cheap', () => scoped(req))
    deps.streams.subscribe(req, res, String(res.locals.tokenKey), scope, p)
  })
  return r
}
