import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { Unavailable } from '../errors.js'
import type { Store } from '../storage/client.js'
import { engineMemoryReleaser } from '../storage/memory.js'
import { JSON_EACH_ROW } from '../storage/row-format.js'
import type { Telemetry } from '../telemetry.js'
import { Batcher, EVENTS_FORMAT, LEGACY_EVENTS_FORMAT, type Batch } from './batcher.js'
import { Spool, type SpoolFormat } from './spool.js'
import type { EventRow, IngestPipeline } from './types.js'

export interface PipelineDeps {
  config: Config
  store: Store
  telemetry: Telemetry
  log: Logger
}

/** Seconds a client should wait before retrying when neither storage nor spool can take events. */
const RETRY_AFTER_S = 5
const REPLAY_BACKOFF_MIN_MS = 100
const REPLAY_BACKOFF_MAX_MS = 5_000
/**
 * While storage takes inserts, acknowledgements wait once the spool holds more than this many
 * inserts' worth of rows: the acknowledged rate then follows what ClickHouse absorbs instead of
 * running ahead of it (the spool's room is for outages).
 */
const HEALTHY_BACKLOG_INSERTS = 2
/** close() waits at most this long for the spool to drain into ClickHouse; what is left stays on disk. */
const CLOSE_DRAIN_MS = 30_000

/**
 * The durable write path (SPEC §4 "Durability"), write-ahead: group commit into the local spool
 * (written and fdatasynced once per batch of requests), acknowledge, then one drain loop inserts
 * the spool into ClickHouse in order, in inserts of up to flushMaxEvents rows. A 200 is thus
 * durable before ClickHouse is involved, and survives kill -9 and power loss alike; ClickHouse
 * gets large inserts whatever the request sizes. When inserts fail (storage down or erroring),
 * the drain loop backs off and retries while the spool keeps acknowledging, up to
 * spoolMaxBytes; past that, refused as unavailable (retry later). Queries wait for drained() so they see every
 * acknowledged event.
 */
export async function createIngestPipeline({ config, store, telemetry, log }: PipelineDeps): Promise<IngestPipeline> {
  const table = `${store.db}.events`
  const spool = await Spool.open(join(config.dataDir, 'spool'), log)
  const listeners = new Set<(ids: Set<string>) => void>()
  const setDepth = () => telemetry.spoolDepth.set(spool.events)
  setDepth()

  // Spool file operations (append, peek, commit) one at a time; inserts run outside.
  let chain: Promise<unknown> = Promise.resolve()
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn)
    chain = run.catch(() => {})
    return run
  }

  /** Rows ever appended (the spool left by a previous run counts); appended − spool.events have reached ClickHouse. */
  let appended = spool.events
  /** Per incident, `appended` just after its latest append: once that many rows are in ClickHouse, so are all of its events. */
  const appendedFor = new Map<string, number>()
  /** Storage refused the last insert: acknowledge without waiting for it, count what waits as spooled. */
  let failing = false
  let spooledCounted = 0
  /** Someone waits for the spool to be inserted (a query, close()): insert what is there now. */
  let urgent = false
  /** Fires on every spool append (wakes a drain loop gathering rows). */
  const appendedSignal = signal()
  /** Fires when the drain loop commits an insert, fails one, or stops (wakes backpressure and drained()). */
  const progressSignal = signal()
  const progressed = () => progressSignal.fire()
  const waitProgress = () => progressSignal.wait()

  const releaseEngineMemory = engineMemoryReleaser(store)

  const insert = async (batch: Batch, format: SpoolFormat) => {
    const stop = telemetry.insertSeconds.startTimer()
    await store.insert(table, batch.body, format === 'JSONCompactEachRow+stamps' ? EVENTS_FORMAT : format === 'JSONCompactEachRow' ? LEGACY_EVENTS_FORMAT : JSON_EACH_ROW, batch.incidents)
    stop()
    releaseEngineMemory()
    telemetry.insertRows.observe(batch.rows)
    for (const l of listeners) {
      try {
        l(batch.incidents)
      } catch (err) {
        log.warn({ err: String(err) }, 'onCommitted listener failed')
      }
    }
  }

  /** Events that had to wait in the spool for storage (from the first failed insert on). */
  const countSpooled = () => {
    if (appended > spooledCounted) telemetry.spooled.inc(appended - spooledCounted)
    spooledCounted = appended
  }

  const toSpool = async (batch: Batch) => {
    const needed = batch.body.length + 1024
    if (failing && spool.bytes + needed > config.spoolMaxBytes) {
      wake?.() // storage may be back: try the spool's head now rather than after the backoff
      throw new Unavailable('spool_full', 'storage is unavailable and the local spool is full; retry later', RETRY_AFTER_S)
    }
    try {
      await spool.append({ rows: batch.rows, incidents: [...batch.incidents], body: batch.body, format: 'JSONCompactEachRow+stamps' })
    } catch (err) {
      log.error({ err: String(err) }, 'spool append failed')
      throw new Unavailable('spool_unavailable', 'the local spool cannot be written; retry later', RETRY_AFTER_S)
    }
    appended += batch.rows
    for (const id of batch.incidents) appendedFor.set(id, appended)
    if (failing) countSpooled()
    setDepth()
    appendedSignal.fire()
  }

  const write = async (batch: Batch) => {
    // Healthy storage and a long queue (or a spool without room): let the drain loop catch up
    // before taking more. Only while storage fails does a full spool refuse events.
    const tooMuch = () =>
      spool.events > HEALTHY_BACKLOG_INSERTS * config.flushMaxEvents || (!spool.empty && spool.bytes + batch.body.length + 1024 > config.spoolMaxBytes)
    while (!failing && !stopped && tooMuch()) await waitProgress()
    await locked(() => toSpool(batch))
    telemetry.ingested.inc(batch.rows)
    void drain()
  }

  // Drain loop: one instance at a time (order); sleeps between failed attempts, woken early by close().
  let draining: Promise<void> | null = null
  let stopped = false
  let wake: (() => void) | null = null
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = null
        resolve()
      }, ms)
      wake = () => {
        clearTimeout(t)
        wake = null
        resolve()
      }
    })

  const drain = (): Promise<void> => {
    draining ??= (async () => {
      let backoffMs = REPLAY_BACKOFF_MIN_MS
      while (!spool.empty) {
        // Nobody waits for these rows yet (acknowledgements come from the spool): gather up to
        // an insert's worth, at most drainIntervalMs, instead of one small insert per batch of
        // requests. Each insert writes a part to merge later, and those disk writes slow the
        // spool's fdatasync (single-event load: 250 ms → 5,155 req/s, 20 ms → 4,250). A query
        // (drained()) or close() cuts the wait short.
        const gatherUntil = Date.now() + config.drainIntervalMs
        while (!urgent && !stopped && !failing && spool.events < config.flushMaxEvents && Date.now() < gatherUntil) {
          await Promise.race([appendedSignal.wait(), new Promise((r) => setTimeout(r, Math.max(1, gatherUntil - Date.now())))])
        }
        const next = await locked(() => spool.peek(config.flushMaxEvents)).catch((err) => {
          log.error({ err: String(err) }, 'spool read failed')
          return null
        })
        if (!next) break
        try {
          await insert({ body: next.batch.body, rows: next.batch.rows, incidents: new Set(next.batch.incidents) }, next.batch.format)
        } catch (err) {
          if (!failing) log.warn({ err: err instanceof Error ? err.message : String(err), spooled: spool.events }, 'insert failed; keeping events in the spool and retrying')
          failing = true
          countSpooled()
          progressed()
          if (stopped) break
          await sleep(backoffMs)
          backoffMs = Math.min(backoffMs * 2, REPLAY_BACKOFF_MAX_MS)
          continue
        }
        if (failing) log.info({ spooled: spool.events }, 'storage takes inserts again; draining the spool')
        failing = false
        backoffMs = REPLAY_BACKOFF_MIN_MS
        await locked(() => next.commit())
        if (spool.empty) urgent = false
        setDepth()
        progressed()
      }
    })().finally(() => {
      draining = null
      progressed()
    })
    return draining
  }

  if (!spool.empty) {
    log.info({ events: spool.events }, 'draining the spool left by a previous run')
    void drain()
  }

  // One spool write at a time (one file, one fdatasync): requests arriving meanwhile share the next.
  const batcher = new Batcher({ flushMaxEvents: config.flushMaxEvents, flushIntervalMs: config.flushIntervalMs, write, maxConcurrentWrites: 1 })

  return {
    submit(rows: EventRow[]) {
      return batcher.submit(rows)
    },
    onCommitted(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    spoolDepth: () => spool.events,
    spoolQuarantined: () => (existsSync(spool.quarantineDir) ? readdirSync(spool.quarantineDir).length : 0),
    async drained(timeoutMs: number, incidentId?: string) {
      // The spool drains in order: one incident's events are in once the rows up to its latest append are.
      const target = incidentId === undefined ? appended : (appendedFor.get(incidentId) ?? 0)
      const deadline = Date.now() + timeoutMs
      while (appended - spool.events < target && !failing && Date.now() < deadline) {
        urgent = true
        appendedSignal.fire()
        const timer = new Promise<void>((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())
        await Promise.race([waitProgress(), timer])
      }
      return appended - spool.events >= target
    },
    async close() {
      await batcher.close()
      // Give the spool a bounded chance to reach ClickHouse; whatever is left is replayed at the next start.
      const deadline = Date.now() + CLOSE_DRAIN_MS
      urgent = true
      while (!spool.empty && !failing && Date.now() < deadline) {
        void drain()
        await Promise.race([draining, new Promise((r) => setTimeout(r, 100))])
      }
      stopped = true
      wake?.()
      await draining
      await locked(() => spool.close())
    },
  }
}

/** A one-shot wake-up for everyone waiting at the moment it fires. */
function signal(): { wait(): Promise<void>; fire(): void } {
  let waiters: (() => void)[] = []
  return {
    wait: () => new Promise<void>((resolve) => waiters.push(resolve)),
    fire() {
      const now = waiters
      waiters = []
      for (const w of now) w()
    },
  }
}
