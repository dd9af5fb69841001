/**
 * How long the dashboard's incident view takes to become interactive in headless Chromium
 * (bench/dashboard.ts, bench/scale.ts): from navigation start until every chart is drawn, the key
 * figures are shown, the customers table and the worst-hit list are filled and no loading overlay
 * is left. Each load opens a fresh browser context (cold page: HTML, JS, then every API request).
 */
import type { Browser } from 'playwright-core'

export interface DashboardRun {
  first_figure_ms: number
  interactive_ms: number
}

export interface DashboardMeasure {
  /** The warm-up load (not counted): it warms the server's caches and the page cache. */
  warmup: DashboardRun
  /** The API requests of the warm-up load, `start→end ms name` (and the status when not 200). */
  warmup_requests: string[]
  runs: DashboardRun[]
  first_figure_ms_median: number
  interactive_ms_median: number
  interactive_ms_max: number
}

/** The incident view's address on a server: `/incidents/<id>?as_of=…#token=…`. */
export const dashboardUrl = (serverUrl: string, incident: string, asOf: string, token: string) =>
  `${serverUrl}/incidents/${encodeURIComponent(incident)}?as_of=${encodeURIComponent(asOf)}#token=${token}`

/** One warm-up load, then `runs` counted ones of `url`, each in a fresh context. */
export async function measureDashboard(browser: Browser, url: string, runs: number, opts: { timeoutMs?: number } = {}): Promise<DashboardMeasure> {
  const timeout = opts.timeoutMs ?? 60_000
  const counted: DashboardRun[] = []
  let warmup: DashboardRun | null = null
  let warmupRequests: string[] = []
  for (let i = 0; i < runs + 1; i++) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } })
    try {
      const page = await context.newPage()
      await page.goto(url)
      // performance.now() in the page counts from navigation start.
      const first = await page.waitForFunction(() => {
        const t = document.querySelector('[data-kpi="recovery_pct"]')?.textContent
        return t && t !== '—' ? performance.now() : false
      }, undefined, { timeout, polling: 10 })
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
        { timeout, polling: 10 },
      )
      const requests = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((e) => e.name.includes('/api/'))
          .map((e) => e as PerformanceResourceTiming)
          .map((e) => `${Math.round(e.startTime)}→${Math.round(e.responseEnd)} ms ${new URL(e.name).pathname.split('/').slice(-1)[0]}${e.responseStatus && e.responseStatus !== 200 ? ` (${e.responseStatus})` : ''}`),
      )
      const run = { first_figure_ms: Math.round(Number(await first.jsonValue())), interactive_ms: Math.round(Number(await ready.jsonValue())) }
      if (i === 0) {
        warmup = run
        warmupRequests = requests
      } else counted.push(run)
    } finally {
      await context.close()
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return {
    warmup: warmup!,
    warmup_requests: warmupRequests,
    runs: counted,
    first_figure_ms_median: median(counted.map((r) => r.first_figure_ms)),
    interactive_ms_median: median(counted.map((r) => r.interactive_ms)),
    interactive_ms_max: Math.max(...counted.map((r) => r.interactive_ms)),
  }
}
