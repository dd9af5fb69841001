import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { formatCount, formatDuration, formatPct } from '../../client/format.js'
import { createScenario } from '../../server/scenarios/index.js'
import type { TenantMeta, WireEvent } from '../../server/scenarios/types.js'
import { launchBrowser } from '../helpers/browser.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { insertEvents, lost, restored, rowTime } from '../helpers/factories.js'
import type { EventRow } from '../../server/ingest/types.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const ARTIFACTS = 'test-artifacts'
const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
const NOW = Date.now()
const ONGOING = 'e2e-outage'
const RESOLVED = 'e2e-resolved'
/** An incident written with its arrival times (received_at), as a live feed would have: for the forecast's history. */
const FORECAST = 'e2e-forecast'
const XSS_NAME = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
const iso = (ms: number) => new Date(ms).toISOString()

let server: TestServer
let browser: Browser
/** Uncaught errors in any page; every test ends with none. */
const pageErrors: string[] = []

interface Summary {
  as_of: string
  affected: number
  restored: number
  down: number
  recovery_pct: number | null
  downtime_s: { median: number | null; p90: number | null; max: number | null }
  first_contact_latency_s: { median: number | null }
  waiting_first_contact: number
  stale: number
  overdue: number
}

async function api<T>(path: string): Promise<T> {
  const res = await server.api(path, { token: TOKENS.read })
  expect(res.status, `${path} answered ${res.status}`).toBe(200)
  return (await res.json()) as T
}

async function post(path: string, body: unknown, method = 'POST') {
  const res = await server.api(path, { token: TOKENS.ingest, method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  expect(res.status, `${path}: ${text}`).toBe(200)
  return text ? (JSON.parse(text) as { accepted?: number; rejected?: number }) : {}
}

/** An ongoing incident: a synthetic scenario cut at now (so some tenants are still down), plus hand-made tenants. */
async function loadData() {
  const scenario = createScenario('synthetic', { seed: 7, incidentId: ONGOING, tenants: 60, startMs: NOW - 3 * DAY_MS, durationMs: 5 * DAY_MS })
  const events: WireEvent[] = [...scenario.events()].filter((e) => Date.parse(e.occurred_at) <= NOW - 60_000)
  const tenants: TenantMeta[] = [...scenario.tenants()]
  tenants.push(
    { tenant_id: 'x-xss', name: XSS_NAME, attributes: { tier: 'enterprise', region: 'eu', seats: 500 } },
    { tenant_id: 'x-down-1', name: 'Globex Corporation', attributes: { tier: 'premium', region: 'us', seats: 120 } },
    { tenant_id: 'x-down-2', name: 'Initech', attributes: { tier: 'standard', region: 'apac', seats: 40 } },
  )
  events.push(
    { event_id: 'x-1', incident_id: ONGOING, type: 'access_lost', tenant_id: 'x-xss', occurred_at: iso(NOW - 3 * DAY_MS - 2 * HOUR_MS) },
    { event_id: 'x-2', incident_id: ONGOING, type: 'communication', tenant_id: 'x-xss', channel: 'email', message: '<b>bold?</b> <script>window.__xss=3</script>', occurred_at: iso(NOW - 2 * DAY_MS) },
    { event_id: 'x-3', incident_id: ONGOING, type: 'restore_started', tenant_id: 'x-xss', occurred_at: iso(NOW - DAY_MS) },
    { event_id: 'x-4', incident_id: ONGOING, type: 'restore_progress', tenant_id: 'x-xss', progress: 0.4, occurred_at: iso(NOW - 12 * HOUR_MS) },
    { event_id: 'x-5', incident_id: ONGOING, type: 'access_lost', tenant_id: 'x-down-1', occurred_at: iso(NOW - 2 * DAY_MS) },
    { event_id: 'x-6', incident_id: ONGOING, type: 'access_lost', tenant_id: 'x-down-2', occurred_at: iso(NOW - 2 * DAY_MS + HOUR_MS) },
    { event_id: 'x-7', incident_id: ONGOING, type: 'restore_started', tenant_id: 'x-down-2', occurred_at: iso(NOW - DAY_MS) },
  )
  // A small, finished incident from last month.
  const old = NOW - 30 * DAY_MS
  for (let i = 0; i < 5; i++) {
    const t = `r-${i}`
    tenants.push({ tenant_id: t, name: `Resolved customer ${i}`, attributes: { tier: 'free', region: 'us', seats: 5 } })
    events.push(
      { event_id: `r-${i}-0`, incident_id: RESOLVED, type: 'access_lost', tenant_id: t, occurred_at: iso(old + i * 60_000) },
      { event_id: `r-${i}-1`, incident_id: RESOLVED, type: 'communication', tenant_id: t, channel: 'email', occurred_at: iso(old + HOUR_MS) },
      { event_id: `r-${i}-2`, incident_id: RESOLVED, type: 'access_restored', tenant_id: t, occurred_at: iso(old + (i + 2) * HOUR_MS) },
    )
  }
  await post('/api/v1/tenants', tenants)
  // Eight customers lost three days ago, one back every 3 h from two days ago, each event received
  // 5 s after it occurred; one loss reported a day late.
  const stamped = (e: EventRow, lagMs: number) => ({ ...e, incident_id: FORECAST, received_at: rowTime(Date.parse(e.occurred_at.replace(' ', 'T') + 'Z') + lagMs) })
  const forecastRows = Array.from({ length: 8 }, (_, i) => [
    stamped(lost(`f-${i}`, NOW - 3 * DAY_MS + i * 60_000), i === 7 ? DAY_MS : 5000),
    ...(i < 6 ? [stamped(restored(`f-${i}`, NOW - 2 * DAY_MS + i * 3 * HOUR_MS), 5000)] : []),
  ]).flat()
  await insertEvents(server.store, forecastRows)
  const res = await post('/api/v1/events', events)
  expect(res.rejected).toBe(0)
  await post(`/api/v1/incidents/${ONGOING}`, { title: 'Storage cluster outage (e2e)', severity: 'sev1', status: 'ongoing' }, 'PUT')
  await post(`/api/v1/incidents/${RESOLVED}`, { title: 'Login outage last month (e2e)', severity: 'sev3', status: 'resolved' }, 'PUT')
}

async function newPage(opts: { dark?: boolean; timezoneId?: string } = {}): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, colorScheme: opts.dark ? 'dark' : 'light', timezoneId: opts.timezoneId ?? 'UTC' })
  const page = await context.newPage()
  page.on('pageerror', (err) => pageErrors.push(err.message))
  // CSP violations (inline script or style) are reported as console errors. Failed requests
  // (the 401 of a wrong token, a stream cut at teardown) are expected and asserted elsewhere.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(msg.text())
  })
  return { page, context }
}

/** Open a dashboard path logged in through the #token= fragment. */
async function openLoggedIn(path: string, opts: { dark?: boolean; token?: string } = {}) {
  const { page, context } = await newPage(opts)
  await page.goto(`${server.url}${path}#token=${opts.token ?? TOKENS.read}`)
  return { page, context }
}

/**
 * Pixels of a canvas that differ from its top-left (background) pixel and are coloured:
 * axes, grid and text are grey, so only drawn data (lines, bars, areas) counts.
 */
function inkedPixels(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (el) => {
    const c = el as HTMLCanvasElement
    if (c.width === 0 || c.height === 0) return 0
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
    let n = 0
    for (let i = 0; i < d.length; i += 4) {
      const [r, g, b] = [d[i]!, d[i + 1]!, d[i + 2]!]
      const differs = Math.abs(r - d[0]!) + Math.abs(g - d[1]!) + Math.abs(b - d[2]!) > 40
      const coloured = Math.max(r, g, b) - Math.min(r, g, b) > 50
      if (differs && coloured) n++
    }
    return n
  })
}

async function expectChartsDrawn(page: Page) {
  // Loaded: no chart is covered by a loading, empty or error overlay (the forecast's history may
  // rightly be empty: its own test checks it against the API).
  await expect
    .poll(() => page.locator('.chart-box:not(:has(canvas[data-chart="eta-history"])) .overlay:not([hidden])').allInnerTexts(), { timeout: 15_000 })
    .toEqual([])
  for (const chart of ['recovery', 'communications', 'histogram']) {
    await expect.poll(() => inkedPixels(page, `canvas[data-chart="${chart}"]`), { timeout: 15_000, message: `${chart} chart has ink` }).toBeGreaterThan(2000)
  }
}

type ScaleRanges = Record<string, { min: number; max: number }>

/** The ranges of a chart's scales as Chart.js drew them (the charts write them to data-scales on every update). */
async function scaleRanges(page: Page, canvas: string): Promise<ScaleRanges> {
  return JSON.parse((await page.locator(canvas).getAttribute('data-scales')) ?? '{}') as ScaleRanges
}

const text = (page: Page, selector: string) => page.locator(selector).first().innerText()
const shownAsOf = (page: Page) => page.locator('[data-testid="as-of"]').getAttribute('data-as-of')

const KPI_KEYS = ['recovery_pct', 'restored_of_affected', 'down', 'downtime_median', 'downtime_p90', 'downtime_max', 'first_contact_median', 'waiting_first_contact', 'stale', 'overdue']

/** The shown moment and key figures, read in one go (a live update cannot fall between them). */
function shownKpis(page: Page) {
  return page.evaluate((keys) => {
    const out: Record<string, string | null> = { as_of: document.querySelector('[data-testid="as-of"]')?.getAttribute('data-as-of') ?? null }
    for (const k of keys) out[k] = document.querySelector(`[data-kpi="${k}"]`)?.textContent ?? null
    return out
  }, KPI_KEYS)
}

/** The figures shown equal the API summary at the shown moment, formatted as the UI does. */
async function expectKpisMatch(page: Page) {
  const shown = await shownKpis(page)
  expect(shown.as_of).toMatch(/^\d{4}-\d\d-\d\dT/)
  const s = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(shown.as_of!)}&weight=seats`)
  expect(s.as_of).toBe(shown.as_of)
  expect(shown).toEqual({
    as_of: s.as_of,
    recovery_pct: formatPct(s.recovery_pct),
    restored_of_affected: `${formatCount(s.restored)} of ${formatCount(s.affected)} affected customers have access again`,
    down: formatCount(s.down),
    downtime_median: formatDuration(s.downtime_s.median),
    downtime_p90: formatDuration(s.downtime_s.p90),
    downtime_max: formatDuration(s.downtime_s.max),
    first_contact_median: formatDuration(s.first_contact_latency_s.median),
    waiting_first_contact: formatCount(s.waiting_first_contact),
    stale: formatCount(s.stale),
    overdue: formatCount(s.overdue),
  })
  return s
}

/** The overdue panel's total, rows (tenant ids in order) and the moment shown, read in one go. */
function shownOverdue(page: Page) {
  return page.evaluate(() => ({
    as_of: document.querySelector('[data-testid="as-of"]')?.getAttribute('data-as-of') ?? null,
    total: Number(document.querySelector('[data-testid="overdue-total"]')?.getAttribute('data-total') ?? -1),
    ids: [...document.querySelectorAll('[data-testid="overdue-list"] .overdue-row')].map((b) => b.getAttribute('data-tenant')),
  }))
}

/** The panel equals GET …/overdue at the shown moment (polled: a live update may land between reads). */
async function expectOverdueMatch(page: Page) {
  await expect
    .poll(
      async () => {
        const shown = await shownOverdue(page)
        if (!shown.as_of || shown.total < 0) return false
        const api_ = await api<{ total: number; rows: { tenant_id: string }[] }>(`/api/v1/incidents/${ONGOING}/overdue?limit=50&as_of=${encodeURIComponent(shown.as_of)}`)
        return shown.total === api_.total && JSON.stringify(shown.ids) === JSON.stringify(api_.rows.map((r) => r.tenant_id))
      },
      { timeout: 15_000, message: 'the overdue panel equals GET …/overdue at the shown moment' },
    )
    .toBe(true)
  return shownOverdue(page)
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  server = await startTestServer(testConfig(), { clientDir: 'dist/client' })
  await loadData()
  browser = await launchBrowser()
})

afterEach(() => {
  expect(pageErrors).toEqual([])
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

describe('dashboard in headless Chromium', () => {
  it('login form rejects a wrong token with a message, then accepts a valid one and shows the incident list', async () => {
    const { page, context } = await newPage()
    await page.goto(server.url + '/')
    await expect.poll(() => page.locator('[data-view="login"]').count()).toBe(1)
    await page.screenshot({ path: join(ARTIFACTS, 'login.png') })
    await page.fill('#token', 'not-a-real-token')
    await page.click('button[type="submit"]')
    await expect.poll(() => text(page, '.login-status')).toContain('not accepted')
    await page.fill('#token', TOKENS.read)
    await page.click('button[type="submit"]')
    await page.waitForSelector('[data-view="list"] tr[data-incident]')
    expect(await page.evaluate(() => sessionStorage.getItem('aftermath.token'))).toBe(TOKENS.read)
    await context.close()
  })

  it('serves no source maps: the built scripts name none and a .map path is not served', async () => {
    const html = await (await fetch(`${server.url}/`)).text()
    const scripts = [...html.matchAll(/src="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1]!)
    expect(scripts.length).toBeGreaterThan(0)
    for (const path of scripts) {
      expect(await (await fetch(`${server.url}${path}`)).text()).not.toContain('sourceMappingURL')
      const map = await fetch(`${server.url}${path}.map`)
      expect(map.headers.get('content-type') ?? '').not.toMatch(/json/)
      expect(await map.text()).not.toContain('"mappings"')
    }
  })

  it('a #token= login link logs in and removes the token from the address bar', async () => {
    const { page, context } = await openLoggedIn('/')
    await page.waitForSelector('[data-view="list"] tr[data-incident]')
    expect(page.url()).toBe(server.url + '/')
    expect(await page.evaluate(() => location.hash)).toBe('')
    await context.close()
  })

  it('a token the server rejects later sends the viewer back to login with a message', async () => {
    const { page, context } = await newPage()
    await page.goto(`${server.url}/#token=stale-token-value`)
    await page.waitForSelector('[data-view="login"]')
    await expect.poll(() => text(page, '.login-status')).toContain('valid token')
    await context.close()
  })

  it('incident list shows every incident, ongoing first, with the API figures and drawn sparklines', async () => {
    const { page, context } = await openLoggedIn('/')
    await page.waitForSelector('[data-view="list"] tr[data-incident]')
    const { incidents } = await api<{ incidents: { incident_id: string; affected: number; restored: number; recovery_pct: number | null }[] }>('/api/v1/incidents')
    const ids = await page.locator('tr[data-incident]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-incident')))
    expect(ids).toEqual([ONGOING, FORECAST, RESOLVED])
    expect(incidents.map((i) => i.incident_id).sort()).toEqual([ONGOING, FORECAST, RESOLVED].sort())
    for (const inc of incidents) {
      const row = `tr[data-incident="${inc.incident_id}"]`
      expect(await text(page, `${row} [data-field="affected"]`)).toBe(formatCount(inc.affected))
      expect(await text(page, `${row} [data-field="recovery_pct"]`)).toBe(formatPct(inc.recovery_pct))
      await expect.poll(() => inkedPixels(page, `${row} canvas`), { timeout: 10_000 }).toBeGreaterThan(50)
    }
    await page.screenshot({ path: join(ARTIFACTS, 'list.png'), fullPage: true })
    await page.click(`tr[data-incident="${ONGOING}"] a`)
    await page.waitForSelector('[data-view="incident"]')
    expect(new URL(page.url()).pathname).toBe(`/incidents/${ONGOING}`)
    await context.close()
  })

  it('a read refused with 503 + Retry-After is asked again after that wait, and the chart is drawn without an error', async () => {
    const { page, context } = await newPage()
    const asked: number[] = []
    await page.route(/\/api\/v1\/incidents\/[^/]+\/recovery/, async (route) => {
      asked.push(Date.now())
      if (asked.length <= 2) {
        return route.fulfill({
          status: 503,
          headers: { 'content-type': 'application/json', 'retry-after': '1' },
          body: JSON.stringify({ error: { code: 'overloaded', message: 'too many expensive reads right now; retry in 1 s' } }),
        })
      }
      return route.continue()
    })
    await page.goto(`${server.url}/incidents/${ONGOING}#token=${TOKENS.read}`)
    await expectChartsDrawn(page)
    // Two refusals, then the answer: each retry came after the second the server asked for.
    expect(asked.length).toBeGreaterThanOrEqual(3)
    expect(asked[1]! - asked[0]!).toBeGreaterThanOrEqual(950)
    expect(asked[2]! - asked[1]!).toBeGreaterThanOrEqual(950)
    expect(await page.locator('text=too many expensive reads').count()).toBe(0)
    await context.close()
  })

  it('incident view draws every chart and shows KPIs equal to the API summary at the shown moment, in light and dark', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    await expectKpisMatch(page)
    await page.screenshot({ path: join(ARTIFACTS, 'incident-light.png'), fullPage: true })
    await page.screenshot({ path: join(ARTIFACTS, 'incident-light-top.png') })
    await page.locator('.chart-card').nth(1).screenshot({ path: join(ARTIFACTS, 'incident-light-communications.png') })
    await page.locator('.grid2').screenshot({ path: join(ARTIFACTS, 'incident-light-downtime.png') })

    await page.click('#theme-toggle')
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await expectChartsDrawn(page)
    await page.screenshot({ path: join(ARTIFACTS, 'incident-dark.png'), fullPage: true })
    await page.screenshot({ path: join(ARTIFACTS, 'incident-dark-top.png') })
    await context.close()
  })

  it("draws the forecast as it was shown, from the API's ETA history, and says when none was shown", async () => {
    const api = await (await fetch(`${server.url}/api/v1/incidents/${FORECAST}/eta-history`, { headers: { authorization: `Bearer ${TOKENS.read}` } })).json()
    const shown = api.points.filter((p: { eta_at: string | null }) => p.eta_at !== null)
    // Restores every 3 h over a day and a half: a forecast was shown at many moments.
    expect(shown.length).toBeGreaterThan(5)
    const { page, context } = await openLoggedIn(`/incidents/${FORECAST}`)
    const canvas = 'canvas[data-chart="eta-history"]'
    await expect.poll(() => page.locator(canvas).getAttribute('data-series'), { timeout: 15_000 }).toContain('forecast full recovery')
    await expect.poll(() => inkedPixels(page, canvas), { timeout: 15_000, message: 'forecast chart has ink' }).toBeGreaterThan(500)
    expect(await page.locator('.chart-box:has(canvas[data-chart="eta-history"]) .overlay').isHidden()).toBe(true)
    // Its y axis spans every forecast the API gave.
    const y = (await scaleRanges(page, canvas)).y!
    for (const p of shown) expect(Date.parse(p.eta_at) >= y.min && Date.parse(p.eta_at) <= y.max).toBe(true)
    await page.locator('.chart-card:has(canvas[data-chart="eta-history"])').screenshot({ path: join(ARTIFACTS, 'incident-forecast-history.png') })
    await context.close()

    // The resolved incident was loaded through the API a moment ago: at every earlier moment nothing had arrived.
    const resolved = await openLoggedIn(`/incidents/${RESOLVED}`)
    const overlay = resolved.page.locator('.chart-box:has(canvas[data-chart="eta-history"]) .overlay')
    await expect.poll(() => overlay.innerText(), { timeout: 15_000 }).toContain('No forecast was shown')
    await resolved.context.close()
  })

  it("the recovery chart's axis of customers down ends just above the affected count, not at a padded guess", async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    const s = await expectKpisMatch(page)
    const y2 = (await scaleRanges(page, 'canvas[data-chart="recovery"]')).y2!
    expect(y2.min).toBe(0)
    // Room for every affected customer down at once, and no more than a fifth above that.
    expect(y2.max).toBeGreaterThanOrEqual(s.affected)
    expect(y2.max).toBeLessThanOrEqual(1.2 * s.affected)
    await context.close()
  })

  it('recovery chart switches to users (seats) and draws one line per segment', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    await page.locator('.segmented button', { hasText: 'Users (seats)' }).click()
    await expect.poll(() => page.locator('canvas[data-chart="recovery"]').getAttribute('data-series'), { timeout: 10_000 }).toContain('Recovery (% of users (seats))')
    await page.selectOption('select[aria-label="Lines per segment"]', 'tier')
    const want = ['enterprise', 'free', 'premium', 'standard'].map((t) => `tier = ${t}`)
    await expect
      .poll(async () => ((await page.locator('canvas[data-chart="recovery"]').getAttribute('data-series')) ?? '').split('|').filter((x) => x.startsWith('tier = ')).sort(), {
        timeout: 10_000,
      })
      .toEqual(want)
    expect(new URL(page.url()).searchParams.get('group_by')).toBe('tier')
    expect(new URL(page.url()).searchParams.get('unit')).toBe('users')
    await expectChartsDrawn(page)
    await page.locator('.chart-card').first().scrollIntoViewIfNeeded()
    await page.locator('.chart-card').first().screenshot({ path: join(ARTIFACTS, 'incident-segments.png') })
    await context.close()
  })

  it('a segment filter, the time zone toggle and the exports all follow the API', async () => {
    const { page, context } = await newPage({ timezoneId: 'Asia/Kolkata' })
    await page.goto(`${server.url}/incidents/${ONGOING}#token=${TOKENS.read}`)
    await expectChartsDrawn(page)

    // Segment filter → attr.tier=enterprise on every request; the figures are the API's for that segment.
    await page.fill('input[aria-label="Filter attribute name"]', 'tier')
    await page.fill('input[aria-label="Filter attribute value"]', 'enterprise')
    await page.click('.filter-form button[type="submit"]')
    await expect.poll(() => page.locator('.chip').allTextContents()).toEqual(['tier = enterprise✕'])
    expect(new URL(page.url()).searchParams.getAll('attr.tier')).toEqual(['enterprise'])
    await page.waitForFunction(() => !document.querySelector('[data-view="incident"]')!.classList.contains('busy'))
    const shown = await shownKpis(page)
    const seg = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(shown.as_of!)}&attr.tier=enterprise`)
    const all = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(shown.as_of!)}`)
    expect(seg.affected).toBeLessThan(all.affected)
    expect(shown.down).toBe(formatCount(seg.down))
    expect(shown.restored_of_affected).toBe(`${formatCount(seg.restored)} of ${formatCount(seg.affected)} affected customers have access again`)

    // Times: UTC by default, the viewer's zone (here UTC+5:30) on request.
    expect(await text(page, '[data-testid="as-of"]')).toMatch(/ UTC$/)
    await page.click('#tz-toggle')
    await expect.poll(() => text(page, '[data-testid="as-of"]')).toMatch(/ UTC\+5:30$/)
    await page.click('#tz-toggle')

    // Exports: fetched with the token, handed over as downloads, byte-equal to the API's.
    const csvDownload = page.waitForEvent('download')
    await page.click('button:has-text("Customers CSV")')
    const csv = await (await csvDownload).createReadStream()
    const csvText = await new Response(csv as unknown as ReadableStream).text()
    const apiCsv = await server.api(`/api/v1/incidents/${ONGOING}/tenants.csv?attr.tier=enterprise`, { token: TOKENS.read })
    expect(csvText.split('\n')[0]).toBe((await apiCsv.text()).split('\n')[0])
    expect(csvText).toContain('x-xss')
    const mdDownload = page.waitForEvent('download')
    await page.click('button:has-text("Report (Markdown)")')
    const md = await new Response((await (await mdDownload).createReadStream()) as unknown as ReadableStream).text()
    expect(md).toMatch(/^# Storage cluster outage/)
    const pngDownload = page.waitForEvent('download')
    await page.locator('.chart-card').first().locator('button:has-text("PNG")').click()
    const png = Buffer.from(await new Response((await (await pngDownload).createReadStream()) as unknown as ReadableStream).arrayBuffer())
    expect(png.subarray(1, 4).toString()).toBe('PNG')
    expect(png.length).toBeGreaterThan(10_000)
    await context.close()
  })

  it('"Stale after" sets stale_after for the stale figure, kept in the address and across a reload', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    expect(await page.locator('[data-testid="stale-after"]').inputValue()).toBe('')
    const shownDefault = await shownKpis(page)
    const at = encodeURIComponent(shownDefault.as_of!)
    const byDefault = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${at}`)
    expect(await text(page, '[data-kpi="stale"]')).toBe(formatCount(byDefault.stale))

    await page.selectOption('[data-testid="stale-after"]', '4h')
    await expect.poll(() => new URL(page.url()).searchParams.get('stale_after')).toBe('4h')
    await expect.poll(() => page.locator('.kpi-stale .kpi-context').innerText()).toBe('down with no update in 4 h')
    await page.waitForFunction(() => !document.querySelector('[data-view="incident"]')!.classList.contains('busy'))
    const shown = await shownKpis(page)
    const short = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(shown.as_of!)}&stale_after=4h`)
    const long = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(shown.as_of!)}`)
    // The fixture has customers down longer than 4 h without an update but not 24 h: the choice matters.
    expect(short.stale).toBeGreaterThan(long.stale)
    expect(await text(page, '[data-kpi="stale"]')).toBe(formatCount(short.stale))

    await page.reload()
    await expectChartsDrawn(page)
    expect(await page.locator('[data-testid="stale-after"]').inputValue()).toBe('4h')
    await expect.poll(() => page.locator('.kpi-stale .kpi-context').innerText()).toBe('down with no update in 4 h')

    // A past moment (no live stream): the view's own requests carry it.
    const past = new Date(Date.parse(shown.as_of!) - 3_600_000).toISOString()
    await page.goto(`${server.url}/incidents/${ONGOING}?as_of=${encodeURIComponent(past)}&stale_after=4h`)
    await expectChartsDrawn(page)
    const then = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(past)}&stale_after=4h`)
    const thenDefault = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(past)}`)
    expect(then.stale).not.toBe(thenDefault.stale)
    await expect.poll(() => text(page, '[data-kpi="stale"]')).toBe(formatCount(then.stale))
    await context.close()
  })

  it('customers table sorts and searches on the server, in the API order', async () => {
    const asOf = iso(NOW - 6 * HOUR_MS)
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}?as_of=${encodeURIComponent(asOf)}`)
    const rowIds = () => page.locator('[data-testid="customers-table"] tbody tr[data-tenant]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-tenant')))
    const apiIds = async (params: string) =>
      (await api<{ rows: { tenant_id: string }[] }>(`/api/v1/incidents/${ONGOING}/tenants?as_of=${encodeURIComponent(asOf)}&limit=25&${params}`)).rows.map((r) => r.tenant_id)

    // Default: downtime, longest first.
    await expect.poll(rowIds, { timeout: 10_000 }).toEqual(await apiIds('sort=downtime_s&order=desc'))
    await page.click('button[data-sort="tenant_id"]')
    await expect.poll(rowIds).toEqual(await apiIds('sort=tenant_id&order=asc'))
    await page.click('button[data-sort="tenant_id"]')
    await expect.poll(rowIds).toEqual(await apiIds('sort=tenant_id&order=desc'))
    await page.click('button[data-sort="first_contact_latency_s"]')
    await expect.poll(rowIds).toEqual(await apiIds('sort=first_contact_latency_s&order=desc'))
    expect(await page.locator('th[aria-sort="descending"] button[data-sort="first_contact_latency_s"]').count()).toBe(1)

    // Keyboard: a header is a button reachable with Tab and pressed with Enter.
    await page.focus('button[data-sort="max_comm_gap_s"]')
    await page.keyboard.press('Enter')
    await expect.poll(rowIds).toEqual(await apiIds('sort=max_comm_gap_s&order=desc'))

    await page.fill('[data-testid="table-search"]', 'Globex')
    await expect.poll(rowIds).toEqual(await apiIds('sort=max_comm_gap_s&order=desc&q=Globex'))
    expect(await rowIds()).toEqual(['x-down-1'])
    await page.fill('[data-testid="table-search"]', 't0000')
    const expected = await apiIds('sort=max_comm_gap_s&order=desc&q=t0000')
    expect(expected.length).toBeGreaterThan(1)
    await expect.poll(rowIds).toEqual(expected)
    await context.close()
  })

  it('the time slider moves the whole view to the API figures at the chosen as_of; Live returns to now', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    const liveAsOf = await shownAsOf(page)
    await page.locator('[data-testid="time-slider"]').fill('400')
    await expect.poll(async () => (await shownAsOf(page)) !== liveAsOf, { timeout: 10_000 }).toBe(true)
    const asOf = (await shownAsOf(page))!
    expect(new URL(page.url()).searchParams.get('as_of')).toBe(asOf)
    expect(Date.parse(asOf)).toBeLessThan(NOW - DAY_MS)
    await page.waitForFunction(() => !document.querySelector('[data-view="incident"]')!.classList.contains('busy'))
    const s = await expectKpisMatch(page)
    expect(s.as_of).toBe(asOf)
    // The slider's moment differs from now: the figures really changed with it.
    const live = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary?as_of=${encodeURIComponent(liveAsOf!)}`)
    expect(s.restored).not.toBe(live.restored)
    await expectChartsDrawn(page)
    expect(await text(page, '[data-testid="live"]')).toContain('Viewing the past')

    await page.click('[data-testid="live-button"]')
    await expect.poll(async () => Date.parse((await shownAsOf(page)) ?? '0'), { timeout: 10_000 }).toBeGreaterThan(Date.parse(liveAsOf!) - 1)
    expect(new URL(page.url()).searchParams.get('as_of')).toBeNull()
    await context.close()
  })

  it('the overdue panel lists who to contact now as the API does, live and at a past moment', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    const live = await expectOverdueMatch(page)
    // Globex lost access two days ago and was never contacted (first contact due within 4 h).
    expect(live.ids).toContain('x-down-1')
    expect(live.total).toBeGreaterThan(0)
    expect(await page.locator('[data-testid="overdue-list"] [data-tenant="x-down-1"] [data-kind]').getAttribute('data-kind')).toBe('first_contact')
    await page.screenshot({ path: join(ARTIFACTS, 'overdue-panel.png'), fullPage: true })
    await context.close()
    // Two hours after Globex lost access, its first contact was not due yet.
    const past = iso(NOW - 2 * DAY_MS + 2 * HOUR_MS)
    const then = await openLoggedIn(`/incidents/${ONGOING}?as_of=${encodeURIComponent(past)}`)
    await expectChartsDrawn(then.page)
    const shown = await expectOverdueMatch(then.page)
    expect(shown.as_of).toBe(past)
    expect(shown.ids).not.toContain('x-down-1')
    await then.context.close()
  })

  it('the communication policy: read-only with a read token; an admin edits it and the overdue figures follow', async () => {
    const reader = await openLoggedIn(`/incidents/${ONGOING}`)
    await expect.poll(() => text(reader.page, '[data-testid="comm-policy"]')).toContain('within 4h')
    await expect.poll(() => reader.page.locator('[data-testid="edit-policy"]').isHidden()).toBe(true)
    await reader.context.close()

    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`, { token: TOKENS.admin })
    await expectChartsDrawn(page)
    const before = await expectKpisMatch(page)
    await page.locator('[data-testid="edit-policy"]').click()
    await page.selectOption('[data-testid="policy-first-contact"]', '24h')
    await page.selectOption('[data-testid="policy-update-every"]', '3d')
    await page.locator('[data-testid="policy-form"] button[type="submit"]').click()
    await expect.poll(() => text(page, '[data-testid="comm-policy"]'), { timeout: 10_000 }).toContain('within 24h')
    await page.waitForFunction(() => !document.querySelector('[data-view="incident"]')!.classList.contains('busy'))
    const after = await expectKpisMatch(page)
    await expectOverdueMatch(page)
    // A looser policy: fewer customers overdue than before (Globex, two days without contact, still is).
    expect(after.overdue).toBeLessThan(before.overdue)
    expect((await shownOverdue(page)).ids).toContain('x-down-1')
    await context.close()
    await post(`/api/v1/incidents/${ONGOING}`, { comm_policy: { first_contact_within: null, update_every: null } }, 'PUT')
  })

  it('a customer row opens its timeline (chart and ordered events) with the keyboard', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    await page.fill('[data-testid="table-search"]', 'Initech')
    const row = page.locator('[data-testid="customers-table"] tbody tr[data-tenant="x-down-2"]')
    await row.waitFor()
    await row.focus()
    await page.keyboard.press('Enter')
    const dialog = page.locator('[data-testid="drilldown"]')
    await dialog.locator('ol.events li').first().waitFor()
    expect(await dialog.locator('#drill-title').innerText()).toBe('Initech')
    const items = await dialog.locator('ol.events li .ev-type').allInnerTexts()
    expect(items).toEqual(['Lost access', 'Restore started'])
    await expect.poll(() => inkedPixels(page, '[data-testid="drilldown"] canvas')).toBeGreaterThan(500)
    await page.screenshot({ path: join(ARTIFACTS, 'drilldown.png') })
    await page.keyboard.press('Escape')
    await expect.poll(() => dialog.evaluate((d) => (d as HTMLDialogElement).open)).toBe(false)
    await context.close()
  })

  it("a customer's timeline spans its own window: a resolved incident's customer from first to last event, one still down to the moment shown", async () => {
    const drillX = async (page: Page) => {
      await expect.poll(async () => (await scaleRanges(page, '[data-testid="drilldown"] canvas')).x, { timeout: 10_000 }).toBeDefined()
      return (await scaleRanges(page, '[data-testid="drilldown"] canvas')).x!
    }
    const eventSpan = async (incident: string, tenant: string, asOf?: string) => {
      const t = await api<{ events: { occurred_at: string }[] }>(`/api/v1/incidents/${incident}/tenants/${tenant}/timeline${asOf ? `?as_of=${encodeURIComponent(asOf)}` : ''}`)
      const times = t.events.map((e) => Date.parse(e.occurred_at))
      return { first: Math.min(...times), last: Math.max(...times) }
    }

    // Last month's incident: r-4 was down from old + 4 min to old + 6 h; the axis is those hours, not a month up to now.
    const resolved = await openLoggedIn(`/incidents/${RESOLVED}`)
    await resolved.page.locator('.worst-row[data-tenant="r-4"]').click()
    await resolved.page.locator('[data-testid="drilldown"] ol.events li').first().waitFor()
    const r4 = await eventSpan(RESOLVED, 'r-4')
    const x = await drillX(resolved.page)
    const margin = 0.1 * (r4.last - r4.first)
    expect(x.min).toBeLessThanOrEqual(r4.first)
    expect(x.min).toBeGreaterThanOrEqual(r4.first - margin)
    expect(x.max).toBeGreaterThanOrEqual(r4.last)
    expect(x.max).toBeLessThanOrEqual(r4.last + margin)
    await resolved.context.close()

    // Initech is still down six hours ago: its window runs from losing access to that moment.
    const asOf = iso(NOW - 6 * HOUR_MS)
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}?as_of=${encodeURIComponent(asOf)}`)
    await page.fill('[data-testid="table-search"]', 'Initech')
    await page.locator('[data-testid="customers-table"] tbody tr[data-tenant="x-down-2"]').click()
    await page.locator('[data-testid="drilldown"] ol.events li').first().waitFor()
    const initech = await eventSpan(ONGOING, 'x-down-2', asOf)
    const down = await drillX(page)
    const downMargin = 0.1 * (Date.parse(asOf) - initech.first)
    expect(down.min).toBeLessThanOrEqual(initech.first)
    expect(down.min).toBeGreaterThanOrEqual(initech.first - downMargin)
    expect(down.max).toBeGreaterThanOrEqual(Date.parse(asOf))
    expect(down.max).toBeLessThanOrEqual(Date.parse(asOf) + downMargin)
    await context.close()
  })

  it('a tenant name holding markup renders as text, never as HTML', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await page.fill('[data-testid="table-search"]', 'x-xss')
    const cell = page.locator('[data-testid="customers-table"] tr[data-tenant="x-xss"] .cust-name')
    await cell.waitFor()
    expect(await cell.innerText()).toBe(XSS_NAME)
    await page.locator('.worst-row[data-tenant="x-xss"]').waitFor()
    expect(await page.locator('.worst-row[data-tenant="x-xss"] .worst-name').innerText()).toBe(XSS_NAME)
    await page.locator('.worst-row[data-tenant="x-xss"]').click()
    const dialog = page.locator('[data-testid="drilldown"]')
    await dialog.locator('ol.events li').first().waitFor()
    expect(await dialog.locator('#drill-title').innerText()).toBe(XSS_NAME)
    expect(await dialog.locator('.ev-communication .ev-detail').innerText()).toContain('<script>window.__xss=3</script>')
    expect(await page.locator('main img, main script, dialog img, dialog b').count()).toBe(0)
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined()
    await context.close()
  })

  it('an event posted to the ingest API shows in the open live view within 3 seconds, without a reload', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    await page.waitForSelector('[data-view="incident"][data-live="true"]', { timeout: 10_000 })
    const before = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary`)
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true))
    expect(await text(page, '[data-kpi="down"]')).toBe(formatCount(before.down))

    const started = performance.now()
    await post('/api/v1/events', [{ event_id: 'live-1', incident_id: ONGOING, type: 'access_restored', tenant_id: 'x-down-1', occurred_at: iso(Date.now() - 1000) }])
    const after = await api<Summary>(`/api/v1/incidents/${ONGOING}/summary`)
    expect(after.down).toBe(before.down - 1)
    await page.waitForFunction((want) => document.querySelector('[data-kpi="down"]')?.textContent === want, formatCount(after.down), {
      timeout: Math.max(1, 3000 - (performance.now() - started)),
    })
    expect(performance.now() - started).toBeLessThan(3000)
    expect(await text(page, '[data-kpi="recovery_pct"]')).toBe(formatPct(after.recovery_pct))
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true)
    await context.close()
  })

  it('an open customer timeline follows the live incident: a new event shows in it without reopening', async () => {
    const { page, context } = await openLoggedIn(`/incidents/${ONGOING}`)
    await expectChartsDrawn(page)
    await page.waitForSelector('[data-view="incident"][data-live="true"]', { timeout: 10_000 })
    await page.fill('[data-testid="table-search"]', 'Initech')
    await page.locator('[data-testid="customers-table"] tbody tr[data-tenant="x-down-2"]').click()
    const dialog = page.locator('[data-testid="drilldown"]')
    await dialog.locator('ol.events li').first().waitFor()
    expect(await dialog.locator('ol.events li .ev-type').allInnerTexts()).toEqual(['Lost access', 'Restore started'])
    const updates = () => dialog.locator('dt:text-is("Updates received") + dd').innerText()
    expect(await updates()).toBe('0')

    await post('/api/v1/events', [
      { event_id: 'live-drill-1', incident_id: ONGOING, type: 'communication', tenant_id: 'x-down-2', channel: 'email', message: 'We are on it', occurred_at: iso(Date.now() - 1000) },
    ])
    await expect.poll(() => dialog.locator('ol.events li .ev-type').allInnerTexts(), { timeout: 5000 }).toEqual(['Lost access', 'Restore started', 'Update sent'])
    expect(await updates()).toBe('1')
    expect(await dialog.locator('.ev-communication .ev-detail').innerText()).toContain('We are on it')
    // Still the same dialog, still open, focus still inside it.
    expect(await dialog.evaluate((d) => (d as HTMLDialogElement).open && d.contains(document.activeElement))).toBe(true)
    await context.close()
  })
})
