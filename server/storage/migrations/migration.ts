import type { Store } from '../client.js'

/**
 * Versioned, idempotent schema migrations, applied in order at start. Each is a list of
 * statements; `{db}` is replaced by the configured database name (an identifier checked by
 * config, never user input). Never edit a released migration: add a new one.
 */
export interface Migration {
  version: number
  name: string
  statements: string[]
  /** A step run before the statements (what depends on the target); idempotent. */
  before?: (store: Store) => Promise<void>
  /** Steps that need more than a statement list (run after the statements); idempotent too. */
  run?: (store: Store) => Promise<void>
}

/**
 * Recreate `table` with new settings, keeping its rows: build `<table>_rebuild`, copy, swap the
 * two atomically (EXCHANGE TABLES), drop the old one. `marker` is text of the new definition:
 * a table that has it already is left alone, so a run interrupted anywhere can simply run again.
 */
export async function rebuild(
  store: Store,
  table: string,
  marker: string,
  create: (name: string) => string,
  copy: (from: string, to: string) => string = (from, to) => `INSERT INTO ${to} SELECT * FROM ${from}`,
): Promise<void> {
  const db = store.db
  const tmp = `${table}_rebuild`
  const [def] = await store.rows<{ q: string }>(`SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = {t:String}`, { db, t: table })
  if (!def?.q.includes(marker)) {
    await store.command(`DROP TABLE IF EXISTS ${db}.${tmp}`)
    await store.command(create(tmp).replaceAll('{db}', db))
    await store.command(copy(`${db}.${table}`, `${db}.${tmp}`))
    await store.command(`EXCHANGE TABLES ${db}.${table} AND ${db}.${tmp}`)
  }
  await store.command(`DROP TABLE IF EXISTS ${db}.${tmp}`)
}
