import type { Logger } from 'pino'
import type { Store } from '../storage/client.js'
import type { CommPolicy } from '../domain/comm-policy.js'
import { withLane } from '../storage/lanes.js'
import { soleLease, type Lease } from '../storage/lease.js'
import { createCaches } from './caches.js'
import type { IncidentLog } from './incident-log.js'
import { Follower } from './state-follow.js'
import { deriveTenantStateSql } from './tenant-state.js'

/**
 * Keeps `tenant_state` (server/metrics/tenant-state.ts) in step with `events`.
 *
 * What changed is read from ClickHouse itself: every events row keeps the number of the insert
 * block that wrote it (`_block_number`, migration 5), so the tenants with rows numbered above the
 * last position read are the ones to derive again. That covers every writer, this server's
 * ingest as well as rows written by other means.
 *
 * Freshness: `fresh()` resolves once every event acknowledged before it was called is reflected:
 * it waits for the ingest pipeline to have inserted them (acknowledgedStored), then for every
 * insert committed by then. MergeTree numbers a block when it commits it, so the numbers grow in commit order
 * and everything numbered up to the highest number seen is already visible: reading past it
 * misses nothing. The store tells us when one of its inserts into events settles, which is when
 * a query must look again; writes by other processes are looked for at most every
 * EXTERNAL_CHECK_MS.
 *
 * Derivation runs on demand (a query calls fresh()), and in the background once ingest has been
 * quiet for SETTLE_MS, so a dashboard opened after a burst does not wait. The scan position is
 * kept in `state_sync`; after a restart the sync resumes from it.
 */
export interface StateSync {
  /**
   * Resolve once tenant_state reflects every event committed through this store before the call,
   * of `incidentId` only when given: a query of one incident never waits for the derivation of
   * another's new events (events of different incidents never mix).
   */
  fresh(incidentId?: string): Promise<void>
  /**
   * A value derived from an incident's data, computed once per change of that incident (and of
   * tenant metadata with 'tenants', of incident metadata with 'incidents'), e.g. milestone times,
   * which do not depend on as_of. Kept in caches.ts.
   */
  cached<T>(incidentId: string, key: string, meta: false | 'tenants' | 'incidents', compute: () => Promise<T>): Promise<T>
  /**
   * The incident's change log (incident-log.ts) when it reflects the current data, else null
   * (the caller computes in ClickHouse). Policy by `logMode`: auto builds it in the background
   * once the incident has had no change for LOG_QUIET_MS, always builds it on demand and waits,
   * off never builds it. Kept in caches.ts (LOG_QUIET_MS).
   */
  incidentLog(incidentId: string, policy: CommPolicy): Promise<IncidentLog | null>
  /**
   * Be told of incidents whose derived state changed through events that reached ClickHouse by
   * any server (live streams follow other servers with this). Returns an unsubscribe.
   */
  onChange(listener: (incidentIds: Set<string>) => void): () => void
  close(): Promise<void>
}

/** Look for writes by other processes at most this often (ms). */
export const EXTERNAL_CHECK_MS = 1000
/** A derivation of more new events than this runs in parts of about this many (one statement each). */
export const DERIVE_PART_EVENTS = 1_000_000
/** Derive in the background once no insert has settled for this long (ms). */
export const SETTLE_MS = 1000
/** Merge an incident's tenant_state parts once the rows outside its biggest part reach this many, and this share of it. */
const MERGE_MIN_ROWS = 10_000
const MERGE_SHARE = 0.2

export interface StateSyncDeps {
  store: Store
  log: Logger
  /** Resolves once acknowledged events (of one incident, when given) have reached ClickHouse (the ingest pipeline's drained()); false if not in time. */
  acknowledgedStored?: (incidentId?: string) => Promise<boolean>
  /** Read at each call (config.incidentLog), default auto. */
  logMode?: () => 'auto' | 'always' | 'off'
  /** Events per part of a large derivation (tests make it small), default DERIVE_PART_EVENTS. */
  derivePartEvents?: number
  /**
   * Several servers on one database (SPEC §9): only the holder of this lease derives; the others
   * follow its progress (state-follow.ts). Default: a server alone on its storage.
   */
  lease?: Lease
}

export async function createStateSync({ store, log, acknowledgedStored, logMode = () => 'auto', derivePartEvents = DERIVE_PART_EVENTS, lease = soleLease() }: StateSyncDeps): Promise<StateSync> {
  const db = store.db
  const events = `${db}.events`
  const [pos] = await store.rows<{ scan_from: number; version: number }>(
    `SELECT (SELECT max(scan_from) FROM ${db}.state_sync FINAL) AS scan_from, (SELECT max(version) FROM ${db}.tenant_state) AS version`,
  )
  /** Every events block numbered above this may be missing from tenant_state. */
  let scanFrom = Number(pos?.scan_from ?? 0)
  let version = Number(pos?.version ?? 0)
  /** An insert settled since the current/last sync read the block position. */
  let dirty = true
  let lastCheckMs = 0
  let lastSettleMs = 0
  let closed = false
  let running: Promise<void> | null = null
  let merging: Promise<void> | null = null
  let timer: NodeJS.Timeout | undefined

  /** Incidents with events inserted through this store that no sync has started to derive yet… */
  const pending = new Set<string>()
  /** …an insert of unknown incidents (written by other means) is waiting… */
  let pendingUnknown = false
  /** …and what the running sync derives. */
  let covering = new Set<string>()
  let coveringUnknown = false
  const unwatchEvents = store.watchInserts(events, (incidents) => () => {
    if (incidents) for (const id of incidents) pending.add(id)
    else pendingUnknown = true
    dirty = true
    lastSettleMs = Date.now()
    scheduleBackground()
  })
  const caches = createCaches({ store, log, logMode })
  const unwatchTenants = store.watchInserts(`${db}.tenants`, () => () => caches.metaChanged('tenants'))
  const unwatchIncidents = store.watchInserts(`${db}.incidents`, () => () => caches.metaChanged('incidents'))

  /** The one change notification, for incidents derived here and, followed, by another server; the caches hear it first. */
  const listeners = new Set<(incidentIds: Set<string>) => void>([(ids) => caches.changed(ids)])
  const announce = (incidentIds: Set<string>) => {
    if (incidentIds.size === 0) return
    for (const l of listeners) {
      try {
        l(incidentIds)
      } catch (err) {
        log.warn({ err: String(err) }, 'state change listener failed')
      }
    }
  }

  async function sync(): Promise<void> {
    if (!lease.held) return follower.follow()
    dirty = false
    lastCheckMs = Date.now()
    // Inserts settled before the block position is read are derived by this sync.
    covering = new Set(pending)
    coveringUnknown = pendingUnknown
    pending.clear()
    pendingUnknown = false
    // No bound parameters (the database name is a checked identifier from the config): this
    // check runs beside the engine's queue, so a query that has nothing to derive never waits
    // behind an expensive statement just to learn that.
    const [top] = await store.rows<{ b: number }>(
      `SELECT max(max_block_number) AS b FROM system.parts WHERE database = '${db}' AND table = 'events' AND active`,
    )
    const bNow = Number(top?.b ?? 0)
    const from = scanFrom
    if (bNow <= from) return
    scanFrom = bNow
    // Incidents whose tenant_state this sync rewrote: announced even if a later one fails.
    const derived = new Set<string>()
    let announced = false
    try {
      const started = performance.now()
      // Each changed incident with its new events: a derivation holds its tenants' events in
      // memory (~0.4 KB each, with the cards' copies), so a large one runs in parts of about
      // derivePartEvents.
      const changed = await store.rows<{ incident_id: string; n: number }>(
        `SELECT incident_id, count() AS n FROM ${events} WHERE _block_number > {from:UInt64} GROUP BY incident_id`,
        { from },
      )
      let merge = false
      for (const { incident_id: incidentId, n } of changed) {
        const parts = Math.max(1, Math.ceil(Number(n) / derivePartEvents))
        const v = ++version
        const ranges = parts > 1 ? await derivationRanges(store, incidentId, from, parts) : [{ lo: '', hi: '', hi_open: 1 }]
        for (const range of ranges) {
          await store.command(deriveTenantStateSql(db, from > 0, ranges.length > 1), { incident: incidentId, version: v, from, ...range })
        }
        derived.add(incidentId)
        merge ||= await needsMerge(incidentId)
      }
      follower.derivedTo(bNow)
      announced = true
      announce(derived)
      if (merge) mergeInBackground()
      await store.command(`INSERT INTO ${db}.state_sync (id, scan_from, version) VALUES (1, {s:UInt64}, {v:UInt64})`, { s: bNow, v: version })
      log.debug({ from, to: bNow, incidents: changed.length, ms: Math.round(performance.now() - started) }, 'tenant state derived')
    } catch (err) {
      if (!announced) announce(derived)
      scanFrom = from
      dirty = true
      for (const id of covering) pending.add(id)
      pendingUnknown ||= coveringUnknown
      throw err
    } finally {
      covering = new Set()
      coveringUnknown = false
    }
  }

  /**
   * Reading with FINAL is nearly free while an incident's rows sit in one part (or small parts
   * beside a big one), and costs a merge of everything that overlaps when a large rewrite left
   * two big parts; the engine's own merge policy can leave those apart for a long time.
   */
  async function needsMerge(incidentId: string): Promise<boolean> {
    const [p] = await store.rows<{ parts: number; total_rows: number; biggest: number }>(
      `SELECT count() AS parts, sum(rows) AS total_rows, max(rows) AS biggest FROM system.parts
       WHERE database = {db:String} AND table = 'tenant_state' AND active AND partition = {incident:String}`,
      { db, incident: incidentId },
    )
    const extra = Number(p?.total_rows ?? 0) - Number(p?.biggest ?? 0)
    return Number(p?.parts ?? 0) > 1 && extra >= Math.max(MERGE_MIN_ROWS, MERGE_SHARE * Number(p?.biggest ?? 0))
  }
  // Not a parameterized statement, so it runs beside queries rather than queued with them.
  function mergeInBackground() {
    if (merging || closed) return
    merging = withLane('internal', () => store
      .command(`OPTIMIZE TABLE ${db}.tenant_state FINAL SETTINGS optimize_skip_merged_partitions = 1`)
      .catch((err) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'tenant state merge failed'))
      .finally(() => {
        merging = null
      }))
  }

  function fresh(incidentId?: string): Promise<void> {
    return (async () => {
      // Events acknowledged but still on their way from the spool: wait for them (storage
      // failing, or too slow: go on with what ClickHouse has).
      if (acknowledgedStored && !(await acknowledgedStored(incidentId))) log.debug('query served before every acknowledged event was stored')
      if (incidentId !== undefined) {
        // One incident: wait only for a sync that derives its events (or events of unknown
        // incidents, written through this store by other means). The rest (other incidents, and
        // writes by other processes, looked for at most every EXTERNAL_CHECK_MS) is derived in
        // the background without holding this query.
        while (running && (covering.has(incidentId) || coveringUnknown)) await running.catch(() => {})
        const mine = pending.has(incidentId) || pendingUnknown
        if (!mine && (pending.size > 0 || running || Date.now() - lastCheckMs < EXTERNAL_CHECK_MS)) return
      }
      if (!lease.held) return follower.caughtUp()
      // A sync already running may have read the position before our caller's inserts committed:
      // let it finish, then look again (an insert that settled since has set `dirty`).
      while (running) await running.catch(() => {})
      if (!dirty && Date.now() - lastCheckMs < EXTERNAL_CHECK_MS) return
      // The server's own work: its statements run in the internal lane, whoever asked for it.
      running = withLane('internal', sync).finally(() => {
        running = null
      })
      await running
    })()
  }

  // Several servers on one database (SPEC §9): see state-follow.ts.
  const follower = new Follower(
    {
      store,
      lease,
      log,
      advance(s, v) {
        scanFrom = Math.max(scanFrom, s)
        version = Math.max(version, v)
      },
      changed: announce,
      metaChanged: (table) => caches.metaChanged(table),
      shouldLook() {
        if (!dirty && Date.now() - lastCheckMs < EXTERNAL_CHECK_MS) return false
        dirty = false
        lastCheckMs = Date.now()
        return true
      },
      derive: () => {
        if (!closed) dirty = true
        return fresh()
      },
    },
    scanFrom,
  )

  function scheduleBackground() {
    if (closed || timer) return
    timer = setTimeout(() => {
      timer = undefined
      if (closed) return
      const quietMs = Date.now() - lastSettleMs
      if (quietMs < SETTLE_MS) return scheduleBackground()
      fresh().catch((err) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'background tenant state sync failed'))
    }, SETTLE_MS)
    timer.unref()
  }
  // A restart resumes where the last run stopped (and a new database derives everything).
  scheduleBackground()

  return {
    fresh,
    cached: (incidentId, key, meta, compute) => caches.cached(incidentId, key, meta, compute),
    incidentLog: (incidentId, policy) => caches.incidentLog(incidentId, policy),
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close() {
      closed = true
      clearTimeout(timer)
      follower.close()
      unwatchEvents()
      unwatchTenants()
      unwatchIncidents()
      await running?.catch(() => {})
      await merging
    },
  }
}

/** Tenant ids sampled to split a large derivation into key ranges. */
const RANGE_SAMPLE = 20_000

/**
 * Split the tenants a derivation covers (those with events above block `from`) into about `parts`
 * ranges of tenant_id [lo, hi) holding similar numbers of events, from a sample of the events'
 * tenant ids: every tenant falls in exactly one range whatever the sample, which only sets the
 * balance. Each range is a range of the events' primary key (incident_id, tenant_id, …), so its
 * statement reads only its own events (a hash split read every event in every statement: the
 * cost grew with parts × events).
 */
export async function derivationRanges(store: Store, incidentId: string, from: number, parts: number): Promise<{ lo: string; hi: string; hi_open: number }[]> {
  const [row] = await store.rows<{ ids: string[] }>(
    `SELECT arraySort(groupArraySample(${RANGE_SAMPLE}, 1)(tenant_id)) AS ids FROM ${store.db}.events
     WHERE incident_id = {incident:String} AND tenant_id != '' AND _block_number > {from:UInt64}`,
    { incident: incidentId, from },
  )
  const ids = row?.ids ?? []
  const bounds: string[] = []
  for (let i = 1; i < parts; i++) {
    const b = ids[Math.floor((i * ids.length) / parts)]
    if (b !== undefined && b !== '' && b !== bounds.at(-1)) bounds.push(b)
  }
  return [...bounds, null].map((hi, i) => ({ lo: i === 0 ? '' : bounds[i - 1]!, hi: hi ?? '', hi_open: hi === null ? 1 : 0 }))
}
