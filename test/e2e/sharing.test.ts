import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { formatCount, formatPct } from '../../client/format.js'
import { launchBrowser } from '../helpers/browser.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * Sharing (SPEC §8, issue #18) in headless Chromium: the customer status page of a tenant link,
 * the dashboard opened with an incident link, and the admin's share dialog.
 */

const ARTIFACTS = 'test-artifacts'
const MIN_MS = 60_000
const HOUR_MS = 3_600_000
const SHARED = 'e2e-share'
const OTHER = 'e2e-share-other'
const iso = (ms: number) => new Date(ms).toISOString()

/** The customer whose links are tested, and others whose names, ids and messages must never reach that customer's page. */
const ACME = { tenant_id: 'cust-acme-4821', name: 'Acme Rocket Works' }
const OTHERS = [
  { tenant_id: 'cust-zebulon-7713', name: 'Zebulon Quartz Holdings' },
  { tenant_id: 'cust-vandelay-3390', name: 'Vandelay Latex Imports' },
  { tenant_id: 'cust-quuxley-5521', name: 'Quuxley Marmalade GmbH' },
]
const OTHER_MESSAGE = 'Private note for Zebulon only: database 7 restored'

let server: TestServer
let browser: Browser
/** The server's clock runs this far ahead of the real one (links are expired by moving it). */
let clockOffsetMs = 0
const pageErrors: string[] = []
const T0 = Date.now()

async function post(path: string, body: unknown, opts: { token?: string; method?: string; status?: number } = {}) {
  const res = await server.api(path, { token: opts.token ?? TOKENS.ingest, method: opts.method ?? 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  expect(res.status, `${path}: ${text}`).toBe(opts.status ?? 200)
  return text ? JSON.parse(text) : {}
}

interface Created {
  id: string
  token: string
  url: string
  expires_at: string
  tenant_id: string | null
}
const createLink = (body: Record<string, unknown>): Promise<Created> => post('/api/v1/share-links', body, { token: TOKENS.admin, status: 201 })

async function loadData() {
  await post('/api/v1/tenants', [
    { ...ACME, attributes: { tier: 'gold', seats: 40 } },
    ...OTHERS.map((t, i) => ({ ...t, attributes: { tier: i ? 'free' : 'gold', seats: 10 + i } })),
  ])
  const ev = (id: string, type: string, tenant: string | null, atMs: number, extra: Record<string, unknown> = {}) => ({
    event_id: id,
    incident_id: SHARED,
    type,
    ...(tenant ? { tenant_id: tenant } : {}),
    occurred_at: iso(atMs),
    ...extra,
  })
  const [zeb, van, quux] = OTHERS.map((t) => t.tenant_id) as [string, string, string]
  const res = await post('/api/v1/events', [
    ev('s-1', 'access_lost', ACME.tenant_id, T0 - 5 * HOUR_MS),
    ev('s-2', 'communication', ACME.tenant_id, T0 - 4 * HOUR_MS, { channel: 'email', message: 'We are investigating a storage fault affecting your site.' }),
    ev('s-3', 'restore_started', ACME.tenant_id, T0 - 3 * HOUR_MS),
    ev('s-4', 'restore_progress', ACME.tenant_id, T0 - 2 * HOUR_MS, { progress: 0.45 }),
    ev('s-5', 'communication', null, T0 - 90 * MIN_MS, { channel: 'status_page', message: 'Restores are under way for every affected customer.' }),
    ev('s-6', 'access_lost', zeb, T0 - 4 * HOUR_MS),
    ev('s-7', 'communication', zeb, T0 - 3 * HOUR_MS, { channel: 'phone', message: OTHER_MESSAGE }),
    ev('s-8', 'access_lost', van, T0 - 5 * HOUR_MS),
    ev('s-9', 'access_restored', van, T0 - HOUR_MS),
    ev('s-10', 'access_lost', quux, T0 - 2 * HOUR_MS),
    { event_id: 'o-1', incident_id: OTHER, type: 'access_lost', tenant_id: zeb, occurred_at: iso(T0 - 6 * HOUR_MS) },
  ])
  expect(res.rejected).toBe(0)
  await post(`/api/v1/incidents/${SHARED}`, { title: 'Storage outage (share e2e)', status: 'ongoing' }, { method: 'PUT' })
  await post(`/api/v1/incidents/${OTHER}`, { title: 'Unrelated other incident (e2e)', status: 'ongoing' }, { method: 'PUT' })
}

async function newPage(opts: { dark?: boolean } = {}): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: opts.dark ? 'dark' : 'light', timezoneId: 'Europe/Berlin' })
  const page = await context.newPage()
  page.on('pageerror', (err) => pageErrors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(msg.text())
  })
  return { page, context }
}

/** The page's whole markup, scripts' text and attribute values included. */
const html = (page: Page) => page.evaluate(() => document.documentElement.outerHTML)

async function expectNoOtherTenant(page: Page) {
  const markup = await html(page)
  for (const t of OTHERS) {
    expect(markup).not.toContain(t.name)
    expect(markup).not.toContain(t.tenant_id)
  }
  expect(markup).not.toContain(OTHER_MESSAGE)
  expect(markup).not.toContain('Zebulon')
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  server = await startTestServer(testConfig(), { clientDir: 'dist/client', now: () => new Date(Date.now() + clockOffsetMs) })
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

describe('customer status page (/status#token=…)', () => {
  it('shows the tenant its own state, takes the token out of the address bar, and loads none of the dashboard', async () => {
    const link = await createLink({ incident_id: SHARED, tenant_id: ACME.tenant_id, expires_in: '7d' })
    expect(link.url).toBe(`${server.url}/status#token=${link.token}`)
    const { page, context } = await newPage()
    const scripts: string[] = []
    page.on('request', (r) => {
      if (r.resourceType() === 'script') scripts.push(r.url())
    })
    await page.goto(link.url)
    const headline = page.locator('[data-testid="headline"]')
    await expect.poll(() => headline.textContent(), { timeout: 10_000 }).toBe('▼ Your service is down')

    // The token is kept for the tab, not in the address bar.
    expect(page.url()).toBe(`${server.url}/status`)
    expect(await page.evaluate(() => location.href)).not.toContain(link.token)
    expect(await page.evaluate(() => sessionStorage.getItem('aftermath.status-token'))).toBe(link.token)

    // The page says what the API says, in the customer's words.
    const api = (await (await server.api('/api/v1/status', { token: link.token })).json()) as { restore_progress: number; updates: unknown[]; incident: { title: string } }
    expect(await page.locator('[data-testid="incident-title"]').textContent()).toBe('Storage outage (share e2e)')
    expect(await page.locator('[data-testid="incident-status"]').textContent()).toBe('● Ongoing')
    expect(await page.locator('[data-testid="tenant-name"]').textContent()).toBe(`Status for ${ACME.name}`)
    expect(await page.locator('[data-testid="since"]').textContent()).toMatch(/^Down for 5 h( \d+ min)?, since /)
    expect(await page.locator('[data-testid="restore-stage"]').textContent()).toBe('We are restoring your service. 45 % done.')
    expect(await page.locator('[data-testid="restore-progress"]').evaluate((p) => (p as HTMLProgressElement).value)).toBe(Math.round(api.restore_progress * 100))
    // The progress bar is labelled (a <label for> it), so it is announced with its meaning.
    expect(await page.locator('[data-testid="restore-progress"]').evaluate((p) => (p as HTMLProgressElement).labels[0]?.textContent)).toContain('restoring')
    expect(await page.locator('[data-testid="last-update"]').textContent()).toMatch(/^Last update from us 1 h 3\d min ago \(.+\)\.$/)
    const updates = page.locator('[data-testid="updates"] li')
    expect(await updates.count()).toBe(api.updates.length)
    expect(await updates.count()).toBe(2)
    // Newest first; the broadcast is marked as sent to everyone.
    expect(await updates.nth(0).textContent()).toContain('Restores are under way for every affected customer.')
    expect(await updates.nth(0).locator('.tag').textContent()).toBe('To all customers')
    expect(await updates.nth(0).locator('.channel').textContent()).toBe('Status page')
    expect(await updates.nth(1).textContent()).toContain('We are investigating a storage fault affecting your site.')
    expect(await updates.nth(1).locator('.tag').count()).toBe(0)

    // Accessible structure: language, landmarks, one h1, a polite live region.
    expect(await page.getAttribute('html', 'lang')).toBe('en')
    expect(await page.locator('header').count()).toBe(1)
    expect(await page.locator('main').count()).toBe(1)
    expect(await page.locator('h1').count()).toBe(1)
    expect(await page.locator('[aria-live="polite"]').count()).toBe(1)

    await expectNoOtherTenant(page)
    // No dashboard bundle (Chart.js): one small entry and its shared helpers.
    const own = scripts.filter((u) => u.startsWith(server.url))
    expect(own.length).toBeGreaterThan(0)
    expect(own.filter((u) => /\/assets\/index-/.test(u))).toEqual([])
    let bytes = 0
    for (const u of own) bytes += (await (await fetch(u)).arrayBuffer()).byteLength
    expect(bytes).toBeLessThan(40_000)

    await page.screenshot({ path: join(ARTIFACTS, 'status-down-light.png'), fullPage: true })
    await context.close()
  })

  it('follows the incident live: a restore and an update posted to the ingest API show without a reload', async () => {
    const link = await createLink({ incident_id: SHARED, tenant_id: ACME.tenant_id })
    const { page, context } = await newPage({ dark: true })
    await page.goto(link.url)
    await expect.poll(() => page.locator('[data-testid="state"]').getAttribute('data-state'), { timeout: 10_000 }).toBe('down')
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true))

    const started = Date.now()
    await post('/api/v1/events', [
      { event_id: 'live-s-1', incident_id: SHARED, type: 'communication', tenant_id: ACME.tenant_id, channel: 'email', message: 'Your site is back. Sorry for the trouble.', occurred_at: iso(Date.now() - 2000) },
      { event_id: 'live-s-2', incident_id: SHARED, type: 'access_restored', tenant_id: ACME.tenant_id, occurred_at: iso(Date.now() - 1000) },
      // Another customer's news must not reach this page.
      { event_id: 'live-s-3', incident_id: SHARED, type: 'communication', tenant_id: OTHERS[0]!.tenant_id, channel: 'email', message: OTHER_MESSAGE + ' (again)', occurred_at: iso(Date.now() - 1000) },
    ])
    await expect.poll(() => page.locator('[data-testid="headline"]').textContent(), { timeout: 10_000 }).toBe('▲ Your service is restored')
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true)
    expect(await page.locator('[data-testid="restore"]').isHidden()).toBe(true)
    expect(await page.locator('[data-testid="since"]').textContent()).toMatch(/^Total time without service: 5 h( \d+ min)?\.$/)
    expect(await page.locator('[data-testid="updates"] li').first().textContent()).toContain('Your site is back. Sorry for the trouble.')
    expect(await page.locator('[data-testid="last-update"]').textContent()).toMatch(/^Last update from us just now/)
    // The change was announced to assistive technology.
    expect(await page.locator('[data-testid="announce"]').textContent()).toBe('Your service is restored. New update from us.')
    await expectNoOtherTenant(page)
    await page.screenshot({ path: join(ARTIFACTS, 'status-restored-dark.png'), fullPage: true })
    await context.close()
  })

  it('a revoked link says so, at once on an open page and on opening it', async () => {
    const link = await createLink({ incident_id: SHARED, tenant_id: ACME.tenant_id })
    const { page, context } = await newPage()
    await page.goto(link.url)
    await page.locator('[data-testid="headline"]').waitFor()
    expect((await server.api(`/api/v1/share-links/${link.id}`, { token: TOKENS.admin, method: 'DELETE' })).status).toBe(204)
    const problem = page.locator('[data-testid="problem"]')
    await expect.poll(() => problem.getAttribute('data-problem'), { timeout: 10_000 }).toBe('link_revoked')
    expect(await problem.textContent()).toContain('Ask your contact for a new one.')
    await context.close()

    const again = await newPage()
    await again.page.goto(link.url)
    await expect.poll(() => again.page.locator('[data-testid="problem"]').getAttribute('data-problem'), { timeout: 10_000 }).toBe('link_revoked')
    expect(again.page.url()).toBe(`${server.url}/status`)
    await again.context.close()
  })

  it('without a token, or with a token that is no link, the page explains what to do', async () => {
    const { page, context } = await newPage()
    await page.goto(`${server.url}/status`)
    await expect.poll(() => page.locator('[data-testid="problem"]').getAttribute('data-problem')).toBe('no_token')
    expect(await page.locator('h1').textContent()).toBe('This page needs your status link')
    await page.goto(`${server.url}/status#token=shl_${'x'.repeat(32)}`)
    await expect.poll(() => page.locator('[data-testid="problem"]').getAttribute('data-problem')).toBe('invalid')
    await page.screenshot({ path: join(ARTIFACTS, 'status-invalid.png') })
    await context.close()
  })
})

describe('customer status page polling', () => {
  it('waits as long as Retry-After says with the last status still shown, and does not poll while hidden', async () => {
    const link = await createLink({ incident_id: SHARED, tenant_id: ACME.tenant_id })
    const { page, context } = await newPage()
    const requests: number[] = []
    let refuse = 0
    await page.route('**/api/v1/status', async (route) => {
      requests.push(Date.now())
      if (refuse > 0) {
        refuse--
        await route.fulfill({ status: 503, headers: { 'retry-after': '8', 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: 'overloaded', message: 'busy' } }) })
      } else await route.continue()
    })
    await page.goto(link.url)
    const headline = page.locator('[data-testid="headline"]')
    const fresh = page.locator('[data-testid="fresh"]')
    await expect.poll(() => headline.textContent(), { timeout: 10_000 }).toMatch(/^. Your service is/)
    const shown = await headline.textContent()

    refuse = 1
    const before = requests.length
    await expect.poll(() => fresh.textContent(), { timeout: 10_000 }).toMatch(/^○ Reconnecting \(trying again in 8 s\); shown as of /)
    expect(await headline.textContent()).toBe(shown)
    await expect.poll(() => requests.length, { timeout: 15_000 }).toBe(before + 2)
    expect(requests[before + 1]! - requests[before]!).toBeGreaterThanOrEqual(7_900)
    await expect.poll(() => fresh.textContent()).toMatch(/^● Live · checked /)

    // Hidden: no request at all; shown again after the poll fell due: one at once.
    const setHidden = (hidden: boolean) =>
      page.evaluate((h) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => h })
        document.dispatchEvent(new Event('visibilitychange'))
      }, hidden)
    await setHidden(true)
    const quiet = requests.length
    await page.waitForTimeout(7_000)
    expect(requests.length).toBe(quiet)
    await setHidden(false)
    await expect.poll(() => requests.length, { timeout: 1_500 }).toBe(quiet + 1)
    await context.close()
  })
})

describe('dashboard with an incident link', () => {
  it('opens its incident directly, read-only, with no list, no policy editor and no sharing', async () => {
    const link = await createLink({ incident_id: SHARED, expires_in: '30d' })
    expect(link.url).toBe(`${server.url}/#token=${link.token}`)
    const { page, context } = await newPage()
    const refused: string[] = []
    page.on('response', (r) => {
      if (r.status() === 403 || r.status() === 401) refused.push(`${r.status()} ${r.url()}`)
    })
    await page.goto(link.url)
    await page.waitForSelector('[data-view="incident"]')
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/incidents/${SHARED}`)
    expect(page.url()).not.toContain(link.token)

    const note = page.locator('[data-testid="shared-note"]')
    await expect.poll(() => note.textContent()).toMatch(/^Shared view · expires /)
    expect(await note.textContent()).toContain(String(new Date(link.expires_at).getUTCDate()))
    expect(await page.locator('a.back').count()).toBe(0)
    expect(await page.locator('[data-testid="share-button"]').isHidden()).toBe(true)

    // The figures are the incident's, read with the link.
    const summary = (await (await server.api(`/api/v1/incidents/${SHARED}/summary`, { token: link.token })).json()) as { affected: number; down: number; recovery_pct: number | null }
    await expect.poll(() => page.locator('[data-kpi="down"]').textContent(), { timeout: 10_000 }).toBe(formatCount(summary.down))
    expect(await page.locator('[data-kpi="recovery_pct"]').textContent()).toBe(formatPct(summary.recovery_pct))
    await expect.poll(() => page.locator('[data-testid="comm-policy"]').textContent()).toContain('within')
    expect(await page.locator('[data-testid="edit-policy"]').isHidden()).toBe(true)
    await page.screenshot({ path: join(ARTIFACTS, 'incident-shared.png') })

    // There is no list to reach: the brand, the root and another incident all lead back here.
    await page.click('.brand')
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/incidents/${SHARED}`)
    await page.goto(`${server.url}/`)
    await page.waitForSelector('[data-view="incident"]')
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/incidents/${SHARED}`)
    expect(await page.locator('[data-view="list"]').count()).toBe(0)
    await page.goto(`${server.url}/incidents/${OTHER}`)
    await page.waitForSelector('[data-view="incident"]')
    await expect.poll(() => new URL(page.url()).pathname).toBe(`/incidents/${SHARED}`)
    expect(await html(page)).not.toContain('Unrelated other incident')
    // The incident list (403 to the link) was never asked for, so no error was shown for it.
    expect(refused).toEqual([])
    expect(await page.locator('.banner:not([hidden]), .state-error').count()).toBe(0)
    // And the API itself refuses the list and the other incident to this token.
    expect((await server.api('/api/v1/incidents', { token: link.token })).status).toBe(403)
    expect((await server.api(`/api/v1/incidents/${OTHER}/summary`, { token: link.token })).status).toBe(403)
    await context.close()
  })
})

describe('share dialog (admin)', () => {
  it('is not offered to a read token', async () => {
    const { page, context } = await newPage()
    await page.goto(`${server.url}/incidents/${SHARED}#token=${TOKENS.read}`)
    await page.locator('[data-kpi="down"]').waitFor()
    await expect.poll(() => page.locator('[data-testid="comm-policy"]').textContent()).toContain('within')
    expect(await page.locator('[data-testid="share-button"]').isHidden()).toBe(true)
    await context.close()
  })

  it('creates a customer link shown once, lists it with its uses, and revokes it', async () => {
    const { page, context } = await newPage()
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url })
    await page.goto(`${server.url}/incidents/${SHARED}#token=${TOKENS.admin}`)
    const shareButton = page.locator('[data-testid="share-button"]')
    await shareButton.waitFor({ state: 'visible' })
    await shareButton.click()
    const dialog = page.locator('[data-testid="share-dialog"]')
    await expect.poll(() => dialog.evaluate((d) => (d as HTMLDialogElement).open)).toBe(true)
    expect(await dialog.locator('[data-testid="share-expiry"]').inputValue()).toBe('7d')

    // A customer link without a customer is refused in the dialog.
    await dialog.locator('#share-kind-tenant').check()
    await dialog.locator('[data-testid="share-create"]').click()
    await expect.poll(() => dialog.locator('[role="alert"]').textContent()).toContain('Enter the customer’s id')

    await dialog.locator('[data-testid="share-tenant"]').fill(ACME.tenant_id)
    await dialog.locator('[data-testid="share-expiry"]').selectOption('30d')
    await dialog.locator('[data-testid="share-create"]').click()
    const urlField = dialog.locator('[data-testid="share-url"]')
    await urlField.waitFor()
    const url = await urlField.inputValue()
    expect(url).toMatch(new RegExp(`^${server.url.replace(/[.]/g, '\\.')}/status#token=shl_[A-Za-z0-9_-]{32}$`))
    const token = url.split('#token=')[1]!
    expect(await dialog.locator('[data-testid="share-created"]').textContent()).toContain('will not be shown again')

    await dialog.locator('[data-testid="share-copy"]').click()
    await expect.poll(() => dialog.locator('[data-testid="share-copy-status"]').textContent()).toBe('✓ Copied')
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(url)

    // Listed (newest first), without its token.
    const api = (await (await server.api(`/api/v1/share-links?incident_id=${SHARED}`)).json()) as { share_links: { id: string; tenant_id: string | null; status: string; expires_at: string }[] }
    const made = api.share_links[0]!
    expect(made.tenant_id).toBe(ACME.tenant_id)
    expect(Date.parse(made.expires_at) - Date.now()).toBeGreaterThan(29 * 24 * HOUR_MS)
    const row = dialog.locator(`tr[data-link="${made.id}"]`)
    await row.waitFor()
    expect(await row.getAttribute('data-status')).toBe('active')
    expect(await row.locator('td').nth(1).textContent()).toBe(ACME.tenant_id)
    expect(await row.locator('[data-field="uses"]').textContent()).toBe('0')
    await page.screenshot({ path: join(ARTIFACTS, 'share-dialog.png') })

    // The customer opens it; reopened, the dialog counts the use and no longer holds the token.
    const customer = await newPage()
    await customer.page.goto(url)
    await expect.poll(() => customer.page.locator('[data-testid="headline"]').textContent(), { timeout: 10_000 }).toMatch(/Your service is/)
    await dialog.locator('button.close').click()
    await shareButton.click()
    await expect.poll(() => row.locator('[data-field="uses"]').textContent(), { timeout: 10_000 }).not.toBe('0')
    expect(await row.locator('td').nth(4).textContent()).not.toBe('never')
    expect(await dialog.locator('[data-testid="share-created"]').isHidden()).toBe(true)
    expect(await html(page)).not.toContain(token)

    // Revoke (confirmed): the row says so, the API says so, the customer's page says so.
    page.once('dialog', (d) => void d.accept())
    await row.locator('[data-testid="share-revoke"]').click()
    await expect.poll(() => row.getAttribute('data-status')).toBe('revoked')
    expect(await row.locator('[data-testid="share-revoke"]').count()).toBe(0)
    const after = (await (await server.api(`/api/v1/share-links?incident_id=${SHARED}`)).json()) as { share_links: { id: string; status: string }[] }
    expect(after.share_links.find((l) => l.id === made.id)?.status).toBe('revoked')
    await expect.poll(() => customer.page.locator('[data-testid="problem"]').getAttribute('data-problem'), { timeout: 10_000 }).toBe('link_revoked')
    await customer.context.close()

    // A dismissed confirmation revokes nothing.
    await dialog.locator('#share-kind-incident').check()
    await dialog.locator('[data-testid="share-create"]').click()
    const incidentUrl = await dialog.locator('[data-testid="share-url"]').inputValue()
    expect(incidentUrl).toMatch(new RegExp(`^${server.url.replace(/[.]/g, '\\.')}/#token=shl_`))
    const incidentRow = dialog.locator('tbody tr').first()
    await expect.poll(() => incidentRow.locator('td').first().textContent()).toBe('Incident')
    page.once('dialog', (d) => void d.dismiss())
    await incidentRow.locator('[data-testid="share-revoke"]').click()
    await page.waitForTimeout(300)
    expect(await incidentRow.getAttribute('data-status')).toBe('active')
    await context.close()
  })
})

describe('expiry', () => {
  it('an expired link shows the clear message on the status page and returns the dashboard to login with a reason', async () => {
    const tenantLink = await createLink({ incident_id: SHARED, tenant_id: ACME.tenant_id, expires_in: '1m' })
    const incidentLink = await createLink({ incident_id: SHARED, expires_in: '1m' })
    clockOffsetMs += 2 * MIN_MS // the server's clock passes both expiries

    const { page, context } = await newPage()
    await page.goto(tenantLink.url)
    const problem = page.locator('[data-testid="problem"]')
    await expect.poll(() => problem.getAttribute('data-problem'), { timeout: 10_000 }).toBe('link_expired')
    expect(await page.locator('h1').textContent()).toBe('This status link has expired')
    expect(await problem.textContent()).toContain('Ask your contact for a new one.')
    await page.screenshot({ path: join(ARTIFACTS, 'status-expired.png') })

    await page.goto(incidentLink.url)
    await page.waitForSelector('[data-view="login"]')
    await expect.poll(() => page.locator('.login-status').textContent()).toContain('This shared link has expired')
    await context.close()
  })
})
