/**
 * The Grafana panels of docs/grafana.md on the benchmark incident of bench/queries.ts (its shape,
 * --events its size): each query as Grafana sends it (macros expanded as the plugin expands them,
 * test/helpers/grafana-doc.ts), run on the embedded engine through the store (no HTTP server).
 *
 *   npx tsx bench/grafana.ts [--events 1000000] [--runs 5] [--dir data/bench-grafana-N] [--reuse]
 *
 * Range: the whole incident (first event to 14 days later) at about 1,000 points (Grafana asks
 * for about one point per pixel of a panel's width). Each query: one warm-up run, then --runs timed ones; median and max ms.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadConfig } from '../server/config.js'
import { openStore } from '../server/storage/client.js'
import { migrate } from '../server/storage/migrations.js'
import { expandGrafanaSql, grafanaDocBlocks } from '../test/helpers/grafana-doc.js'
import { generateIncident } from './lib/incident.js'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '5' },
    dir: { type: 'string' },
    reuse: { type: 'boolean', default: false },
  },
})
const events = Number(args.events)
const runs = Number(args.runs)
const dir = args.dir ?? `data/bench-grafana-${events}`
const INCIDENT = 'bench-2022-04'
const BASE_MS = Date.parse('2022-04-05T07:38:00.000Z')
const SPAN_MS = 14 * 86_400_000

async function main() {
  if (!args.reuse) rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const config = loadConfig({
    AFTERMATH_DATA_DIR: dir,
    AFTERMATH_DEMO: '0',
    AFTERMATH_LOG_LEVEL: 'silent',
    AFTERMATH_TOKENS: 'admin:bench-admin-token-0123456789abcdef0123',
    AFTERMATH_STORAGE_TIMEOUT_MS: '600000',
    AFTERMATH_QUERY_MAX_SECONDS: '600',
    CLICKHOUSE_DATABASE: 'bench',
  })
  const store = await openStore(config)
  try {
    await migrate(store)
    const [{ n }] = await store.rows<{ n: number }>(`SELECT count() AS n FROM ${store.db}.events WHERE incident_id = {i:String}`, { i: INCIDENT })
    // The generator's tenants have 9 events each on average (bench/lib/incident.ts): --events is the incident's size.
    if (Number(n) === 0) await generateIncident(store, { incident: INCIDENT, tenants: Math.max(1, Math.round(events / 9)), baseMs: BASE_MS })
    const [stats] = await store.rows<{ events: number; tenants: number; parts: number }>(
      `SELECT (SELECT count() FROM ${store.db}.events) AS events,
              (SELECT uniqExact(tenant_id) FROM ${store.db}.events WHERE tenant_id != '') AS tenants,
              (SELECT count() FROM system.parts WHERE database = {db:String} AND table = 'events' AND active) AS parts`,
      { db: store.db },
    )
    // Grafana's interval for 14 days at 1,000 points (1,209.6 s), rounded as Grafana rounds it: 20 m.
    const intervalMs = 1_200_000
    console.log(`data: ${stats!.events} events, ${stats!.tenants} tenants, ${stats!.parts} active parts of events; range 14 days, $__interval_s = ${intervalMs / 1000}`)
    const ctx = { fromMs: BASE_MS, toMs: BASE_MS + SPAN_MS, intervalMs, vars: { incident: INCIDENT }, db: store.db }
    for (const [name, sql] of grafanaDocBlocks()) {
      if (name === 'user') continue
      const q = expandGrafanaSql(sql, ctx)
      let rows = 0
      const times: number[] = []
      for (let i = 0; i <= runs; i++) {
        const t = performance.now()
        rows = (await store.rows(q)).length
        if (i > 0) times.push(performance.now() - t)
      }
      times.sort((a, b) => a - b)
      console.log(`${name.padEnd(16)} median ${times[Math.floor(times.length / 2)]!.toFixed(0).padStart(6)} ms   max ${times.at(-1)!.toFixed(0).padStart(6)} ms   ${rows} rows`)
    }
  } finally {
    await store.close()
  }
}

await main()
