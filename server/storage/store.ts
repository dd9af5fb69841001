import type { ClickHouseClient } from '@clickhouse/client'
import { EXCEPTION_TAG_HEADER_NAME } from '@clickhouse/client'
import type { Readable } from 'node:stream'
import { failOnTrailingException } from './stream-errors.js'
import type { Config } from '../config.js'
import { StorageUnavailableError } from '../errors.js'
import type { Params, Store } from './client.js'
import { currentLane, QueryRefused, type EngineGate, type Lane } from './lanes.js'
import { JSON_EACH_ROW, type RowFormat } from './row-format.js'

/**
 * What the embedded and the remote store share (embedded.ts, remote.ts): the settings of every
 * statement, the lanes' engine limits, a deadline on every call, and the refusals and storage
 * errors a failed statement becomes.
 */

export const CLICKHOUSE_SETTINGS = {
  date_time_output_format: 'iso',
  output_format_json_quote_64bit_integers: 0,
  output_format_json_quote_64bit_floats: 0,
  // No JIT compilation of expressions: the third run of an expression compiles it with LLVM,
  // stalling that query by 20-60 ms, for no measurable gain on these queries afterwards.
  compile_expressions: 0,
} as const

/**
 * The engine's own limits for every statement of a lane (storage/lanes.ts): ClickHouse cancels a
 * statement that runs longer than max_execution_time or needs more memory than max_memory_usage,
 * and refuses a result larger than max_result_bytes, inside the engine, so no abandoned
 * statement keeps running after its request has given up. Every key is sent with every statement
 * (a chdb connection keeps SET values between statements).
 */
export function laneSettings(config: Config, lane: Lane, kind: Store['kind'] = 'embedded'): Record<string, string | number> {
  // No read may outlive the storage timeout, the longest anyone waits for it.
  const waitS = config.storageTimeoutMs / 1000
  if (lane === 'internal') {
    return {
      // A part of a derivation must be allowed to finish on a loaded machine (in-process there is
      // no peer to lose); on a server, the storage timeout is also how a hung peer is noticed.
      max_execution_time: kind === 'embedded' ? Math.max(waitS, INTERNAL_MIN_EXECUTION_S) : waitS,
      timeout_overflow_mode: 'throw',
      max_memory_usage: INTERNAL_MAX_MEMORY_BYTES,
      max_result_bytes: 0,
      result_overflow_mode: 'throw',
    }
  }
  return {
    max_execution_time: Math.min(config.queryMaxSeconds, waitS),
    timeout_overflow_mode: 'throw',
    max_memory_usage: config.queryMaxMemoryBytes,
    max_result_bytes: config.queryMaxResultBytes,
    result_overflow_mode: 'throw',
    // An expensive read's threads yield the CPU to everything else (the event loop, cheap reads,
    // ingest): the lowest nice value (needs CAP_SYS_NICE, else ClickHouse ignores it).
    os_thread_priority: lane === 'heavy' ? 19 : 0,
  }
}

/** The server's own statements (a part of a derivation, an incident log) are bounded too, generously. */
const INTERNAL_MAX_MEMORY_BYTES = 4 * 1024 ** 3
const INTERNAL_MIN_EXECUTION_S = 120
/** close() waits at most this long for statements still running in the engine (closing a chdb connection under one aborts the engine). */
const CLOSE_WAIT_MS = 30_000
/** Added to the JS deadline of a statement (twice the engine's own), so the engine's cancellation (a clear refusal) comes first. */
export const GUARD_SLACK_MS = 1000

/** How long a statement of each lane may wait for the engine (internal work is never refused). */
export function queueLimits(config: Config): Record<Lane, number> {
  return { cheap: config.queryQueueMs, heavy: config.heavyQueueMs, internal: Number.POSITIVE_INFINITY }
}


/**
 * Hands each operation to the client (or session) with the fewest operations in flight. With
 * `renew`, a client whose operation failed is replaced by a new one (and closed once its other
 * operations are done): a chdb session that failed mid-query keeps the output it had written
 * so far and prepends it to its next result (seen with a UNION ALL whose second part hit the
 * memory limit: the next query on that session returned the first part's rows).
 */
export class ClientPool<C extends { close(): unknown } = ClickHouseClient> {
  private readonly inFlight = new Map<C, number>()
  constructor(
    private readonly clients: C[],
    private readonly renew?: () => C,
  ) {
    for (const c of clients) this.inFlight.set(c, 0)
  }
  async use<T>(fn: (client: C) => Promise<T>): Promise<T> {
    let i = 0
    for (let j = 1; j < this.clients.length; j++) if (this.inFlight.get(this.clients[j]!)! < this.inFlight.get(this.clients[i]!)!) i = j
    const client = this.clients[i]!
    this.inFlight.set(client, this.inFlight.get(client)! + 1)
    try {
      return await fn(client)
    } catch (err) {
      if (this.renew && this.clients[i] === client) {
        const fresh = this.renew()
        this.inFlight.set(fresh, 0)
        this.clients[i] = fresh
      }
      throw err
    } finally {
      const left = this.inFlight.get(client)! - 1
      this.inFlight.set(client, left)
      if (left === 0 && !this.clients.includes(client)) {
        this.inFlight.delete(client)
        void (async () => client.close())().catch(() => {})
      }
    }
  }
  async close() {
    await Promise.allSettled(this.clients.map(async (c) => c.close()))
  }
}

export function makeStore(
  kind: Store['kind'],
  config: Config,
  gate: EngineGate,
  query: ClientPool,
  ingest: { close(): Promise<unknown> },
  /** Rows of a SELECT by another path than `query` (the embedded engine's sessions); default through `query`. */
  rowsVia: (<T>(sql: string, params: Params | undefined, lane: Lane) => Promise<T[]>) | undefined,
  insert: (table: string, body: Buffer, format: RowFormat) => Promise<void>,
  /** Settings for result streams only (a server that cannot report a failure mid-stream waits for the end). */
  streamSettings: Record<string, string | number> = {},
): Store {
  const db = config.clickhouse.database
  const timeoutMs = config.storageTimeoutMs
  /**
   * A statement in the caller's lane: through the gate (on the embedded engine only statements
   * with bound parameters, the ones chdb runs one at a time; the rest run beside them), with the
   * lane's engine limits, and a JS deadline a little past the engine's own as the last resort.
   */
  const statement = <T>(params: Params | undefined, fn: (signal: AbortSignal, lane: Lane, settings: Record<string, string | number>) => Promise<T>): Promise<T> => {
    const lane = currentLane()
    const settings: Record<string, string | number> = { ...CLICKHOUSE_SETTINGS, ...laneSettings(config, lane, kind) }
    // The engine checks its limit between blocks of work, so its cancellation can take a while
    // to arrive; the JS deadline gives it room, and only stops waiting for a wedged engine or peer.
    const deadlineMs = Number(settings.max_execution_time) * 2000 + GUARD_SLACK_MS
    const run = () => track(guarded(deadlineMs, (signal) => fn(signal, lane, settings), { ...limitsOf(config, lane), embedded: kind === 'embedded' && lane !== 'internal' }))
    const gated = kind === 'remote' || (params !== undefined && Object.keys(params).length > 0)
    return gated ? gate.runHeld(run, lane) : run().result
  }
  const watchers = new Map<string, Set<(incidents?: ReadonlySet<string>) => () => void>>()
  /** Operations the engine has not finished yet (an answered caller does not mean a finished statement). */
  const inflight = new Set<Promise<void>>()
  const track = <T>(op: { result: Promise<T>; settled: Promise<void> }) => {
    inflight.add(op.settled)
    void op.settled.then(() => inflight.delete(op.settled))
    return op
  }
  /** The insert itself, with its watchers told when it starts and when the engine is done with it (not when the guard gives up). */
  const watched = (table: string, body: Buffer, format: RowFormat, incidents?: ReadonlySet<string>): Promise<void> => {
    const settled = [...(watchers.get(table) ?? [])].map((w) => w(incidents))
    const run = insert(table, body, format)
    if (settled.length) void run.then(() => {}, () => {}).finally(() => settled.forEach((s) => s()))
    return run
  }
  return {
    kind,
    db,
    async rows<T>(sql: string, params?: Params) {
      return statement(params, (abort_signal, lane, clickhouse_settings) =>
        rowsVia
          ? rowsVia<T>(sql, params, lane)
          : query.use(async (c) => {
              const rs = await c.query({ query: sql, query_params: params, format: 'JSONEachRow', abort_signal, clickhouse_settings })
              return (await rs.json()) as T[]
            }),
      )
    },
    async stream(sql: string, params: Params | undefined, format: string) {
      // The deadline covers the query until its first bytes; reading the rest is paced by the client.
      return statement(params, (abort_signal, _lane, clickhouse_settings) =>
        query.use(async (c) => {
          const res = await c.exec({ query: `${sql}\nFORMAT ${format}`, query_params: params, abort_signal, clickhouse_settings: { ...clickhouse_settings, ...streamSettings } })
          const tag = res.response_headers?.[EXCEPTION_TAG_HEADER_NAME]
          return typeof tag === 'string' && tag !== '' ? failOnTrailingException(res.stream as Readable, tag) : (res.stream as Readable)
        }),
      )
    },
    async command(sql: string, params?: Params) {
      await statement(params, (abort_signal, _lane, clickhouse_settings) => query.use((c) => c.command({ query: sql, query_params: params, abort_signal, clickhouse_settings })))
    },
    async insert(table: string, body: Buffer, format = JSON_EACH_ROW, incidents?: ReadonlySet<string>) {
      await track(guarded(timeoutMs, () => watched(table, body, format, incidents))).result
    },
    watchInserts(table, onStart) {
      if (!watchers.has(table)) watchers.set(table, new Set())
      watchers.get(table)!.add(onStart)
      return () => watchers.get(table)?.delete(onStart)
    },
    async ping() {
      try {
        await guard(Math.min(timeoutMs, 5000), async () => {
          // A server's /ping answers without credentials: ask with a SELECT, so a user who cannot query is not "ready".
          const r = await query.use((c) => (kind === 'remote' ? c.ping({ select: true }) : c.ping()))
          if (!r.success) throw r.error
        })
        return true
      } catch {
        return false
      }
    },
    gateStats: () => gate.stats(),
    async close() {
      // Closing a chdb connection under a running statement aborts the whole engine: let what
      // still runs finish (each is bounded by its lane's limits), at most CLOSE_WAIT_MS.
      if (inflight.size > 0) await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())])
      await Promise.allSettled([query.close(), ingest.close()])
    },
  }
}

/** A lane's limits as a reader should see them in a refusal. */
function limitsOf(config: Config, lane: Lane) {
  const s = laneSettings(config, lane, 'embedded')
  return { lane, seconds: Number(s.max_execution_time), memoryBytes: Number(s.max_memory_usage), resultBytes: Number(s.max_result_bytes) }
}

/** ClickHouse error codes of its own limits, and what each means for the reader. */
const LIMIT_ERRORS: Record<number, 'time' | 'memory' | 'result'> = { 159: 'time', 241: 'memory', 158: 'result', 307: 'result', 396: 'result' }

/** The engine stopped a statement at one of its lane's limits: QueryRefused naming the limit, else null. */
function limitRefusal(err: unknown, limits: ReturnType<typeof limitsOf>): QueryRefused | null {
  const raw = (err as { code?: unknown })?.code
  const fromMessage = /Code: (\d+)/.exec(shortMessage(err))?.[1]
  const code = Number(typeof raw === 'string' && /^\d+$/.test(raw) ? raw : (fromMessage ?? Number.NaN))
  const reason = LIMIT_ERRORS[code]
  if (!reason) return null
  const mib = (b: number) => `${Math.round(b / 1024 / 1024)} MiB`
  const what =
    reason === 'time'
      ? `more than ${limits.seconds} s of engine time (AFTERMATH_QUERY_MAX_SECONDS)`
      : reason === 'memory'
        ? `more than ${mib(limits.memoryBytes)} of memory (AFTERMATH_QUERY_MAX_MEMORY_MB)`
        : `a result over ${mib(limits.resultBytes)} (AFTERMATH_QUERY_MAX_RESULT_MB)`
  return new QueryRefused(reason, `this ${limits.lane} read needed ${what} and was stopped; narrow it (a segment filter, a shorter window, a wider bucket) or retry when the server is less busy`, 5)
}

/**
 * Run a storage call with a deadline; a statement stopped at an engine limit becomes
 * QueryRefused, any other failure StorageUnavailableError unless it is a SQL error.
 */
async function guard<T>(timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>, limits?: ReturnType<typeof limitsOf>): Promise<T> {
  return guarded(timeoutMs, fn, limits).result
}

/**
 * `fn` with a deadline: `result` settles at the deadline at the latest; `settled` when the
 * operation itself has (a rejected promise does not stop a chdb statement underneath: the
 * engine gate keeps its place until then).
 */
function guarded<T>(timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>, limits?: ReturnType<typeof limitsOf> & { embedded?: boolean }): { result: Promise<T>; settled: Promise<void> } {
  const controller = new AbortController()
  const op = fn(controller.signal)
  return { result: raceDeadline(timeoutMs, op, controller, limits), settled: op.then(() => {}, () => {}) }
}

async function raceDeadline<T>(timeoutMs: number, op: Promise<T>, controller: AbortController, limits?: ReturnType<typeof limitsOf> & { embedded?: boolean }): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      // In-process there is no transport to lose: a statement past its deadline is one the
      // engine has not stopped yet (it checks its limit between blocks of work), not an outage.
      if (limits?.embedded) reject(new QueryRefused('time', `this ${limits.lane} read ran past its limit of ${limits.seconds} s of engine time (AFTERMATH_QUERY_MAX_SECONDS); narrow it (a segment filter, a shorter window, a wider bucket) or retry when the server is less busy`, 5))
      else reject(new StorageUnavailableError(`storage call timed out after ${timeoutMs} ms`))
    }, timeoutMs)
  })
  try {
    return await Promise.race([op, timeout])
  } catch (err) {
    if (err instanceof StorageUnavailableError || err instanceof QueryRefused) throw err
    const refused = limits && limitRefusal(err, limits)
    if (refused) throw refused
    if (isConnectionError(err)) throw new StorageUnavailableError(`storage unavailable: ${shortMessage(err)}`, { cause: err })
    throw err
  } finally {
    clearTimeout(timer)
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string })?.code
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET'].includes(code)
  ) || /socket hang up|Timeout error|closed/i.test(shortMessage(err))
}

export function shortMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300)
}
