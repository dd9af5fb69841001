import type { Store } from './client.js'

/**
 * Embedded engine only: the engine shares our process, and its allocator (jemalloc) keeps freed
 * pages for reuse; under a long ingest that adds ~100-200 MB of RSS. Past this RSS, after an
 * insert, ask it to return them (SYSTEM JEMALLOC PURGE), at most every PURGE_MIN_INTERVAL_MS.
 * Not unconditionally: each purge makes the next inserts fault pages back in.
 */
const PURGE_ABOVE_RSS_BYTES = 350 * 1024 * 1024
const PURGE_MIN_INTERVAL_MS = 250
/** Past this RSS, purge after every insert: keeps a 2M-line request's peak under its 500 MiB budget. */
const PURGE_ALWAYS_ABOVE_RSS_BYTES = 440 * 1024 * 1024

/**
 * A function to call after each large insert: on the embedded engine, when the process's RSS is
 * past the bounds above, it asks the engine to give its freed pages back (best effort, one
 * purge at a time, never awaited). A no-op on a remote server, whose memory is its own.
 */
export function engineMemoryReleaser(store: Store): () => void {
  if (store.kind !== 'embedded') return () => {}
  let lastPurgeMs = 0
  let purging = false
  return () => {
    if (purging) return
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
}
