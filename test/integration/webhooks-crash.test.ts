import { mkdtempSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { removeDataDir } from '../helpers/db.js'
import { startChildServer, type ChildServer } from '../helpers/child-server.js'

/** The outbox survives kill -9: a delivery that could not be made is made after a restart, with the same id. */
const ADMIN = 'webhook-crash-admin-token-0123456789abcdef'
const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-webhooks-'))
const env = {
  AFTERMATH_DATA_DIR: dataDir,
  AFTERMATH_TOKENS: `admin:${ADMIN}`,
  CLICKHOUSE_DATABASE: 'webhooks',
  AFTERMATH_ALERT_INTERVAL_MS: '200',
  AFTERMATH_WEBHOOK_BACKOFF_MS: '100',
}
let child: ChildServer | null = null
let receiver: Server | null = null
afterAll(async () => {
  if (child && child.child.exitCode === null) child.child.kill('SIGKILL')
  receiver?.close()
  removeDataDir(dataDir)
})

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}
const api = (c: ChildServer, path: string, init: RequestInit = {}) =>
  fetch(`${c.url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } })
async function until<T>(get: () => Promise<T | null | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const start = performance.now()
  for (;;) {
    const v = await get()
    if (v) return v
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('the webhook outbox', () => {
  it('delivers, after kill -9 and a restart, what could not be delivered while the receiver was down, with the same id', async () => {
    const port = await freePort()
    child = await startChildServer(env)
    const hook = await (await api(child, '/api/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: `http://127.0.0.1:${port}/hook`, events: ['tenant.overdue'] }) })).json()
    const lost = { event_id: 'x-lost', incident_id: 'crash-wh', type: 'access_lost', tenant_id: 'x', occurred_at: new Date(Date.now() - 5 * 3_600_000).toISOString() }
    expect((await api(child, '/api/v1/events', { method: 'POST', body: JSON.stringify(lost) })).status).toBe(200)
    // The receiver is down: the delivery is attempted and fails.
    const failed = await until(async () => {
      const log = await (await api(child!, `/api/v1/webhooks/${hook.id}/deliveries`)).json()
      return log.deliveries.find((d: { attempts: number }) => d.attempts >= 1) as { id: string; status: string; last_error: string } | undefined
    }, 'a failed attempt')
    expect(failed.status).toBe('pending')
    expect(failed.last_error).toMatch(/ECONNREFUSED|fetch failed|connect/)

    child.child.kill('SIGKILL')
    await child.exited
    const got: { id: string; body: string }[] = []
    receiver = createHttpServer((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        got.push({ id: String(req.headers['aftermath-delivery']), body })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((r) => receiver!.listen(port, '127.0.0.1', r))
    child = await startChildServer(env)
    await until(async () => got.length > 0, 'the delivery after the restart')
    // At least once, always the same id, and the tenant reported once: nothing re-evaluated into a second delivery.
    await new Promise((r) => setTimeout(r, 1000))
    expect(new Set(got.map((g) => g.id))).toEqual(new Set([failed.id]))
    expect(JSON.parse(got[0]!.body).data.tenants.map((t: { tenant_id: string }) => t.tenant_id)).toEqual(['x'])
    const log = await (await api(child, `/api/v1/webhooks/${hook.id}/deliveries`)).json()
    expect(log.deliveries).toHaveLength(1)
    expect(log.deliveries[0]).toMatchObject({ id: failed.id, status: 'delivered' })
  })
})
