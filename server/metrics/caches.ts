import type { Logger } from 'pino'
import type { Store } from '../storage/client.js'
import type { CommPolicy } from '../domain/comm-policy.js'
import { withLane } from '../storage/lanes.js'
import { incidentLogBytes, loadIncidentLog, type IncidentLog } from './incident-log.js'

/**
 * Values derived from an incident's data, kept until the incident changes. They are fed by the
 * state sync's one change notification (state-sync.ts), for changes derived here or, followed, by
 * another server, and by its notes of metadata writes.
 */
export interface Caches {
  /** See StateSync.cached. */
  cached<T>(incidentId: string, key: string, meta: false | 'tenants' | 'incidents', compute: () => Promise<T>): Promise<T>
  /** See StateSync.incidentLog. */
  incidentLog(incidentId: string, policy: CommPolicy): Promise<IncidentLog | null>
  /** These incidents' derived state changed: what was kept for them is stale. */
  changed(incidentIds: Iterable<string>): void
  /** A table of metadata was written: values computed from it are stale. */
  metaChanged(table: 'tenants' | 'incidents'): void
}

/** Cached derived values kept (least recently used beyond this are dropped). */
const CACHE_ENTRIES = 500
/**
 * Change logs kept in memory: at most this many bytes together, the most recently used first;
 * the newest is always kept (~120 MB for an incident of 10M events, ~3 MB for 200k). A soak that
 * looked at each of 357 incidents once grew the server's RSS by the whole budget, so it is sized
 * against the 1 GiB the server should stay within.
 */
const LOG_BUDGET_BYTES = 160 * 1024 * 1024
/** auto: an incident's log is built once it has seen no change for this long (ms); while it changes, queries compute per request. */
export const LOG_QUIET_MS = 2000

export interface CachesDeps {
  store: Store
  log: Logger
  /** Read at each call (config.incidentLog), default auto. */
  logMode?: () => 'auto' | 'always' | 'off'
}

export function createCaches({ store, log, logMode = () => 'auto' }: CachesDeps): Caches {
  const generations = new Map<string, number>()
  const changedAt = new Map<string, number>()
  let metaGeneration = 0
  let incidentsGeneration = 0
  const cache = new Map<string, { gen: string; value: Promise<unknown> }>()
  const logs = new Map<string, { gen: string; value: Promise<IncidentLog>; ready: boolean; bytes: number }>()
  const trimLogs = () => {
    let total = 0
    for (const e of logs.values()) total += e.bytes
    for (const [id, e] of logs) {
      if (total <= LOG_BUDGET_BYTES || logs.size <= 1) break
      logs.delete(id)
      total -= e.bytes
    }
  }

  return {
    changed(incidentIds) {
      for (const id of incidentIds) {
        generations.set(id, (generations.get(id) ?? 0) + 1)
        changedAt.set(id, Date.now())
      }
    },
    metaChanged(table) {
      if (table === 'tenants') metaGeneration++
      else incidentsGeneration++
    },
    async cached<T>(incidentId: string, key: string, meta: false | 'tenants' | 'incidents', compute: () => Promise<T>): Promise<T> {
      const id = `${incidentId}\u0000${key}`
      const gen = `${generations.get(incidentId) ?? 0}/${meta === 'tenants' ? metaGeneration : meta === 'incidents' ? `i${incidentsGeneration}` : 0}`
      const hit = cache.get(id)
      if (hit && hit.gen === gen) {
        cache.delete(id)
        cache.set(id, hit)
        return hit.value as Promise<T>
      }
      const value = compute()
      cache.set(id, { gen, value })
      value.catch(() => cache.delete(id))
      while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!)
      return value
    },
    async incidentLog(incidentId: string, policy: CommPolicy): Promise<IncidentLog | null> {
      const mode = logMode()
      if (mode === 'off') return null
      // The log holds the overdue changes of the incident's policy: a new policy is a new log.
      const gen = `${generations.get(incidentId) ?? 0}/${policy.firstContactWithinMs}/${policy.updateEveryMs}`
      const hit = logs.get(incidentId)
      if (hit && hit.gen === gen) {
        logs.delete(incidentId)
        logs.set(incidentId, hit)
        if (hit.ready || mode === 'always') return hit.value
        return null
      }
      if (mode === 'auto' && Date.now() - (changedAt.get(incidentId) ?? 0) < LOG_QUIET_MS) return null
      logs.delete(incidentId)
      const entry = { gen, value: withLane('internal', () => loadIncidentLog(store, incidentId, policy)), ready: false, bytes: 0 }
      logs.set(incidentId, entry)
      entry.value.then(
        (built) => {
          entry.ready = true
          entry.bytes = incidentLogBytes(built)
          trimLogs()
        },
        (err) => {
          if (logs.get(incidentId) === entry) logs.delete(incidentId)
          log.warn({ err: err instanceof Error ? err.message : String(err), incidentId }, 'incident log not built')
        },
      )
      return mode === 'always' ? entry.value : null
    },
  }
}
