import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import { HttpError } from '../errors.js'
import type { Store } from '../storage/client.js'
import type { Telemetry } from '../telemetry.js'
import { Batcher, type Batch } from './batcher.js'
import { Spool } from './spool.js'
import type { EventRow, IngestPipeline } from './types.js'

export interface PipelineDeps {
  config: Config
  store: Store
  telemetry: Telemetry
  log: Logger
}

/** Seconds a client should wait before retrying when neither storage nor spool can take events. */
const RETRY_AFTER_S = '5'
const REPLAY_BACKOFF_MIN_MS = 100
const REPLAY_BACKOFF_MAX_MS = 5_000
/**
 * Embedded engine only: the engine shares our process, and its allocator (jemalloc) keeps freed
 * pages for reuse; under a long ingest that adds ~100-200 MB of RSS. Past this RSS, after an
 * insert, ask it to return them (SYSTEM JEMALLOC PURGE), at most every PURGE_MIN_INTERVAL_MS.
 * Not unconditionally: each purge makes the next inserts fault pages back in, which measured
 * at 2.5x the CPU per row when done every 250 ms.
 */
const PURGE_ABOVE_RSS_BYTES = 350 * 1024 * 1024
const PURGE_MIN_INTERVAL_MS = 250
/**
 * Past this RSS, purge after every insert regardless of the interval: unfsynced inserts
 * (migration 2) finish faster, so parts and merges come quicker and the engine's freed pages
 * pile up faster; this keeps a long single request's peak under the 500 MiB budget.
 */
const PURGE_ALWAYS_ABOVE_RSS_BYTES = 440 * 1024 * 1024

/**
 * The durable write path (SPEC §4 "Durability"): group commit into ClickHouse; when an insert
 * fails, the batch goes to the fsynced local spool instead, and a background loop replays the
 * spool into ClickHouse in order. While the spool holds anything, new batches are appended
 * behind it so order is kept. Spool appends and replay steps are serialized by one lock; up to
 * two direct inserts run at once (one's fsync wait overlaps the other's work).
 */
export async function createIngestPipeline({ config, store, telemetry, log }: PipelineDeps): Promise<IngestPipeline> {
  const table = `${store.db}.events`
  const spool = await Spool.open(join(config.dataDir, 'spool'), log)
  const listeners = new Set<(ids: Set<string>) => void>()
  const setDepth = () => telemetry.spoolDepth.set(spool.events)
  setDepth()

  let chain: Promise<unknown> = Promise.resolve()
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn)
    chain = run.catch(() => {})
    return run
  }

  let lastPurgeMs = Date.now()
  let purging = false
  const releaseEngineMemory = () => {
    if (store.kind !== 'embedded' || purging) return
    const rss = process.memoryUsage.rss()
    if (rss < PURGE_ABOVE_RSS_BYTES) return
    if (rss < PURGE_ALWAYS_ABOVE_RSS_BYTES && Date.now() - lastPurgeMs < PURGE_MIN_INTERVAL_MS) return
    purging = true
    void store
      .command('SYSTEM JEMALLOC PURGE')
      .catch(() => {}) // best effort: builds without jemalloc refuse it
      .finally(() => {
        purging = false
        lastPurgeMs = Date.now()
      })
  }

  const insert = async (batch: Batch) => {
    const stop = telemetry.insertSeconds.startTimer()
    await store.insertJsonEachRow(table, batch.body)
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

  const toSpool = async (batch: Batch) => {
    const needed = batch.body.length + 1024
    if (spool.bytes + needed > config.spoolMaxBytes) {
      throw new HttpError(503, 'spool_full', 'storage is unavailable and the local spool is full; retry later', { 'Retry-After': RETRY_AFTER_S })
    }
    try {
      await spool.append({ rows: batch.rows, incidents: [...batch.incidents], body: batch.body })
    } catch (err) {
      log.error({ err: String(err) }, 'spool append failed')
      throw new HttpError(503, 'spool_unavailable', 'storage is unavailable and the local spool cannot be written; retry later', { 'Retry-After': RETRY_AFTER_S })
    }
    telemetry.spooled.inc(batch.rows)
    setDepth()
  }

  // Direct inserts run outside the lock (the batcher allows two at once); everything that
  // touches the spool is serialized, and while the spool holds anything new batches queue
  // behind it there.
  const write = async (batch: Batch) => {
    if (spool.empty) {
      try {
        await insert(batch)
        telemetry.ingested.inc(batch.rows)
        return
      } catch (err) {
        log.warn({ err: err instanceof Error ? err.message : String(err), rows: batch.rows }, 'insert failed; spooling the batch')
      }
    }
    await locked(() => toSpool(batch))
    telemetry.ingested.inc(batch.rows)
    void replay()
  }

  // Replay loop: one instance at a time; sleeps between failed attempts, woken early by close().
  let replaying: Promise<void> | null = null
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

  const replay = (): Promise<void> => {
    replaying ??= (async () => {
      let backoffMs = REPLAY_BACKOFF_MIN_MS
      while (!stopped && !spool.empty) {
        const done = await locked(async () => {
          const next = await spool.peek(config.flushMaxEvents)
          if (!next) return true
          try {
            await insert({ body: next.batch.body, rows: next.batch.rows, incidents: new Set(next.batch.incidents) })
          } catch (err) {
            log.warn({ err: err instanceof Error ? err.message : String(err), spooled: spool.events }, 'spool replay failed; will retry')
            return false
          }
          await next.commit()
          setDepth()
          return true
        }).catch((err) => {
          log.error({ err: String(err) }, 'spool replay step failed')
          return false
        })
        if (done) backoffMs = REPLAY_BACKOFF_MIN_MS
        else {
          await sleep(backoffMs)
          backoffMs = Math.min(backoffMs * 2, REPLAY_BACKOFF_MAX_MS)
        }
      }
    })().finally(() => {
      replaying = null
    })
    return replaying
  }

  if (!spool.empty) {
    log.info({ events: spool.events }, 'replaying the spool left by a previous run')
    void replay()
  }

  const batcher = new Batcher({ flushMaxEvents: config.flushMaxEvents, flushIntervalMs: config.flushIntervalMs, write, maxConcurrentWrites: 2 })

  return {
    submit(rows: EventRow[]) {
      return batcher.submit(rows)
    },
    onCommitted(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    spoolDepth: () => spool.events,
    async close() {
      await batcher.close()
      stopped = true
      wake?.()
      await replaying
      await locked(() => spool.close())
    },
  }
}
