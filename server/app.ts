import express, { type Express } from 'express'
import helmet from 'helmet'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pinoHttp } from 'pino-http'
import type { Logger } from 'pino'
import type { Auth } from './auth.js'
import type { Config } from './config.js'
import { errorHandler, notFound } from './errors.js'
import type { IngestPipeline } from './ingest/types.js'
import type { StateSync } from './metrics/state-sync.js'
import { healthRouter } from './routes/health.js'
import { ingestRouter } from './routes/ingest.js'
import { queryRouter } from './routes/query.js'
import type { Store } from './storage/client.js'
import type { Telemetry } from './telemetry.js'

export interface AppDeps {
  config: Config
  store: Store
  /** Keeps the derived tenant state current; every query waits for it first. */
  state: StateSync
  ingest: IngestPipeline
  auth: Auth
  log: Logger
  telemetry: Telemetry
  /** The clock behind "now" (as_of default, ETA, stale); injected so tests can pin it. */
  now: () => Date
  /** Built dashboard to serve; omitted in API-only tests. */
  clientDir?: string
}

export function createApp(deps: AppDeps): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  app.set('query parser', 'extended')
  app.use(
    helmet({
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
    }),
  )
  app.use(
    pinoHttp({
      logger: deps.log,
      autoLogging: { ignore: (req) => req.url === '/healthz' },
      // Successful requests at debug: a busy producer must not drown the console (or the
      // login link printed at start); client errors at warn, server errors at error.
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'debug'),
      serializers: { req: redactRequest },
    }),
  )

  app.use(healthRouter(deps))
  app.use('/api/v1', ingestRouter(deps))
  app.use('/api/v1', queryRouter(deps))
  app.use('/api', () => {
    throw notFound('no such API endpoint')
  })

  const clientDir = deps.clientDir && resolve(deps.clientDir)
  if (clientDir && existsSync(join(clientDir, 'index.html'))) {
    // The dashboard's static files hold no data: they load without a token, then ask for one.
    app.use(express.static(clientDir, { index: 'index.html', maxAge: '1h', setHeaders: noCacheHtml }))
    app.get('/{*splat}', (_req, res) => res.sendFile(join(clientDir, 'index.html')))
  }
  app.use(() => {
    throw notFound()
  })
  app.use(errorHandler(deps.log))
  return app
}

/** Query parameters whose values are credentials when a client puts them in a URL (we never read them). */
const SECRET_PARAM = /^(?:token|access_token|api_key|apikey|key|auth|password|secret)$/i

/** A serialized request (pino std serializer output) without credentials in its URL or query. */
function redactRequest(req: { url?: string; query?: Record<string, unknown> }) {
  const q = req.url?.indexOf('?') ?? -1
  if (q < 0) return req
  const params = new URLSearchParams(req.url!.slice(q + 1))
  for (const k of [...params.keys()]) if (SECRET_PARAM.test(k)) params.set(k, '[redacted]')
  const query = { ...req.query }
  for (const k of Object.keys(query)) if (SECRET_PARAM.test(k)) query[k] = '[redacted]'
  return { ...req, url: `${req.url!.slice(0, q)}?${params}`, query }
}

function noCacheHtml(res: express.Response, path: string) {
  if (path.endsWith('.html')) res.setHeader('Cache-Control', 'no-cache')
}
