import type { Store } from '../client.js'
import type { Migration } from './migration.js'
import { V01_V06 } from './v01-v06.js'
import { V07_V14 } from './v07-v14.js'

export type { Migration } from './migration.js'

/**
 * Every migration in version order, kept in files by range of versions (each under 400 lines): a
 * new one goes at the end of the last file, renamed to its new range, or starts the next file.
 * The schema they build: server/storage/schema.sql (npm run schema:snapshot after adding one).
 */
export const MIGRATIONS: Migration[] = [...V01_V06, ...V07_V14]

/** Apply every migration not applied yet (`upTo`: only those up to that version; tests build old databases with it). */
export async function migrate(store: Store, upTo = Number.POSITIVE_INFINITY): Promise<number[]> {
  await store.command(
    `CREATE TABLE IF NOT EXISTS ${store.db}.schema_migrations (version UInt32, name String, applied_at DateTime DEFAULT now())
     ENGINE = ReplacingMergeTree ORDER BY version`,
  )
  const done = new Set(
    (await store.rows<{ version: number }>(`SELECT version FROM ${store.db}.schema_migrations FINAL`)).map((r) => Number(r.version)),
  )
  const applied: number[] = []
  for (const m of MIGRATIONS) {
    if (done.has(m.version) || m.version > upTo) continue
    await m.before?.(store)
    for (const statement of m.statements) await store.command(statement.replaceAll('{db}', store.db))
    await m.run?.(store)
    await store.command(`INSERT INTO ${store.db}.schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})`, {
      v: m.version,
      n: m.name,
    })
    applied.push(m.version)
  }
  return applied
}
