import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import type { IncidentMeta, Scenario, TenantMeta, WireEvent } from '../scenarios/types.js'
import { requestJson, type HttpTarget } from './http.js'
import { startSender, type EventSender } from './sender.js'

export interface ReplayOptions {
  target: HttpTarget
  /** Incident seconds per wall-clock second; Infinity = as fast as possible. */
  speed: number
  /** Rewrite occurred_at to the wall-clock moment each event is due (compressed by speed), so a replay looks live. */
  live?: boolean
  batchSize?: number
  concurrency?: number
  /** A rejected event: its event_id (or line) and the server's reason. */
  onRejected?: (ref: string, field: string, message: string) => void
  onUnlisted?: (count: number, first: string, last: string) => void
  /** Files: incremented by the bytes read, for "% done". */
  bytesRead?: { n: number }
  /** Called once the sender exists, so the caller can show progress. */
  onStart?: (sender: EventSender<string>) => void
}

/** A paced event still shaped as a line: its time and how to serialize it (possibly re-timed). */
interface Timed {
  ms: number
  ref: string
  line: (occurredAtMs: number | null) => string
}

const TENANTS_PER_REQUEST = 5_000
/** Sleep only when the next event is due this far ahead; closer ones go out in the current batch. */
const MIN_SLEEP_MS = 15
/** When pacing, a partly filled batch still goes out after this long. */
const MAX_BATCH_AGE_MS = 250

/** Upsert tenants (NDJSON, in chunks) and then the incident metadata, before any event. */
export async function sendMetadata(target: HttpTarget, tenants: Iterable<TenantMeta> | AsyncIterable<TenantMeta>, incident?: IncidentMeta): Promise<number> {
  let chunk: string[] = []
  let n = 0
  const post = async () => {
    if (chunk.length === 0) return
    await requestJson(target, 'POST', '/api/v1/tenants', chunk.join('\n') + '\n', 'application/x-ndjson')
    n += chunk.length
    chunk = []
  }
  for await (const t of tenants) {
    chunk.push(JSON.stringify(t))
    if (chunk.length >= TENANTS_PER_REQUEST) await post()
  }
  await post()
  if (incident) await putIncident(target, incident)
  return n
}

export async function putIncident(target: HttpTarget, incident: IncidentMeta): Promise<void> {
  const { incident_id, ...meta } = incident
  await requestJson(target, 'PUT', `/api/v1/incidents/${encodeURIComponent(incident_id)}`, JSON.stringify(meta), 'application/json')
}

/** Stream a scenario into the server: tenants and incident metadata first, then its events in time order. */
export async function replayScenario(scenario: Scenario, opts: ReplayOptions & { metadata?: boolean }): Promise<EventSender<string>> {
  if (opts.metadata !== false) await sendMetadata(opts.target, scenario.tenants(), scenario.incident)
  // Bulk order is faster and order does not matter when nothing is paced.
  const ordered = Number.isFinite(opts.speed) || opts.live === true
  function* timed(): Generator<Timed> {
    for (const e of scenario.events({ ordered })) {
      yield {
        ms: Date.parse(e.occurred_at),
        ref: e.event_id,
        line: (at) => JSON.stringify(at === null ? e : { ...e, occurred_at: new Date(at).toISOString() }),
      }
    }
  }
  return pace(timed(), scenario.startMs, opts)
}

/**
 * Stream an NDJSON file into the server. At `--speed max` lines go out verbatim; when paced,
 * each line is parsed for its occurred_at (the file should be in time order; earlier lines
 * are never held back, so out-of-order ones simply go out at once).
 */
export async function replayFile(path: string, opts: ReplayOptions): Promise<EventSender<string>> {
  const paced = Number.isFinite(opts.speed) || opts.live === true
  async function* timed(): AsyncGenerator<Timed> {
    const rl = createInterface({ input: countBytes(createReadStream(path), opts.bytesRead), crlfDelay: Infinity })
    let lineNo = 0
    for await (const raw of rl) {
      lineNo++
      if (raw.trim() === '') continue
      const ref = `${path}:${lineNo}`
      if (!paced) {
        yield { ms: 0, ref, line: () => raw }
        continue
      }
      let e: WireEvent | null = null
      try {
        e = JSON.parse(raw) as WireEvent
      } catch {
        // The server reports the malformed line; it is sent as is.
      }
      const ms = e && typeof e.occurred_at === 'string' ? Date.parse(e.occurred_at) : Number.NaN
      if (!e || !Number.isFinite(ms)) {
        yield { ms: Number.NaN, ref, line: () => raw }
        continue
      }
      const ev = e
      yield { ms, ref, line: (at) => (at === null ? raw : JSON.stringify({ ...ev, occurred_at: new Date(at).toISOString() })) }
    }
  }
  return pace(timed(), null, opts)
}

/**
 * The pacing loop. An event at incident time `ms` is due at wall time
 * wall0 + (ms − t0) / speed; the loop sleeps until the next event is due, flushing the
 * current batch first so what is due reaches the server on time. With `live`, occurred_at
 * becomes that due time, which is never in the future when the event is sent.
 */
async function pace(events: Iterable<Timed> | AsyncIterable<Timed>, startMs: number | null, opts: ReplayOptions): Promise<EventSender<string>> {
  const sender = startSender(opts)
  const paced = Number.isFinite(opts.speed)
  const speed = paced ? opts.speed : 1
  const wall0 = Date.now()
  let t0 = startMs
  for await (const e of events) {
    if (!Number.isFinite(e.ms) || (!paced && !opts.live)) {
      await sender.push(e.line(null), e.ref)
      continue
    }
    t0 ??= e.ms
    const dueMs = paced ? wall0 + Math.max(0, e.ms - t0) / speed : Date.now()
    const waitMs = dueMs - Date.now()
    if (waitMs > MIN_SLEEP_MS) {
      await sender.flush()
      await sleep(waitMs, undefined, { signal: opts.target.signal })
    } else if (sender.pendingAgeMs() > MAX_BATCH_AGE_MS) {
      await sender.flush()
    }
    // Events due within MIN_SLEEP_MS go out early: never stamp them later than now.
    await sender.push(e.line(opts.live ? Math.floor(Math.min(dueMs, Date.now())) : null), e.ref)
  }
  await sender.finish()
  return sender
}

/** Count the bytes a file stream delivers into `counter` (progress of file sources). */
export function countBytes<S extends NodeJS.ReadableStream>(stream: S, counter?: { n: number }): S {
  if (counter) stream.on('data', (chunk: Buffer | string) => (counter.n += chunk.length))
  return stream
}
