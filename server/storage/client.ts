import type { Readable } from 'node:stream'
import type { Config } from '../config.js'
import { createDatabaseSql } from './ddl.js'
import { openEmbedded } from './embedded.js'
import type { GateStats } from './lanes.js'
import { openRemote } from './remote.js'
import type { RowFormat } from './row-format.js'

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
  insert(table: string, body: Buffer, format?: RowFormat, incidents?: ReadonlySet<string>): Promise<void>
  /**
   * Be told of every insert into `table` through this store: `onStart` runs as one begins and
   * returns the callback run once it has settled in the engine (committed or failed). The state
   * sync uses it to know when to look for new events. Returns an unsubscribe.
   */
  watchInserts(table: string, onStart: (incidents?: ReadonlySet<string>) => () => void): () => void
  /** True when a trivial query succeeds within the storage timeout. */
  ping(): Promise<boolean>
  /** How busy the engine's lanes are (storage/lanes.ts): what /readyz reports as overload. */
  gateStats(): GateStats
  close(): Promise<void>
}

/**
 * The store config asks for: the embedded engine (chdb, in this process, on config.dataDir), or
 * the ClickHouse server at config.clickhouse.url (embedded.ts, remote.ts); its database created.
 */
export async function openStore(config: Config): Promise<Store> {
  const store = config.clickhouse.url ? await openRemote(config) : openEmbedded(config)
  await store.command(createDatabaseSql(store.db, config.clickhouse.cluster))
  return store
}
