import { createClient } from '@clickhouse/client'
import { Session } from 'chdb'
import { createChdbConnection, type ChdbConnection } from 'chdb/connection'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Config } from '../config.js'
import type { Params, Store } from './client.js'
import { EngineGate, LANES, type Lane } from './lanes.js'
import { CLICKHOUSE_SETTINGS, ClientPool, laneSettings, makeStore, queueLimits } from './store.js'

/** The embedded engine (chdb) in this process, its data under config.dataDir/clickhouse. */
export function openEmbedded(config: Config): Store {
  const path = resolve(join(config.dataDir, 'clickhouse'))
  mkdirSync(path, { recursive: true, mode: 0o700 })
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
  const query = new ClientPool(
    Array.from({ length: config.queryConnections }, () => connect().client),
    () => connect().client,
  )
  // Sessions for small SELECTs, per lane, each with its lane's limits set once.
  const sessions = Object.fromEntries(
    LANES.map((lane) => {
      const open = () => settingsSession(path, { ...CLICKHOUSE_SETTINGS, ...laneSettings(config, lane) })
      return [lane, new ClientPool([open(), open()], open)]
    }),
  ) as Record<Lane, ClientPool<Session>>
  const rows = <T>(sql: string, params: Params | undefined, lane: Lane) =>
    sessions[lane].use(async (s) => {
      const run = params && Object.keys(params).length > 0 ? s.queryBindAsync(sql, params, { format: 'JSONEachRow' }) : s.queryAsync(sql, { format: 'JSONEachRow' })
      const text = (await run).text()
      return text.length === 0 ? [] : (text.trimEnd().split('\n').map((line) => JSON.parse(line)) as T[])
    })
  const ingestPool = new ClientPool(ingest.map((c) => c.client))
  const closeRest = { close: () => Promise.allSettled([ingestPool.close(), ...LANES.map((l) => sessions[l].close())]) }
  // chdb runs statements with bound parameters one at a time across the process: the gate hands
  // it one at a time itself, so the next one is chosen by lane rather than by arrival.
  const gate = new EngineGate({ slots: 1, queueMs: queueLimits(config) })
  return makeStore('embedded', config, gate, query, closeRest, rows, async (table, body, format) => {
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
function settingsSession(path: string, settings: Record<string, string | number>): Session {
  const session = new Session(path)
  session.query(Object.entries(settings).map(([k, v]) => `SET ${k} = ${typeof v === 'string' ? `'${v}'` : v}`).join('; '))
  return session
}
