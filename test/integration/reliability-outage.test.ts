import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Config } from '../../server/config.js'
import { synthetic } from '../../server/scenarios/synthetic.js'
import type { WireEvent } from '../../server/scenarios/types.js'
import type { Store } from '../../server/storage/client.js'
import { createRemoteStore } from '../../server/storage/remote.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { deserializeEvents } from '../../server/ingest/batcher.js'

/**
 * Storage outage through the real remote (HTTP) storage path: mid-run, the events insert is
 * switched to a ClickHouse URL whose peer accepts and never answers, then to a port that
 * refuses connections. Ingest keeps acknowledging into the spool up to its limit, then 503 +
 * Retry-After; no request hangs (the storage timeout turns the hang into a spool write); once
 * storage is back the spool drains in order, and every figure equals that of the same events
 * loaded without an outage.
 */
const REMOTE_TIMEOUT_MS = 300
/** Small enough that the outage overflows it: the spool holds ~1/3 of the outage's events. */
// Rows carry the acceptance stamps (received_at, seq) since the first-copy-wins change: sized so that about 11 batches spool before the 503s (both phases seen).
const SPOOL_MAX_BYTES = 96 * 1024

let mode: 'ok' | 'refused' | 'hang' = 'ok'
/** Where dashboard reads go: the engine, or the peer that never answers. */
let queryMode: 'ok' | 'hang' = 'ok'
let refusedStore: Store
let hangStore: Store
let hangServer: Server
const hangSockets: Socket[] = []
/** Event ids of the outage incident in the order they reached the engine. */
const inserted: string[] = []

const wrapStore = (store: Store): Store => ({
  ...store,
  rows: (sql, params) => (queryMode === 'hang' ? hangStore.rows(sql, params) : store.rows(sql, params)),
  stream: (sql, params, format) => (queryMode === 'hang' ? hangStore.stream(sql, params, format) : store.stream(sql, params, format)),
  async insert(table, body, format) {
    if (table.endsWith('.events') && mode !== 'ok') return (mode === 'refused' ? refusedStore : hangStore).insert(table, body, format)
    await store.insert(table, body, format)
    if (table.endsWith('.events')) for (const e of deserializeEvents(body)) if (e.incident_id === OUTAGE) inserted.push(e.event_id)
  },
})

const OUTAGE = 'inc-outage'
const CLEAN = 'inc-clean'
let srv: TestServer
let config: Config
beforeAll(async () => {
  const closed = createServer()
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
  const closedPort = (closed.address() as { port: number }).port
  await new Promise<void>((r) => closed.close(() => r()))
  hangServer = createServer((s) => {
    hangSockets.push(s) // accept, read, never answer
    s.on('error', () => {})
  })
  await new Promise<void>((r) => hangServer.listen(0, '127.0.0.1', r))
  const hangPort = (hangServer.address() as { port: number }).port

  config = testConfig({ spoolMaxBytes: SPOOL_MAX_BYTES, rateLimitRps: 0, flushIntervalMs: 5, drainIntervalMs: 5 })
  const remote = (port: number): Config => ({ ...config, storageTimeoutMs: REMOTE_TIMEOUT_MS, clickhouse: { ...config.clickhouse, url: `http://127.0.0.1:${port}` } })
  refusedStore = createRemoteStore(remote(closedPort))
  hangStore = createRemoteStore(remote(hangPort))
  srv = await startTestServer(config, { wrapStore })
})
afterAll(async () => {
  await srv?.stop()
  await Promise.allSettled([refusedStore?.close(), hangStore?.close()])
  for (const s of hangSockets) s.destroy()
  hangServer?.close()
})

const scenario = synthetic({ seed: 7, tenants: 300, eventsPerTenant: 8, incidentId: 'x', durationMs: 6 * 3600_000, startMs: Date.parse('2025-06-01T00:00:00Z') })
const eventsOf = (incident: string): WireEvent[] => [...scenario.events({ ordered: true })].map((e) => ({ ...e, incident_id: incident, event_id: `${incident}/${e.event_id}` }))
const BATCH = 50

async function post(lines: WireEvent[]): Promise<{ status: number; ms: number; retryAfter: string | null; body: { accepted?: number } }> {
  const start = performance.now()
  const res = await srv.api('/api/v1/events', { method: 'POST', body: lines.map((e) => JSON.stringify(e)).join('\n'), headers: { 'content-type': 'application/x-ndjson' }, token: TOKENS.ingest })
  return { status: res.status, ms: performance.now() - start, retryAfter: res.headers.get('retry-after'), body: await res.json() }
}
const spoolDepth = async () => ((await (await srv.api('/readyz', { token: TOKENS.read })).json()) as { spool_events: number }).spool_events
async function waitFor(cond: () => Promise<boolean>, timeoutMs = 60_000) {
  const start = performance.now()
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 100))
  }
}
const figures = async (incident: string) => {
  const q = `as_of=2025-06-02T00:00:00Z`
  const get = async (path: string) => (await srv.api(`/api/v1/incidents/${incident}${path}${path.includes('?') ? '&' : '?'}${q}`, { token: TOKENS.read })).json()
  const { incident_id: _s, ...summary } = await get('/summary?weight=seats')
  const tenants = await get('/tenants?limit=1000&sort=tenant_id&order=asc')
  const { incident_id: _r, ...recovery } = await get('/recovery?bucket=10m')
  const comms = await get('/communications?bucket=10m')
  const stored = await srv.store.rows<{ n: number; distinct: number }>(`SELECT count() AS n, uniqExact(event_id) AS distinct FROM ${srv.store.db}.events FINAL WHERE incident_id = {i:String}`, { i: incident })
  return { summary, tenants, recovery, comms, stored: stored[0] }
}

describe('storage outage on the remote path', () => {
  it('acks into the spool through refused and hanging storage, 503 + Retry-After once full, drains in order, and every figure matches a run without the outage', async () => {
    const tenants = [...scenario.tenants()]
    const t = await srv.api('/api/v1/tenants', { method: 'POST', body: JSON.stringify(tenants), headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
    expect(t.status).toBe(200)

    // The reference: the same events, no outage.
    const clean = eventsOf(CLEAN)
    for (let i = 0; i < clean.length; i += BATCH) expect((await post(clean.slice(i, i + BATCH))).status).toBe(200)

    const events = eventsOf(OUTAGE)
    const batches: WireEvent[][] = []
    for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH))
    const third = Math.floor(batches.length / 3)
    const acked: string[] = [] // in ack order
    const spooledAcks: string[] = []
    const refusedLater: WireEvent[][] = []
    const latencies: number[] = []
    const statuses = { ok: 0, spooled: 0, unavailable: 0 }
    for (let b = 0; b < batches.length; b++) {
      if (b === third) {
        // Storage goes away once what came before is stored (acks come from the spool, which
        // inserts in its own time): the outage starts with an empty spool.
        await waitFor(async () => (await spoolDepth()) === 0)
      }
      mode = b < third ? 'ok' : b < third + Math.floor(third / 2) ? 'hang' : b < 2 * third ? 'refused' : 'ok'
      if (b === 2 * third) {
        // Storage is back: wait for the spool to drain before the last third, so it can be checked.
        await waitFor(async () => (await spoolDepth()) === 0)
      }
      const res = await post(batches[b]!)
      latencies.push(res.ms)
      if (res.status === 200) {
        expect(res.body.accepted).toBe(batches[b]!.length)
        const ids = batches[b]!.map((e) => e.event_id)
        acked.push(...ids)
        if (mode === 'ok') statuses.ok++
        else {
          statuses.spooled++
          spooledAcks.push(...ids)
        }
      } else {
        expect(mode).not.toBe('ok')
        expect(res.status).toBe(503)
        expect(Number(res.retryAfter)).toBeGreaterThan(0)
        statuses.unavailable++
        refusedLater.push(batches[b]!)
      }
      if (b === third + 2) expect(await spoolDepth()).toBeGreaterThan(0)
    }
    // Both phases of the outage were seen: acks into the spool, then 503 once it was full.
    expect(statuses.spooled).toBeGreaterThanOrEqual(10)
    expect(statuses.unavailable).toBeGreaterThanOrEqual(3)
    // No request hung: the slowest answer is bounded by storage timeouts (generous for a loaded CI machine), not the client's patience.
    expect(Math.max(...latencies)).toBeLessThan(REMOTE_TIMEOUT_MS * 30)
    // Hanging connections were really opened and left unanswered, by the spool's drain loop:
    // acknowledgements come from the spool and never waited for the hung insert.
    expect(hangSockets.length).toBeGreaterThan(0)
    expect(latencies[third]).toBeLessThan(REMOTE_TIMEOUT_MS)

    // The client resends what got 503 (idempotent); everything lands.
    for (const batch of refusedLater) expect((await post(batch)).status).toBe(200)
    await waitFor(async () => (await spoolDepth()) === 0)

    // The spool drained in ack order.
    const pos = new Map(inserted.map((id, i) => [id, i]))
    const order = spooledAcks.map((id) => pos.get(id))
    expect(order.every((p) => p !== undefined)).toBe(true)
    expect(order).toEqual([...order].sort((a, b) => a! - b!))

    const [outage, reference] = [await figures(OUTAGE), await figures(CLEAN)]
    expect(outage.stored).toEqual({ n: events.length, distinct: events.length })
    expect(outage).toEqual(reference)
    expect(reference.summary.affected).toBe(300)
  })

  it('a dashboard query against storage that never answers gets 503 + Retry-After after the storage timeout, not a hung request', async () => {
    queryMode = 'hang'
    try {
      for (const path of ['/summary', '/tenants', '/tenants.csv']) {
        const start = performance.now()
        const res = await srv.api(`/api/v1/incidents/${CLEAN}${path}`, { token: TOKENS.read })
        const ms = performance.now() - start
        expect([res.status, (await res.json()).error.code], path).toEqual([503, 'storage_unavailable'])
        expect(res.headers.get('retry-after')).toBe('5')
        expect(ms).toBeGreaterThanOrEqual(REMOTE_TIMEOUT_MS - 20)
        expect(ms).toBeLessThan(REMOTE_TIMEOUT_MS * 30)
      }
    } finally {
      queryMode = 'ok'
    }
    // And the same query answers again once storage does.
    expect((await srv.api(`/api/v1/incidents/${CLEAN}/summary`, { token: TOKENS.read })).status).toBe(200)
  })
})
