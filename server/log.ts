import type { RequestHandler } from 'express'
import { pino, type Logger } from 'pino'

/** JSON logs to stdout. The Authorization header and token fragments are never logged. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: undefined,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'token'], censor: '[redacted]' },
  })
}

/** Query parameters whose values are credentials when a client puts them in a URL (we never read them). */
const SECRET_PARAM = /^(?:token|access_token|api_key|apikey|key|auth|password|secret)$/i

/** A request URL without credentials in its query string. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const params = new URLSearchParams(url.slice(q + 1))
  for (const k of [...params.keys()]) if (SECRET_PARAM.test(k)) params.set(k, '[redacted]')
  return `${url.slice(0, q)}?${params}`
}

/**
 * One line per finished request: successful ones at debug (a busy producer must not drown the
 * console, or the login link printed at start), client errors and refusals (503) at warn, server errors at error.
 * Nothing is built for a line below the log level: this runs on every ingest request, and
 * pino-http's per-request child logger and serializers cost ~5 % of the single-event path.
 */
export function requestLogger(log: Logger): RequestHandler {
  return (req, res, next) => {
    if (req.url === '/healthz') return next()
    const started = performance.now()
    res.on('finish', () => {
      // A 503 is a refusal the client is told to retry (overload, storage away), not a server fault.
      const level = res.statusCode >= 500 && res.statusCode !== 503 ? 'error' : res.statusCode >= 400 ? 'warn' : 'debug'
      if (!log.isLevelEnabled(level)) return
      log[level](
        { req: { method: req.method, url: redactUrl(req.originalUrl), remoteAddress: req.socket.remoteAddress }, res: { statusCode: res.statusCode }, responseTime: Math.round(performance.now() - started) },
        'request completed',
      )
    })
    next()
  }
}
