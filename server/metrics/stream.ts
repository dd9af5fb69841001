import type { Request, Response } from 'express'
import type { Logger } from 'pino'
import type { IngestPipeline } from '../ingest/types.js'
import type { Store } from '../storage/client.js'
import type { StateSync } from './state-sync.js'
import type { QueryScope } from './filters.js'
import { summary, type SummaryParams } from './summary.js'

/** At most one update per this interval, however fast events arrive. */
export const MIN_UPDATE_INTERVAL_MS = 1000
/** A comment line this often keeps proxies from closing an idle stream. */
export const HEARTBEAT_MS = 15_000

export interface StreamDeps {
  store: Store
  state: StateSync
  ingest: IngestPipeline
  log: Logger
  now: () => Date
}

/**
 * Server-Sent Events for one incident: an `update` with the summary (as of now) at connect and
 * then whenever events of the incident are committed, throttled to one per second; heartbeat
 * comments in between. Everything is released when the client goes away.
 */
export function streamSummary(deps: StreamDeps, req: Request, res: Response, scope: QueryScope, p: SummaryParams): void {
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  })
  res.flushHeaders()
  res.write('retry: 3000\n\n')

  let closed = false
  let sending = false
  let pending = false
  let lastSentAt = 0
  let timer: NodeJS.Timeout | undefined
  let seq = 0

  const send = async () => {
    timer = undefined
    if (closed) return
    if (sending) {
      pending = true
      return
    }
    sending = true
    pending = false
    try {
      await deps.state.fresh()
      const body = await summary(deps.store, deps.state, { ...scope, asOfMs: deps.now().getTime() }, p)
      // The interval runs from the moment an update is written, not from when its summary was
      // started: a slow summary followed by a fast one must not put two writes within a second.
      if (!closed) res.write(`event: update\nid: ${++seq}\ndata: ${JSON.stringify(body)}\n\n`)
      lastSentAt = Date.now()
    } catch (err) {
      deps.log.warn({ err: (err as Error).message, incident: scope.incidentId }, 'stream update failed')
    } finally {
      sending = false
    }
    if (pending) schedule()
  }
  const schedule = () => {
    if (closed || timer) return
    if (sending) {
      pending = true
      return
    }
    const wait = Math.max(0, lastSentAt + MIN_UPDATE_INTERVAL_MS - Date.now())
    timer = setTimeout(() => void send(), wait)
  }

  const unsubscribe = deps.ingest.onCommitted((ids) => {
    if (ids.has(scope.incidentId)) schedule()
  })
  const heartbeat = setInterval(() => {
    if (!closed) res.write(': heartbeat\n\n')
  }, HEARTBEAT_MS)
  const close = () => {
    if (closed) return
    closed = true
    unsubscribe()
    clearInterval(heartbeat)
    clearTimeout(timer)
  }
  req.on('close', close)
  res.on('close', close)
  void send()
}
