import express, { type Express } from 'express'
import helmet from 'helmet'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import type { AppDeps } from './deps.js'
import { requestLogger } from './log.js'
import { errorHandler, notFound } from './errors.js'
import { webhooksRouter } from './routes/webhooks.js'
import { sharingRouter } from './routes/sharing.js'
import { healthRouter } from './routes/health.js'
import { ingestRouter } from './routes/ingest.js'
import { queryRouter } from './routes/query.js'
import { openapiRouter } from './routes/openapi.js'

/** The API's version in the OpenAPI document: the package's. */
const API_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version

export function createApp(deps: AppDeps): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  app.set('query parser', 'extended')
  app.use(securityHeaders())
  app.use(requestLogger(deps.log))

  // Every API route is declared with its contract (routes/api-route.ts); the OpenAPI document is built from them.
  const routers = [healthRouter(deps), ingestRouter(deps), queryRouter(deps), webhooksRouter(deps), sharingRouter(deps)]
  routers.push(openapiRouter(routers.flatMap((r) => r.specs), API_VERSION))
  for (const r of routers) app.use(r.mount || '/', r.router)
  app.use('/api', () => {
    throw notFound('no such API endpoint')
  })

  const clientDir = deps.clientDir && resolve(deps.clientDir)
  if (clientDir && existsSync(join(clientDir, 'index.html'))) {
    // The dashboard's static files hold no data: they load without a token, then ask for one.
    app.use(express.static(clientDir, { index: 'index.html', maxAge: '1h', setHeaders: noCacheHtml }))
    // The customer status page (SPEC §8): its own small page, not the dashboard.
    const statusPage = join(clientDir, 'status.html')
    app.get('/status', (_req, res, next) => (existsSync(statusPage) ? res.setHeader('Cache-Control', 'no-cache').sendFile(statusPage) : next()))
    app.get('/{*splat}', (_req, res) => res.sendFile(join(clientDir, 'index.html')))
  }
  app.use(() => {
    throw notFound()
  })
  app.use(errorHandler(deps.log, (reason) => deps.telemetry.refused.inc({ reason })))
  return app
}

/**
 * Helmet's security headers and the dashboard's strict Content-Security-Policy on every answer.
 * They do not depend on the request, so helmet runs once, at start, against a recording response,
 * and each request gets the recorded headers in one step instead of passing through helmet's
 * dozen middlewares (a measurable share of a single-event ingest request).
 */
function securityHeaders(): express.RequestHandler {
  const configured = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
  })
  const headers = new Map<string, string>()
  const recorder = {
    setHeader: (name: string, value: string) => headers.set(name, value),
    removeHeader: (name: string) => headers.delete(name),
  }
  let done = false
  configured({} as express.Request, recorder as unknown as express.Response, (err?: unknown) => {
    if (err) throw err
    done = true
  })
  if (!done) throw new Error('helmet did not finish synchronously; its headers cannot be recorded')
  const recorded = [...headers]
  return (_req, res, next) => {
    for (const [name, value] of recorded) res.setHeader(name, value)
    next()
  }
}

function noCacheHtml(res: express.Response, path: string) {
  if (path.endsWith('.html')) res.setHeader('Cache-Control', 'no-cache')
}
