import { Router, type Request, type Response } from 'express'
import type { AppDeps } from '../app.js'
import { parseScope, type QueryScope } from '../metrics/filters.js'
import { parseSummaryParams, summary } from '../metrics/summary.js'
import { assertIncident } from '../metrics/incidents.js'
import { parseTenantPage, tenantPage, tenantsCsv } from '../metrics/tenants.js'

/** Query API (SPEC §4 "Query"): parse → one metrics function → respond. */
export function queryRouter(deps: AppDeps): Router {
  const { store, telemetry } = deps
  const r = Router()
  const read = deps.auth.require('read')

  /** Parse the common parameters and 404 an unknown incident. */
  const scoped = async (req: Request): Promise<QueryScope> => {
    const scope = parseScope(String(req.params.id), req.query as Record<string, unknown>, deps.now())
    await assertIncident(store, scope.incidentId)
    return scope
  }
  const timed =
    (view: string, handler: (req: Request, res: Response) => Promise<void>) =>
    async (req: Request, res: Response) => {
      const end = telemetry.querySeconds.startTimer({ view })
      try {
        await handler(req, res)
      } finally {
        end()
      }
    }

  r.get(
    '/incidents/:id/summary',
    read,
    timed('summary', async (req, res) => {
      const scope = await scoped(req)
      res.json(await summary(store, scope, parseSummaryParams(req.query)))
    }),
  )
  r.get(
    '/incidents/:id/tenants',
    read,
    timed('tenants', async (req, res) => {
      const page = parseTenantPage(req.query)
      const scope = await scoped(req)
      res.json(await tenantPage(store, scope, page))
    }),
  )
  r.get(
    '/incidents/:id/tenants.csv',
    read,
    timed('tenants_csv', async (req, res) => {
      const scope = await scoped(req)
      const body = await tenantsCsv(store, scope)
      res
        .type('text/csv; charset=utf-8')
        .attachment(`${scope.incidentId}-tenants.csv`)
        .send(body)
    }),
  )
  return r
}
