import type { ErrorRequestHandler } from 'express'
import type { Logger } from 'pino'
import { QueryRefused } from './storage/lanes.js'

/** An error meant for the client: status, a stable machine code and a human message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export const badRequest = (message: string, code = 'bad_request') => new HttpError(400, code, message)
export const notFound = (message = 'not found') => new HttpError(404, 'not_found', message)

/**
 * Ingest's refusals, raised where they are found (deep in a body stream, a parser, a worker
 * thread, the spool), in ingest's words: what is wrong with the input, or that there is no room
 * for the work now. Their statuses are decided here, not where they are raised. They are
 * HttpErrors so the one handler (and a caller that only knows HttpError) answers them as such.
 */
export abstract class Refusal extends HttpError {}

/** What is wrong with a request's input: malformed, arriving too slowly, too large, or of a type the server cannot read. */
export type InputProblem = 'malformed' | 'too_slow' | 'too_large' | 'unsupported'
const INPUT_STATUS: Record<InputProblem, number> = { malformed: 400, too_slow: 408, too_large: 413, unsupported: 415 }

/** The input cannot be taken as sent. `closeConnection`: the rest of the body is left unread, so the connection cannot be reused. */
export class BadInput extends Refusal {
  constructor(
    readonly problem: InputProblem,
    code: string,
    message: string,
    readonly closeConnection = false,
  ) {
    super(INPUT_STATUS[problem], code, message, closeConnection ? { Connection: 'close' } : {})
  }
}

/** No room for the work now (busy, the spool full or unwritable, shutting down): retry after `retryAfterS`. */
export class Unavailable extends Refusal {
  constructor(
    code: string,
    message: string,
    readonly retryAfterS: number,
    readonly closeConnection = false,
  ) {
    super(503, code, message, { 'Retry-After': String(retryAfterS), ...(closeConnection ? { Connection: 'close' } : {}) })
  }
}

/** Thrown by the storage layer when ClickHouse cannot be reached or fails. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * The one error handler: HttpError → its status and body; errors raised by body parsing
 * (express/raw-body set `status`/`type`) → 4xx with a plain message; storage failures → 503;
 * anything else → 500 with a generic message (the stack goes to the log, never to the client).
 */
export function errorHandler(log: Logger, onRefused: (reason: QueryRefused['reason']) => void = () => {}): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) {
      req.socket.destroy()
      return
    }
    if (err instanceof HttpError) {
      res.set(err.headers).status(err.status).json({ error: { code: err.code, message: err.message } })
      return
    }
    const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : 0
    if (status >= 400 && status < 500) {
      const code = bodyErrorCode(err?.type, status)
      const message = status === 413 ? 'request body too large' : String(err.message ?? 'bad request').slice(0, 300)
      res.status(status).json({ error: { code, message } })
      return
    }
    if (err instanceof QueryRefused) {
      const { status, code } = REFUSALS[err.reason]
      onRefused(err.reason)
      log.warn({ reason: err.reason, url: req.originalUrl.split('?')[0] }, 'request refused')
      res.set('Retry-After', String(err.retryAfterS)).status(status).json({ error: { code, message: err.message } })
      return
    }
    if (err instanceof StorageUnavailableError) {
      log.warn({ err: err.message }, 'storage unavailable')
      res.set('Retry-After', '5').status(503).json({ error: { code: 'storage_unavailable', message: 'storage is unavailable; retry later' } })
      return
    }
    log.error({ err }, 'unhandled error')
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } })
  }
}

/** A refused read: too many at once for its token → 429; the engine busy or a limit reached → 503. Both with Retry-After. */
const REFUSALS: Record<QueryRefused['reason'], { status: number; code: string }> = {
  busy: { status: 503, code: 'overloaded' },
  token_busy: { status: 429, code: 'too_many_concurrent' },
  time: { status: 503, code: 'query_too_expensive' },
  memory: { status: 503, code: 'query_too_expensive' },
  result: { status: 503, code: 'query_too_expensive' },
}

function bodyErrorCode(type: unknown, status: number): string {
  if (status === 413) return 'too_large'
  if (status === 415) return 'unsupported_media_type'
  if (type === 'entity.parse.failed') return 'malformed_json'
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return 'unsupported_encoding'
  if (type === 'request.aborted') return 'aborted'
  return 'bad_request'
}
