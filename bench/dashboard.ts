/**
 * Dashboard benchmark: time until the incident view of a 100k-customer incident is interactive
 * in headless Chromium (charts drawn, key figures shown, customers table filled, no loading
 * overlay left), served by the real server over HTTP.
 *
 *   npx tsx bench/queries.ts --events 1000000 --dir data/bench-dashboard   # once: generates the data
 *   npm run build && npx tsx bench/dashboard.ts [--dir data/bench-dashboard] [--runs 5] [--out bench/dashboard-results.json]
 *
 * Each run opens a fresh browser context (cold page: HTML, JS, then every API request) at
 * as_of = first event + 10 days, as bench/queries.ts does. Reported: median and max over runs of
 * the time from navigation start to the first key figure and to interactive.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { boot } from '../server/boot.js'
import { loadConfig } from '../server/config.js'
import { launchBrowser } from '../test/helpers/browser.js'

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: 'data/bench-dashboard' },
    runs: { type: 'string', default: '5' },
    out: { type: 'string' },
  },
})
const INCIDENT = 'bench-2022-04'
const AS_OF = new Date(Date.parse('2022-04-05T07:38:00.000Z') + 10 * 86_400_000).toISOString()
const TOKEN = 'bench-read-token-123-0123456789abcdef0123'

async function main() {
  if (!existsSync('dist/client/index.html')) throw new Error('build the dashboard first: npm run build')
  const config = loadConfig({
    AFTERMATH_DATA_DIR: args.dir!,
    AFTERMATH_PORT: '0',
    AFTERMATH_DEMO: '0',
    AFTERMATH_LOG_LEVEL: 'silent',
    AFTERMATH_TOKENS: `read:${TOKEN}`,
    AFTERMATH_RATE_LIMIT_RPS: '0',
    CLICKHOUSE_DATABASE: 'bench',
  })
  const running = await boot(config, { clientDir: 'dist/client' })
  const browser = await launchBrowser()
  try {
    const [{ n }] = await running.store.rows<{ n: number }>(`SELECT uniqExact(tenant_id) AS n FROM ${running.store.db}.events WHERE incident_id = {i:String} AND tenant_id != ''`, {
      i: INCIDENT,
    })
    if (Number(n) === 0) throw new Error(`no data in ${args.dir}: run bench/queries.ts --dir ${args.dir} first`)
    console.log(`incident ${INCIDENT}: ${Number(n)} customers, as_of ${AS_OF}`)
    const url = `${running.url}/incidents/${INCIDENT}?as_of=${encodeURIComponent(AS_OF)}#token=${TOKEN}`
    const runs: { first_figure_ms: number; interactive_ms: number }[] = []
    for (let i = 0; i < Number(args.runs) + 1; i++) {
      const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } })
      const page = await context.newPage()
      await page.goto(url)
      // performance.now() in the page counts from navigation start.
      const first = await page.waitForFunction(() => {
        const t = document.querySelector('[data-kpi="recovery_pct"]')?.textContent
        return t && t !== '—' ? performance.now() : false
      }, undefined, { timeout: 60_000, polling: 10 })
      const ready = await page.waitForFunction(
        () => {
          const view = document.querySelector('[data-view="incident"]')
          const loaded =
            view &&
            !view.classList.contains('busy') &&
            document.querySelectorAll('.chart-box .overlay:not([hidden])').length === 0 &&
            document.querySelectorAll('[data-testid="customers-table"] tbody tr[data-tenant]').length > 0 &&
            document.querySelectorAll('.worst-row').length > 0
          return loaded ? performance.now() : false
        },
        undefined,
        { timeout: 60_000, polling: 10 },
      )
      const requests = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((e) => e.name.includes('/api/'))
          .map((e) => e as PerformanceResourceTiming)
          .map((e) => `${Math.round(e.startTime)}→${Math.round(e.responseEnd)} ms ${new URL(e.name).pathname.split('/').slice(-1)[0]}`),
      )
      const run = { first_figure_ms: Math.round(Number(await first.jsonValue())), interactive_ms: Math.round(Number(await ready.jsonValue())) }
      await context.close()
      // The first run warms the server's caches and the page cache; it is not counted.
      if (i === 0) console.log(`warm-up: first figure ${run.first_figure_ms} ms, interactive ${run.interactive_ms} ms\n  ${requests.join('\n  ')}`)
      else runs.push(run)
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const summary = {
      when: new Date().toISOString(),
      customers: Number(n),
      as_of: AS_OF,
      // The figures depend on what else the machine runs: record it.
      cpus: cpus().length,
      load_avg_1m: Math.round(loadavg()[0]! * 10) / 10,
      runs,
      first_figure_ms_median: median(runs.map((r) => r.first_figure_ms)),
      interactive_ms_median: median(runs.map((r) => r.interactive_ms)),
      interactive_ms_max: Math.max(...runs.map((r) => r.interactive_ms)),
    }
    console.log(`first key figure: median ${summary.first_figure_ms_median} ms; interactive: median ${summary.interactive_ms_median} ms, max ${summary.interactive_ms_max} ms`)
    if (args.out) writeFileSync(args.out, JSON.stringify(summary, null, 2) + '\n')
  } finally {
    await browser.close()
    await running.close()
  }
}

await main()
