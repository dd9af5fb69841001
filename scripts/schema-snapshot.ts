/**
 * Regenerate server/storage/schema.sql: migrate a fresh embedded database in a throwaway data
 * directory and write its schema as ClickHouse reports it (server/storage/migrations/snapshot.ts).
 * Run after adding a migration; test/integration/schema-snapshot.test.ts checks the result.
 *
 *   npm run schema:snapshot
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../server/config.js'
import { openStore } from '../server/storage/client.js'
import { migrate } from '../server/storage/migrations.js'
import { SCHEMA_SNAPSHOT_PATH, schemaSnapshot } from '../server/storage/migrations/snapshot.js'

const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-schema-'))
// Not the environment's config: always the embedded engine, whatever CLICKHOUSE_URL says.
const config = loadConfig({ AFTERMATH_DATA_DIR: dataDir, AFTERMATH_DEMO: '0', AFTERMATH_LOG_LEVEL: 'silent', CLICKHOUSE_DATABASE: 'schema_snapshot' })
const store = await openStore(config)
try {
  await migrate(store)
  const out = fileURLToPath(new URL(`../${SCHEMA_SNAPSHOT_PATH}`, import.meta.url))
  writeFileSync(out, await schemaSnapshot(store))
  console.log(`wrote ${SCHEMA_SNAPSHOT_PATH}`)
} finally {
  await store.close()
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
}
