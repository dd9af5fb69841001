import { createHmac } from 'node:crypto'
import { execFile } from 'node:child_process'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * Webhooks (SPEC §6) delivered to a real local receiver: signatures checked with the secret,
 * each tenant reported once per overdue episode, a 500 retried with the same delivery id, no
 * redirect followed, milestones and a stalled recovery reported once, in JSON and Slack form.
 * The server's clock is injected, so alerts are evaluated at chosen moments.
 */
const H = 3_600_000
let clock = Date.parse('2026-03-02T12:00:00.000Z')
let srv: TestServer

interface Received {
  headers: IncomingMessage['headers']
  body: string
}
/** A receiver that answers each request with the next status of `plan` (then 200), and records it. */
async function receiver() {
  const got: Received[] = []
  const plan: number[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      got.push({ headers: req.headers, body })
      const status = plan.shift() ?? 200
      if (status === 302) res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end()
      else res.writeHead(status).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { got, plan, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, close: () => new Promise((r) => server.close(r)) }
}
let rx: Awaited<ReturnType<typeof receiver>>

const post = (path: string, body: unknown, token: string = TOKENS.admin) =>
  srv.api(path, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
const events = (list: { id: string; type: string; tenant?: string; at: number }[]) =>
  post(
    '/api/v1/events',
    list.map((e) => ({ event_id: e.id, incident_id: 'wh', type: e.type, occurred_at: new Date(e.at).toISOString(), ...(e.tenant ? { tenant_id: e.tenant } : {}) })),
    TOKENS.ingest,
  )
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const start = performance.now()
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
/** Check the signature the way a receiver would: HMAC-SHA256(secret, "<t>.<body>"). */
function verified(r: Received, secret: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(r.headers['aftermath-signature']))
  return !!m && createHmac('sha256', secret).update(`${m[1]}.${r.body}`).digest('hex') === m[2]
}

beforeAll(async () => {
  rx = await receiver()
  srv = await startTestServer(testConfig({ alertIntervalMs: 3_600_000, webhookBackoffMs: 50 }, { AFTERMATH_LOG_LEVEL: process.env.LL ?? 'silent' }), { now: () => new Date(clock) })
  expect(
    (
      await events([
        { id: 'a-lost', type: 'access_lost', tenant: 'a', at: clock - 5 * H },
        { id: 'b-lost', type: 'access_lost', tenant: 'b', at: clock - H },
        { id: 'c-lost', type: 'access_lost', tenant: 'c', at: clock - 5 * H },
      ])
    ).status,
  ).toBe(200)
})
afterAll(async () => {
  await srv?.stop()
  await rx?.close()
})

describe('webhooks', () => {
  let hook: { id: string; secret: string }

  it('are managed with an admin token only; only http(s) URLs', async () => {
    for (const token of [TOKENS.read, TOKENS.ingest]) {
      expect((await post('/api/v1/webhooks', { url: rx.url, events: ['tenant.overdue'] }, token)).status).toBe(403)
      expect((await srv.api('/api/v1/webhooks', { token })).status).toBe(403)
      expect((await srv.api('/api/v1/webhooks/x', { method: 'DELETE', token })).status).toBe(403)
    }
    for (const url of ['ftp://example.com/x', 'file:///etc/passwd', 'not a url', 'javascript:alert(1)']) {
      const res = await post('/api/v1/webhooks', { url, events: ['tenant.overdue'] })
      expect([url, res.status]).toEqual([url, 400])
    }
    expect((await post('/api/v1/webhooks', { url: rx.url, events: ['tenant.everything'] })).status).toBe(400)
    const res = await post('/api/v1/webhooks', { url: rx.url, events: ['tenant.overdue'], incident_id: 'wh' })
    expect(res.status).toBe(201)
    hook = await res.json()
    expect(hook.secret).toMatch(/^whsec_/)
    const list = await (await srv.api('/api/v1/webhooks')).json()
    expect(list.webhooks).toEqual([{ id: hook.id, url: rx.url, events: ['tenant.overdue'], incident_id: 'wh', format: 'json', created_at: new Date(clock).toISOString() }])
  })

  it('report each overdue tenant once per overdue episode, signed with the secret', async () => {
    expect(await srv.evaluateAlerts()).toMatchObject({ incidents: 1, deliveries: 1 })
    await until(() => rx.got.length === 1, 'the first delivery')
    const first = rx.got[0]!
    expect(verified(first, hook.secret)).toBe(true)
    expect(verified(first, 'whsec_wrong')).toBe(false)
    const body = JSON.parse(first.body)
    expect(first.headers['aftermath-delivery']).toBe(body.id)
    expect(body).toMatchObject({ type: 'tenant.overdue', incident_id: 'wh' })
    expect(Math.abs(Date.parse(body.created_at) - Date.now())).toBeLessThan(60_000)
    // a and c: lost 5 h ago, no contact within 4 h; b (1 h) is not due yet.
    expect(body.data.tenants.map((t: { tenant_id: string; kind: string; overdue_s: number }) => [t.tenant_id, t.kind, t.overdue_s])).toEqual([
      ['a', 'first_contact', 3600],
      ['c', 'first_contact', 3600],
    ])

    // Nothing new: nothing sent.
    await srv.evaluateAlerts()
    // Three hours later b is overdue too; a and c are the same episodes.
    clock += 3 * H + 1
    await srv.evaluateAlerts()
    await until(() => rx.got.length === 2, 'the delivery for b')
    expect(JSON.parse(rx.got[1]!.body).data.tenants.map((t: { tenant_id: string }) => t.tenant_id)).toEqual(['b'])

    // a is contacted, then goes 24 h without an update: a new episode, reported again.
    expect((await events([{ id: 'a-msg', type: 'communication', tenant: 'a', at: clock }])).status).toBe(200)
    clock += 24 * H + 1000
    await srv.evaluateAlerts()
    await until(() => rx.got.length === 3, 'the second episode of a')
    const again = JSON.parse(rx.got[2]!.body).data.tenants
    expect(again.map((t: { tenant_id: string; kind: string }) => [t.tenant_id, t.kind])).toEqual([['a', 'update']])
    await srv.evaluateAlerts()
    await new Promise((r) => setTimeout(r, 200))
    expect(rx.got).toHaveLength(3)
  })

  it('retry a failed delivery with the same id (a 500, then a redirect, which is not followed), and log each attempt', async () => {
    rx.plan.push(500, 302)
    const before = rx.got.length
    const test = await post(`/api/v1/webhooks/${hook.id}/test`, {})
    expect(test.status).toBe(202)
    const { delivery_id } = await test.json()
    await until(() => rx.got.length === before + 3, 'three attempts')
    expect(rx.got.slice(before).map((r) => r.headers['aftermath-delivery'])).toEqual([delivery_id, delivery_id, delivery_id])
    expect(rx.got.slice(before).every((r) => verified(r, hook.secret))).toBe(true)
    await until(async () => {
      const log = await (await srv.api(`/api/v1/webhooks/${hook.id}/deliveries`)).json()
      return log.deliveries[0]?.status === 'delivered'
    }, 'the delivery log to show it delivered')
    const log = await (await srv.api(`/api/v1/webhooks/${hook.id}/deliveries`)).json()
    expect(log.deliveries[0]).toMatchObject({ id: delivery_id, type: 'webhook.test', status: 'delivered', attempts: 3, last_status: 200, last_error: null })
    expect(log.deliveries.filter((d: { type: string }) => d.type === 'tenant.overdue')).toHaveLength(3)
  })

  it('report milestones and a stalled recovery once each, in Slack form for a Slack hook', async () => {
    const slack = await (await post('/api/v1/webhooks', { url: rx.url, events: ['incident.milestone', 'incident.recovery_stalled'], format: 'slack' })).json()
    // Nobody has been restored since the first loss, 33 h ago: stalled (stall_after 6 h).
    let before = rx.got.length
    await srv.evaluateAlerts()
    await until(() => rx.got.length === before + 1, 'the stall')
    expect(JSON.parse(rx.got.at(-1)!.body).text).toMatch(/Recovery stalled: 3 of 3 tenants down/)
    expect(verified(rx.got.at(-1)!, slack.secret)).toBe(true)
    // Two of three restored: recovery passes 50 %; the stall ends (a new one would start from this restore).
    expect((await events([{ id: 'a-back', type: 'access_restored', tenant: 'a', at: clock - 1000 }, { id: 'b-back', type: 'access_restored', tenant: 'b', at: clock - 500 }])).status).toBe(200)
    before = rx.got.length
    await srv.evaluateAlerts()
    await until(() => rx.got.length === before + 1, 'the milestone')
    expect(JSON.parse(rx.got.at(-1)!.body).text).toMatch(/Recovery reached 50 %/)
    before = rx.got.length
    await srv.evaluateAlerts()
    await new Promise((r) => setTimeout(r, 200))
    expect(rx.got).toHaveLength(before)
    expect((await srv.api(`/api/v1/webhooks/${slack.id}`, { method: 'DELETE' })).status).toBe(204)
    expect((await srv.api(`/api/v1/webhooks/${slack.id}/deliveries`)).status).toBe(404)
  })

  it('are managed from the CLI: add, list, send a test delivery, remove; a non-admin token is refused', async () => {
    const cli = (args: string[], token: string = TOKENS.admin) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'server/cli/main.ts', 'webhooks', ...args, '--url', srv.url, '--token', token], {
        cwd: resolve(import.meta.dirname, '../..'),
        encoding: 'utf8',
      })
    const added = JSON.parse((await cli(['add', rx.url, '--events', 'incident.milestone', '--format', 'slack'])).stdout)
    expect(added).toMatchObject({ url: rx.url, events: ['incident.milestone'], format: 'slack', incident_id: null })
    expect(added.secret).toMatch(/^whsec_/)
    expect(JSON.parse((await cli(['list'])).stdout).webhooks.map((w: { id: string }) => w.id)).toContain(added.id)
    const before = rx.got.length
    const { delivery_id } = JSON.parse((await cli(['test', added.id])).stdout)
    await until(() => rx.got.some((r, i) => i >= before && r.headers['aftermath-delivery'] === delivery_id), 'the test delivery')
    expect(verified(rx.got.find((r) => r.headers['aftermath-delivery'] === delivery_id)!, added.secret)).toBe(true)
    expect((await cli(['remove', added.id])).stdout).toBe(`removed ${added.id}\n`)
    expect(JSON.parse((await cli(['list'])).stdout).webhooks.map((w: { id: string }) => w.id)).not.toContain(added.id)
    const refused = await cli(['list'], TOKENS.read).catch((e: { code: number; stderr: string }) => e)
    expect((refused as { code: number }).code).toBe(2)
    expect((refused as { stderr: string }).stderr).toMatch(/403/)
  })
})
