/**
 * Engine baseline: the rows HTTP ingest stores (bench/ingest-load.ts's events, as `events`
 * table rows serialized as the server does, JSONCompactEachRow) inserted straight into the embedded engine with rawInsert, in
 * 10,000-row inserts one after another on one connection — the engine's own limit for these
 * rows, with nothing of the server in front. Same schema (migrations, fsync on) and a fresh
 * data directory. Prints one JSON line: rows/s and this process's CPU per row.
 *
 *   npx tsx bench/engine-baseline.ts [--seconds 20] [--rows-per-insert 10000]
 *
 * Bodies are serialized before the clock starts (the "raw NDJSON bytes"): only the engine is timed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../server/config.js'
import { openStore } from '../server/storage/client.js'
import { migrate } from '../server/storage/migrations.js'
import { loadEventBodies } from './lib/load-events.js'
import { EVENTS_FORMAT } from '../server/ingest/batcher.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    'rows-per-insert': { type: 'string', default: '10000' },
    /** Distinct bodies cycled through: 20 × 10k = the 200k distinct events ingest-load cycles. */
    bodies: { type: 'string', default: '20' },
  },
})
const seconds = Number(args.seconds)
const rowsPerInsert = Number(args['rows-per-insert'])

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-engine-'))
  const config = loadConfig({ AFTERMATH_DATA_DIR: dataDir, AFTERMATH_DEMO: '0', AFTERMATH_STORAGE_TIMEOUT_MS: '600000' })
  const store = await openStore(config)
  try {
    await migrate(store)
    const table = `${store.db}.events`
    const bodies = loadEventBodies(Number(args.bodies), rowsPerInsert)
    // Warm-up: first parts, engine caches.
    for (let i = 0; i < 2; i++) await store.insert(table, bodies[i % bodies.length]!, EVENTS_FORMAT)

    const insertMs: number[] = []
    let rows = 0
    const cpu0 = process.cpuUsage()
    const start = performance.now()
    const deadline = start + seconds * 1000
    for (let i = 0; performance.now() < deadline; i++) {
      const t = performance.now()
      await store.insert(table, bodies[i % bodies.length]!, EVENTS_FORMAT)
      insertMs.push(performance.now() - t)
      rows += rowsPerInsert
    }
    const elapsedS = (performance.now() - start) / 1000
    const cpu = process.cpuUsage(cpu0)
    const cpuS = (cpu.user + cpu.system) / 1e6
    insertMs.sort((a, b) => a - b)
    console.log(
      JSON.stringify({
        rows_per_s: Math.round(rows / elapsedS),
        rows,
        inserts: insertMs.length,
        rows_per_insert: rowsPerInsert,
        seconds: Number(elapsedS.toFixed(2)),
        insert_ms_p50: Number(insertMs[Math.floor(insertMs.length / 2)]!.toFixed(1)),
        cpu_us_per_row: Number(((cpuS * 1e6) / rows).toFixed(2)),
        cpu_cores_busy: Number((cpuS / elapsedS).toFixed(2)),
      }),
    )
  } finally {
    await store.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
