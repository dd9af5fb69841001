import type { Request, Response } from 'express'
import type { Logger } from 'pino'
import type { QueryScope } from '../metrics/filters.js'
import type { SummaryParams } from '../metrics/summary.js'
import { QueryRefused, withLane } from '../storage/lanes.js'

/** At most one update per this interval on a stream, however fast events arrive. */
export const MIN_UPDATE_INTERVAL_MS = 1000
/** A comment line this often keeps proxies from closing an idle stream. */
export const HEARTBEAT_MS = 15_000

export interface StreamHubDeps {
  /** The summary of a view as of now (every acknowledged event reflected). */
  summary(scope: QueryScope, p: SummaryParams): Promise<unknown>
  /** Be told of the incidents whose events were committed; returns an unsubscribe. */
  onChange(listener: (incidentIds: Set<string>) => void): () => void
  now(): Date
  log: Logger
  limits: { total: number; perToken: number; bufferBytes: number }
}

interface Subscriber {
  res: Response
  token: string
}

/** One view (incident and parameters) with everyone watching it: its summary is computed once per change for all of them. */
interface Channel {
  key: string
  scope: QueryScope
  params: SummaryParams
  subscribers: Set<Subscriber>
  /** The last update written, and when (performance.now() ms). */
  last: { frame: string; at: number } | null
  /** A change arrived since `last` was computed. */
  stale: boolean
  computing: boolean
  timer: NodeJS.Timeout | undefined
  seq: number
}

/**
 * Server-Sent Events for the live dashboard (SPEC §4 …/stream): an `update` with the summary as
 * of now at connect and whenever events of the incident are committed, at most once a second.
 *
 * Streams fan out: everyone watching the same view shares one channel, whose summary is computed
 * once per change and written to each of them, so a crowd of viewers costs one computation, not
 * one each. Streams are capped in total and per token (503/429 + Retry-After beyond), and a
 * client that stops reading is dropped once `bufferBytes` wait unsent for it.
 */
export class StreamHub {
  private readonly channels = new Map<string, Channel>()
  private readonly perToken = new Map<string, number>()
  private open = 0
  private readonly unsubscribe: () => void
  private readonly heartbeat: NodeJS.Timeout
  /** Streams dropped because their client did not read, and summaries computed for streams (/metrics). */
  dropped = 0
  computed = 0

  constructor(private readonly deps: StreamHubDeps) {
    this.unsubscribe = deps.onChange((ids) => {
      for (const ch of this.channels.values()) {
        if (!ids.has(ch.scope.incidentId)) continue
        ch.stale = true
        this.schedule(ch)
      }
    })
    this.heartbeat = setInterval(() => {
      for (const ch of this.channels.values()) for (const s of ch.subscribers) this.write(ch, s, ': heartbeat\n\n')
    }, HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  get streams(): number {
    return this.open
  }

  /** Open a stream on `res` for the view, or throw QueryRefused before anything is written. */
  subscribe(req: Request, res: Response, token: string, scope: Omit<QueryScope, 'asOfMs'>, params: SummaryParams): void {
    const { total, perToken } = this.deps.limits
    const mine = this.perToken.get(token) ?? 0
    if (mine >= perToken) throw new QueryRefused('token_busy', `this token already has ${mine} live streams open; at most ${perToken}`, 5)
    if (this.open >= total) throw new QueryRefused('busy', `${this.open} live streams are open; at most ${total}: retry later`, 5)
    const key = JSON.stringify([scope.incidentId, scope.filters, scope.includeBroadcast, params.weight ?? null, params.staleAfterMs])
    let ch = this.channels.get(key)
    if (!ch) {
      ch = { key, scope: { ...scope, asOfMs: 0 }, params, subscribers: new Set(), last: null, stale: true, computing: false, timer: undefined, seq: 0 }
      this.channels.set(key, ch)
    }
    const sub: Subscriber = { res, token }
    ch.subscribers.add(sub)
    this.open++
    this.perToken.set(token, mine + 1)

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    res.flushHeaders()
    res.write('retry: 3000\n\n')
    const channel = ch
    let closed = false
    const close = () => {
      if (closed) return
      closed = true
      this.leave(channel, sub)
    }
    req.on('close', close)
    res.on('close', close)
    // A newcomer gets the last update if it is as fresh as the next one could be; otherwise
    // everyone gets a new one (which the interval allows: the last is at least that old).
    if (ch.last && !ch.stale && performance.now() - ch.last.at < MIN_UPDATE_INTERVAL_MS) this.write(ch, sub, ch.last.frame)
    else {
      ch.stale = true
      this.schedule(ch)
    }
  }

  /** End every stream (server shutdown). */
  close(): void {
    this.unsubscribe()
    clearInterval(this.heartbeat)
    for (const ch of this.channels.values()) {
      clearTimeout(ch.timer)
      for (const s of ch.subscribers) s.res.end()
    }
  }

  private leave(ch: Channel, sub: Subscriber) {
    if (!ch.subscribers.delete(sub)) return
    this.open--
    const n = (this.perToken.get(sub.token) ?? 1) - 1
    if (n <= 0) this.perToken.delete(sub.token)
    else this.perToken.set(sub.token, n)
    if (ch.subscribers.size === 0) {
      clearTimeout(ch.timer)
      this.channels.delete(ch.key)
    }
  }

  /** Write to one client; one that has more than bufferBytes unread is dropped. */
  private write(ch: Channel, sub: Subscriber, frame: string) {
    const { res } = sub
    if (res.writableEnded || res.destroyed) return
    if (res.writableLength > this.deps.limits.bufferBytes) {
      this.dropped++
      this.deps.log.warn({ incident: ch.scope.incidentId, unread: res.writableLength }, 'live stream dropped: its client does not read')
      this.leave(ch, sub)
      res.destroy()
      return
    }
    res.write(frame)
  }

  private schedule(ch: Channel) {
    if (ch.timer || ch.computing || ch.subscribers.size === 0) return
    const wait = ch.last ? Math.max(0, ch.last.at + MIN_UPDATE_INTERVAL_MS - performance.now()) : 0
    ch.timer = setTimeout(() => void this.compute(ch), wait)
  }

  private async compute(ch: Channel) {
    ch.timer = undefined
    if (ch.subscribers.size === 0 || !this.channels.has(ch.key)) return
    ch.computing = true
    ch.stale = false
    try {
      this.computed++
      const body = await withLane('cheap', () => this.deps.summary({ ...ch.scope, asOfMs: this.deps.now().getTime() }, ch.params))
      const frame = `event: update\nid: ${++ch.seq}\ndata: ${JSON.stringify(body)}\n\n`
      // The interval runs from the moment an update is written, not from when its summary was
      // started: a slow summary followed by a fast one must not put two writes within a second.
      ch.last = { frame, at: performance.now() }
      for (const s of [...ch.subscribers]) this.write(ch, s, frame)
    } catch (err) {
      ch.stale = true
      this.deps.log.warn({ err: (err as Error).message, incident: ch.scope.incidentId }, 'stream update failed')
      // Try again after the interval (the engine may have been busy).
      ch.last = { frame: ch.last?.frame ?? '', at: performance.now() }
    } finally {
      ch.computing = false
    }
    if (ch.stale) this.schedule(ch)
  }
}
