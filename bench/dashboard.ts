/**
 * Dashboard benchmark: time until the incident view of a 100k-customer incident is interactive
 * in headless Chromium (charts drawn, key figures shown, customers table filled, no loading
 * overlay left), served by the real server over HTTP.
 *
 *   npx tsx bench/queries.ts --events 1000000 --dir data/bench-dashboard   # once: generates the data
 *   npm run build && npx tsx bench/dashboard.ts [--dir data/bench-dashboard] [--runs 5] [--out bench/dashboard-results.json]
 *       [--incident bench-2022-04] [--as-of ISO] [--url http://… --token T]
 *
 * Each run opens a fresh browser context (cold page: HTML, JS, then every API request) at
 * as_of = first event + 10 days, as bench/queries.ts does. Reported: median and max over runs of
 * the time from navigation start to the first key figure and to interactive (bench/lib/dashboard.ts).
 * With --url the dashboard of that running server is measured (it must serve dist/client) instead
 * of one booted here on --dir.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { boot, type Running } from '../server/boot.js'
import { loadConfig } from '../server/config.js'
import { launchBrowser } from '../test/helpers/browser.js'
import { dashboardUrl, measureDashboard } from './lib/dashboard.js'

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: 'data/bench-dashboard' },
    runs: { type: 'string', default: '5' },
    out: { type: 'string' },
    incident: { type: 'string', default: 'bench-2022-04' },
    'as-of': { type: 'string', default: new Date(Date.parse('2022-04-05T07:38:00.000Z') + 10 * 86_400_000).toISOString() },
    url: { type: 'string' },
    token: { type: 'string' },
  },
})
const INCIDENT = args.incident!
const AS_OF = args['as-of']!
const TOKEN = args.token ?? 'bench-read-token-123-0123456789abcdef0123'

async function main() {
  if (!existsSync('dist/client/index.html')) throw new Error('build the dashboard first: npm run build')
  let running: Running | null = null
  if (!args.url) {
    const config = loadConfig({
      AFTERMATH_DATA_DIR: args.dir!,
      AFTERMATH_PORT: '0',
      AFTERMATH_DEMO: '0',
      AFTERMATH_LOG_LEVEL: 'silent',
      AFTERMATH_TOKENS: `read:${TOKEN}`,
      AFTERMATH_RATE_LIMIT_RPS: '0',
      CLICKHOUSE_DATABASE: 'bench',
    })
    running = await boot(config, { clientDir: 'dist/client' })
  }
  const serverUrl = args.url ?? running!.url
  const browser = await launchBrowser()
  try {
    let customers: number
    if (running) {
      const [{ n }] = await running.store.rows<{ n: number }>(`SELECT uniqExact(tenant_id) AS n FROM ${running.store.db}.events WHERE incident_id = {i:String} AND tenant_id != ''`, {
        i: INCIDENT,
      })
      if (Number(n) === 0) throw new Error(`no data in ${args.dir}: run bench/queries.ts --dir ${args.dir} first`)
      customers = Number(n)
    } else {
      const res = await fetch(`${serverUrl}/api/v1/incidents/${INCIDENT}/summary?as_of=${encodeURIComponent(AS_OF)}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      if (res.status !== 200) throw new Error(`summary of ${INCIDENT} → ${res.status}`)
      customers = Number(((await res.json()) as { affected: number }).affected)
    }
    console.log(`incident ${INCIDENT}: ${customers} customers, as_of ${AS_OF}`)
    const m = await measureDashboard(browser, dashboardUrl(serverUrl, INCIDENT, AS_OF, TOKEN), Number(args.runs))
    console.log(`warm-up: first figure ${m.warmup.first_figure_ms} ms, interactive ${m.warmup.interactive_ms} ms\n  ${m.warmup_requests.join('\n  ')}`)
    const summary = {
      when: new Date().toISOString(),
      customers,
      as_of: AS_OF,
      // The figures depend on what else the machine runs: record it.
      cpus: cpus().length,
      load_avg_1m: Math.round(loadavg()[0]! * 10) / 10,
      runs: m.runs,
      first_figure_ms_median: m.first_figure_ms_median,
      interactive_ms_median: m.interactive_ms_median,
      interactive_ms_max: m.interactive_ms_max,
    }
    console.log(`first key figure: median ${summary.first_figure_ms_median} ms; interactive: median ${summary.interactive_ms_median} ms, max ${summary.interactive_ms_max} ms`)
    if (args.out) writeFileSync(args.out, JSON.stringify(summary, null, 2) + '\n')
  } finally {
    await browser.close()
    await running?.close()
  }
}

await main()
