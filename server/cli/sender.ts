import { requestJson, type HttpTarget } from './http.js'

/** The ingest answer of SPEC §4. */
export interface IngestResult {
  accepted: number
  rejected: number
  errors: { index: number; field: string; message: string }[]
}

export interface SenderOptions<R> {
  target: HttpTarget
  /** Events per NDJSON request. */
  batchSize: number
  /** Requests in flight at once; pushing waits when all are busy (backpressure). */
  concurrency: number
  /** A rejected event, with the reference it was pushed with (e.g. file and line). */
  onRejected?: (ref: R, field: string, message: string) => void
  /** Rejections the server did not list (it lists at most 100 per request), with the batch's first and last reference. */
  onUnlisted?: (count: number, first: R, last: R) => void
}

/**
 * Batches serialized events into NDJSON requests to POST /api/v1/events and keeps up to
 * `concurrency` of them in flight. Requests are retried by `requestJson`; a request that
 * fails for good (connection lost for longer than the retry window, or a 4xx refusal of the
 * whole request) makes the next `push`/`finish` throw.
 */
export class EventSender<R = number> {
  sent = 0
  accepted = 0
  rejected = 0
  retries = 0
  private lines: string[] = []
  private refs: R[] = []
  private batchStartedMs = 0
  private readonly inFlight = new Set<Promise<void>>()
  private failure: unknown = null
  private readonly target: HttpTarget

  constructor(private readonly opts: SenderOptions<R>) {
    // A copy, so senders sharing one target (the demo) count only their own retries.
    this.target = {
      ...opts.target,
      onRetry: (reason) => {
        this.retries++
        opts.target.onRetry?.(reason)
      },
    }
  }

  /** Add one serialized event (a JSON line without newline). */
  async push(line: string, ref: R): Promise<void> {
    if (this.lines.length === 0) this.batchStartedMs = Date.now()
    this.lines.push(line)
    this.refs.push(ref)
    if (this.lines.length >= this.opts.batchSize) await this.flush()
  }

  /** How long the oldest queued, unsent event has waited (ms); 0 when none. */
  pendingAgeMs(): number {
    return this.lines.length === 0 ? 0 : Date.now() - this.batchStartedMs
  }

  /** Send the queued events now (waits for a free request slot). */
  async flush(): Promise<void> {
    this.throwIfFailed()
    if (this.lines.length === 0) return
    while (this.inFlight.size >= this.opts.concurrency) await Promise.race(this.inFlight)
    this.throwIfFailed()
    const lines = this.lines
    const refs = this.refs
    this.lines = []
    this.refs = []
    const p = this.send(lines, refs)
      .catch((err) => {
        this.failure ??= err
      })
      .finally(() => this.inFlight.delete(p))
    this.inFlight.add(p)
  }

  /** Send what is queued and wait for every request to finish. */
  async finish(): Promise<void> {
    await this.flush()
    await Promise.all(this.inFlight)
    this.throwIfFailed()
  }

  private throwIfFailed() {
    if (this.failure) throw this.failure
  }

  private async send(lines: string[], refs: R[]): Promise<void> {
    const body = lines.join('\n') + '\n'
    const res = await requestJson<IngestResult>(this.target, 'POST', '/api/v1/events', body, 'application/x-ndjson')
    this.sent += lines.length
    this.accepted += res.accepted
    this.rejected += res.rejected
    const errors = res.errors ?? []
    for (const e of errors) {
      const ref = refs[e.index]
      if (ref !== undefined) this.opts.onRejected?.(ref, e.field, e.message)
    }
    const unlisted = res.rejected - new Set(errors.map((e) => e.index)).size
    if (unlisted > 0) this.opts.onUnlisted?.(unlisted, refs[0]!, refs[refs.length - 1]!)
  }
}

/** What the sending commands (import, replay) take; events are referenced by a string such as file:line. */
export interface SendOptions {
  target: HttpTarget
  batchSize?: number
  concurrency?: number
  onRejected?: (ref: string, field: string, message: string) => void
  onUnlisted?: (count: number, first: string, last: string) => void
  onStart?: (sender: EventSender<string>) => void
}

/** A sender with the CLI's defaults (1,000 events a request, 4 requests in flight), handed to onStart. */
export function startSender(opts: SendOptions): EventSender<string> {
  const sender = new EventSender<string>({
    target: opts.target,
    batchSize: opts.batchSize ?? 1000,
    concurrency: opts.concurrency ?? 4,
    onRejected: opts.onRejected,
    onUnlisted: opts.onUnlisted,
  })
  opts.onStart?.(sender)
  return sender
}
