import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client'
import { Session } from 'chdb'
import { createChdbConnection, type ChdbConnection } from 'chdb/connection'
import { mkdirSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { Readable } from 'node:stream'
import type { Config } from '../config.js'
import { StorageUnavailableError } from '../errors.js'

/**
 * The text format of an insert's bytes: JSON objects per line, or JSON arrays per line whose
 * values are the listed columns in order (about half the bytes, and cheaper to write and parse).
 * Column names come from fixed lists in the code, never from input.
 */
export type RowFormat = { name: 'JSONEachRow' } | { name: 'JSONCompactEachRow'; columns: readonly string[] }
export const JSON_EACH_ROW: RowFormat = { name: 'JSONEachRow' }

/** Query parameters bound server-side as {name:Type}; never spliced into SQL. */
export type Params = Record<string, unknown>

/**
 * The storage boundary. Every read and write of ClickHouse goes through one of these methods,
 * so the rest of the server never sees which engine is behind it (and tests can inject faults
 * here). Ingest writes use their own connection so dashboard queries never delay an ack.
 */
export interface Store {
  readonly kind: 'embedded' | 'remote'
  /** Database holding the tables; every SQL statement names tables as `${db}.table`. */
  readonly db: string
  /** Rows of a SELECT as objects (small results: summaries, pages). */
  rows<T>(sql: string, params?: Params): Promise<T[]>
  /**
   * The raw bytes of a SELECT in `format` as a stream, for results too large to hold as one
   * buffer. A server streams them as it computes them; the embedded engine hands a result over
   * whole (chdb's connection for @clickhouse/client), which is then passed on in chunks.
   */
  stream(sql: string, params: Params | undefined, format: string): Promise<Readable>
  /** A DDL or other statement without result. */
  command(sql: string, params?: Params): Promise<void>
  /** Insert pre-serialized rows (JSONEachRow unless `format` says otherwise) into `table` on the ingest connection. */
  insert(table: string, body: Buffer, format?: RowFormat): Promise<void>
  /**
   * Be told of every insert into `table` through this store: `onStart` runs as one begins and
   * returns the callback run once it has settled in the engine (committed or failed). The state
   * sync uses it to know when to look for new events. Returns an unsubscribe.
   */
  watchInserts(table: string, onStart: () => () => void): () => void
  /** True when a trivial query succeeds within the storage timeout. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

const CLICKHOUSE_SETTINGS = {
  date_time_output_format: 'iso',
  output_format_json_quote_64bit_integers: 0,
  output_format_json_quote_64bit_floats: 0,
  // No JIT compilation of expressions: the third run of an expression compiles it with LLVM,
  // stalling that query by 20-60 ms, for no measurable gain on these queries afterwards.
  compile_expressions: 0,
} as const

/** The oldest server release we run against (an LTS with persisted `_block_number`, Map columns, window functions). */
export const MIN_SERVER_VERSION = [25, 3] as const

export async function openStore(config: Config): Promise<Store> {
  const store = config.clickhouse.url ? await openRemote(config) : openEmbedded(config)
  await store.command(`CREATE DATABASE IF NOT EXISTS ${store.db}`)
  return store
}

function openEmbedded(config: Config): Store {
  const path = resolve(join(config.dataDir, 'clickhouse'))
  mkdirSync(path, { recursive: true })
  // Connections on one data path run in parallel inside the engine, but each runs one
  // operation at a time: ingest gets its own, so a slow query never delays an acknowledgement.
  // Queries get a small pool; chdb itself runs statements with bound parameters one at a time
  // across the process (two at once clobber each other's parameters in the engine), so the
  // pool only lets the few unparameterized ones (merges) run beside them.
  const connect = () => {
    const connection = createChdbConnection({ path }) as ChdbConnection
    return { connection, client: createClient({ connection: connection as never, clickhouse_settings: CLICKHOUSE_SETTINGS }) }
  }
  // Two ingest connections: the group commit keeps up to two inserts in flight, so one
  // insert's fsync wait (~25 ms) overlaps the other's parsing and sorting.
  const ingest = [connect(), connect()]
  const ingestInFlight = [0, 0]
  const query = new ClientPool(Array.from({ length: config.queryConnections }, () => connect().client))
  const sessions = new ClientPool(Array.from({ length: config.queryConnections }, () => settingsSession(path)))
  const rows = <T>(sql: string, params: Params | undefined) =>
    sessions.use(async (s) => {
      const run = params && Object.keys(params).length > 0 ? s.queryBindAsync(sql, params, { format: 'JSONEachRow' }) : s.queryAsync(sql, { format: 'JSONEachRow' })
      const text = (await run).text()
      return text.length === 0 ? [] : (text.trimEnd().split('\n').map((line) => JSON.parse(line)) as T[])
    })
  const ingestPool = new ClientPool(ingest.map((c) => c.client))
  const closeRest = { close: () => Promise.allSettled([ingestPool.close(), sessions.close()]) }
  return makeStore('embedded', config, query, closeRest, rows, async (table, body, format) => {
    const i = ingestInFlight[0]! <= ingestInFlight[1]! ? 0 : 1
    ingestInFlight[i]!++
    try {
      // Parallel parsing only pays off for bodies far larger than a group commit; it cost ~20% CPU per row here.
      await ingest[i]!.connection.chdb.rawInsert({
        table,
        values: body,
        format: format.name,
        columns: format.name === 'JSONCompactEachRow' ? [...format.columns] : undefined,
        settings: { input_format_parallel_parsing: 0 },
      })
    } finally {
      ingestInFlight[i]!--
    }
  })
}

/**
 * A chdb session for small SELECTs, its settings set once: @clickhouse/client over a chdb
 * connection prefixes every statement with a SET per setting and hands the result over as a
 * stream, ~1-1.5 ms per query, more than a point read in the key-value table takes.
 */
function settingsSession(path: string): Session {
  const session = new Session(path)
  session.query(Object.entries(CLICKHOUSE_SETTINGS).map(([k, v]) => `SET ${k} = ${typeof v === 'string' ? `'${v}'` : v}`).join('; '))
  return session
}

async function openRemote(config: Config): Promise<Store> {
  const { url, user, password } = config.clickhouse
  // Probe the version with a client that carries none of our settings: a server too old to
  // know them rejects every query that sends them, which would hide the real reason.
  // Its own error log is off: the failure is reported once, as StorageUnavailableError.
  const probe = createClient({ url, username: user, password, request_timeout: config.storageTimeoutMs, log: { level: ClickHouseLogLevel.OFF } })
  try {
    await checkServerVersion(probe, url!)
  } finally {
    await probe.close()
  }
  return createRemoteStore(config)
}

/**
 * The store over a ClickHouse server at config.clickhouse.url, without the start-up probe
 * (openStore probes first). Exported so tests can aim the real remote path at a port that
 * refuses or a peer that never answers.
 */
export function createRemoteStore(config: Config): Store {
  const { url, user, password } = config.clickhouse
  const make = () =>
    createClient({
      url,
      username: user,
      password,
      request_timeout: config.storageTimeoutMs,
      clickhouse_settings: CLICKHOUSE_SETTINGS,
      max_open_connections: 16,
    })
  // One HTTP client multiplexes concurrent queries over its own socket pool.
  const query = new ClientPool([make()])
  const ingest = make()
  return makeStore('remote', config, query, ingest, undefined, async (table, body, format) => {
    const columns = format.name === 'JSONCompactEachRow' ? ` (${format.columns.join(', ')})` : ''
    const res = await ingest.exec({ query: `INSERT INTO ${table}${columns} FORMAT ${format.name}`, values: Readable.from([body], { objectMode: false }) })
    res.stream.resume()
  })
}

async function checkServerVersion(client: ClickHouseClient, url: string): Promise<void> {
  let version: string
  try {
    // Plain text, no settings: this must work even against servers too old for anything else.
    const res = await client.query({ query: 'SELECT version()', format: 'TabSeparated', clickhouse_settings: {} })
    version = (await res.text()).trim()
  } catch (err) {
    throw new StorageUnavailableError(`cannot reach ClickHouse at ${redact(url)}: ${shortMessage(err)}`, { cause: err })
  }
  const [major = 0, minor = 0] = version.split('.').map((p) => Number.parseInt(p, 10))
  const [minMajor, minMinor] = MIN_SERVER_VERSION
  if (major < minMajor || (major === minMajor && minor < minMinor)) {
    throw new StorageUnavailableError(
      `ClickHouse server at ${redact(url)} is version ${version}; Aftermath needs ${minMajor}.${minMinor} or newer`,
    )
  }
}

/** Hands each operation to the client (or session) with the fewest operations in flight. */
class ClientPool<C extends { close(): unknown } = ClickHouseClient> {
  private readonly inFlight: number[]
  constructor(private readonly clients: C[]) {
    this.inFlight = clients.map(() => 0)
  }
  async use<T>(fn: (client: C) => Promise<T>): Promise<T> {
    let i = 0
    for (let j = 1; j < this.clients.length; j++) if (this.inFlight[j]! < this.inFlight[i]!) i = j
    this.inFlight[i]!++
    try {
      return await fn(this.clients[i]!)
    } finally {
      this.inFlight[i]!--
    }
  }
  async close() {
    await Promise.allSettled(this.clients.map(async (c) => c.close()))
  }
}

function makeStore(
  kind: Store['kind'],
  config: Config,
  query: ClientPool,
  ingest: { close(): Promise<unknown> },
  /** Rows of a SELECT by another path than `query` (the embedded engine's sessions); default through `query`. */
  rowsVia: (<T>(sql: string, params: Params | undefined) => Promise<T[]>) | undefined,
  insert: (table: string, body: Buffer, format: RowFormat) => Promise<void>,
): Store {
  const db = config.clickhouse.database
  const timeoutMs = config.storageTimeoutMs
  const watchers = new Map<string, Set<() => () => void>>()
  /** The insert itself, with its watchers told when it starts and when the engine is done with it (not when the guard gives up). */
  const watched = (table: string, body: Buffer, format: RowFormat): Promise<void> => {
    const settled = [...(watchers.get(table) ?? [])].map((w) => w())
    const run = insert(table, body, format)
    if (settled.length) void run.then(() => {}, () => {}).finally(() => settled.forEach((s) => s()))
    return run
  }
  return {
    kind,
    db,
    async rows<T>(sql: string, params?: Params) {
      if (rowsVia) return guard(timeoutMs, () => rowsVia<T>(sql, params))
      return guard(timeoutMs, async (abort_signal) => {
        return query.use(async (c) => {
          const rs = await c.query({ query: sql, query_params: params, format: 'JSONEachRow', abort_signal })
          return (await rs.json()) as T[]
        })
      })
    },
    async stream(sql: string, params: Params | undefined, format: string) {
      // The deadline covers the query until its first bytes; reading the rest is paced by the client.
      return guard(timeoutMs, async (abort_signal) => {
        return query.use(async (c) => {
          const res = await c.exec({ query: `${sql}\nFORMAT ${format}`, query_params: params, abort_signal })
          return res.stream as Readable
        })
      })
    },
    async command(sql: string, params?: Params) {
      await guard(timeoutMs, (abort_signal) => query.use((c) => c.command({ query: sql, query_params: params, abort_signal })))
    },
    async insert(table: string, body: Buffer, format = JSON_EACH_ROW) {
      await guard(timeoutMs, () => watched(table, body, format))
    },
    watchInserts(table, onStart) {
      if (!watchers.has(table)) watchers.set(table, new Set())
      watchers.get(table)!.add(onStart)
      return () => watchers.get(table)?.delete(onStart)
    },
    async ping() {
      try {
        await guard(Math.min(timeoutMs, 5000), async () => {
          const r = await query.use((c) => c.ping())
          if (!r.success) throw r.error
        })
        return true
      } catch {
        return false
      }
    },
    async close() {
      await Promise.allSettled([query.close(), ingest.close()])
    },
  }
}

/** Run a storage call with a deadline; any failure becomes StorageUnavailableError unless it is a SQL error. */
async function guard<T>(timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new StorageUnavailableError(`storage call timed out after ${timeoutMs} ms`))
    }, timeoutMs)
  })
  try {
    return await Promise.race([fn(controller.signal), timeout])
  } catch (err) {
    if (err instanceof StorageUnavailableError) throw err
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

function shortMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300)
}

function redact(url: string): string {
  try {
    const u = new URL(url)
    u.password = ''
    u.username = ''
    return u.toString()
  } catch {
    return '<invalid url>'
  }
}
