import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client'
import { Readable } from 'node:stream'
import type { Config } from '../config.js'
import { StorageUnavailableError } from '../errors.js'
import type { Store } from './client.js'
import { clusterSettings } from './ddl.js'
import { EngineGate } from './lanes.js'
import { CLICKHOUSE_SETTINGS, ClientPool, GUARD_SLACK_MS, makeStore, queueLimits, shortMessage } from './store.js'

/** Remote servers run statements side by side: this many at once, lanes chosen as on the embedded engine. */
const REMOTE_SLOTS = 8

/** The oldest server release we run against (an LTS with persisted `_block_number`, Map columns, window functions). */
export const MIN_SERVER_VERSION = [25, 3] as const

/** A ClickHouse server at config.clickhouse.url, once its version is known to be recent enough. */
export async function openRemote(config: Config): Promise<Store> {
  const { url, user, password } = config.clickhouse
  // Probe the version with a client that carries none of our settings: a server too old to
  // know them rejects every query that sends them, which would hide the real reason.
  // Its own error log is off: the failure is reported once, as StorageUnavailableError.
  const probe = createClient({ url, username: user, password, request_timeout: config.storageTimeoutMs, log: { level: ClickHouseLogLevel.OFF } })
  let version: number[]
  try {
    version = await checkServerVersion(probe, url!)
  } finally {
    await probe.close()
  }
  return createRemoteStore(config, { serverVersion: version })
}

/** From this release a server reports a failure after the first bytes of a result (X-ClickHouse-Exception-Tag). */
const TAGGED_STREAM_ERRORS = [25, 11] as const
const before = (v: readonly number[], w: readonly number[]) => v[0]! < w[0]! || (v[0] === w[0] && v[1]! < w[1]!)

/**
 * The store over a ClickHouse server at config.clickhouse.url, without the start-up probe
 * (openRemote probes first). Exported so tests can aim the real remote path at a port that
 * refuses or a peer that never answers.
 */
export function createRemoteStore(config: Config, opts: { serverVersion?: readonly number[] } = {}): Store {
  const { url, user, password } = config.clickhouse
  const make = () =>
    createClient({
      url,
      username: user,
      password,
      request_timeout: 2 * config.storageTimeoutMs + GUARD_SLACK_MS,
      clickhouse_settings: {
        ...CLICKHOUSE_SETTINGS,
        ...clusterSettings(config.clickhouse.cluster),
        // A long statement (a derivation part) keeps its connection alive through load balancers that drop idle ones.
        send_progress_in_http_headers: 1,
        http_headers_progress_interval_ms: '10000',
      },
      max_open_connections: 16,
    })
  // One HTTP client multiplexes concurrent queries over its own socket pool.
  const query = new ClientPool([make()])
  const ingest = make()
  const gate = new EngineGate({ slots: REMOTE_SLOTS, queueMs: queueLimits(config) })
  // An older server appends a mid-stream failure to the body as plain text: results that are
  // streamed (exports, the incident log) wait for the end of the statement there, so a failure
  // is an HTTP error status instead (the server buffers the result, spilling to disk).
  const streamSettings: Record<string, number> = opts.serverVersion && before(opts.serverVersion, TAGGED_STREAM_ERRORS) ? { wait_end_of_query: 1 } : {}
  return makeStore(
    'remote',
    config,
    gate,
    query,
    ingest,
    undefined,
    async (table, body, format) => {
      const columns = format.name === 'JSONCompactEachRow' ? ` (${format.columns.join(', ')})` : ''
      const res = await ingest.exec({ query: `INSERT INTO ${table}${columns} FORMAT ${format.name}`, values: Readable.from([body], { objectMode: false }) })
      res.stream.resume()
    },
    streamSettings,
  )
}

async function checkServerVersion(client: ClickHouseClient, url: string): Promise<number[]> {
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
  return [major, minor]
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
