import { ClickHouseLogLevel, createClient } from '@clickhouse/client'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startChildServer, type ChildServer } from '../helpers/child-server.js'
import { startClickHouseFront, type ClickHouseFront } from '../helpers/clickhouse-front.js'
import { removeDataDir } from '../helpers/db.js'

/**
 * Durability on a ClickHouse server (CLICKHOUSE_URL, through the HTTP front): every event a server
 * acknowledged is in ClickHouse after a kill -9 of that server (restarted on its data directory,
 * whose spool holds what had not reached ClickHouse), or of ClickHouse itself.
 */
const root = mkdtempSync(join(tmpdir(), 'aftermath-remote-crash-'))
const INGEST = 'rc-ingest-token-0123456789abcdef0123'
const READ = 'rc-read-token-0123456789abcdef0123'
const DB = 'rc'
let front: ClickHouseFront
const servers: ChildServer[] = []
const env = () => ({
  AFTERMATH_DATA_DIR: join(root, 'server'),
  AFTERMATH_TOKENS: `ingest:${INGEST},read:${READ}`,
  CLICKHOUSE_URL: front.url,
  CLICKHOUSE_DATABASE: DB,
  AFTERMATH_RATE_LIMIT_RPS: '0',
  // Storage calls give up soon once ClickHouse is gone, so acknowledgements go on from the spool.
  AFTERMATH_STORAGE_TIMEOUT_MS: '2000',
})
const start = async () => {
  const s = await startChildServer(env())
  servers.push(s)
  return s
}

beforeAll(async () => {
  front = await startClickHouseFront({ dataDir: join(root, 'front') })
}, 60_000)
afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
  await Promise.all(servers.map((s) => s.exited))
  await front?.stop()
  removeDataDir(root)
}, 60_000)

/**
 * Producers posting batches of new events (ids `<prefix>-<producer>-<n>`) until stopped or their
 * server goes away; `acked` holds the ids of every batch answered 200.
 */
function produce(server: ChildServer, incident: string, prefix: string, producers = 4, batch = 200) {
  const acked: string[] = []
  let stopped = false
  const loops = Array.from({ length: producers }, async (_, p) => {
    for (let n = 0; !stopped; n++) {
      const ids = Array.from({ length: batch }, (_, i) => `${prefix}-${p}-${n * batch + i}`)
      const body = ids
        .map((id, i) => JSON.stringify({ event_id: id, incident_id: incident, type: 'access_lost', occurred_at: '2022-04-05T07:38:00.000Z', tenant_id: `t-${(n * batch + i) % 97}` }))
        .join('\n')
      const res = await fetch(`${server.url}/api/v1/events`, { method: 'POST', body, headers: { authorization: `Bearer ${INGEST}`, 'content-type': 'application/x-ndjson' } }).catch(() => null)
      if (!res) return // the server is gone
      const answer = (await res.json().catch(() => null)) as { accepted?: number } | null
      if (res.status === 200 && answer?.accepted === batch) acked.push(...ids)
      else if (res.status !== 503) throw new Error(`unexpected answer ${res.status}: ${JSON.stringify(answer)}`)
    }
  })
  return {
    acked,
    /** Resolves once `n` events are acknowledged. */
    async until(n: number, timeoutMs = 60_000) {
      for (const t = performance.now(); acked.length < n; await new Promise((r) => setTimeout(r, 5))) {
        if (performance.now() - t > timeoutMs) throw new Error(`only ${acked.length} of ${n} events acknowledged within ${timeoutMs} ms`)
      }
    },
    async stop() {
      stopped = true
      await Promise.all(loops)
    },
  }
}

async function spoolDrained(server: ChildServer, timeoutMs = 60_000): Promise<void> {
  for (const t = performance.now(); ; await new Promise((r) => setTimeout(r, 100))) {
    const res = await fetch(`${server.url}/readyz`, { headers: { authorization: `Bearer ${READ}` } })
    const body = (await res.json()) as { spool_events: number; storage: string }
    if (body.spool_events === 0 && body.storage === 'ok') return
    if (performance.now() - t > timeoutMs) throw new Error(`spool not drained within ${timeoutMs} ms: ${JSON.stringify(body)}`)
  }
}

/** The event ids of an incident as ClickHouse holds them, read through the front directly. */
async function storedIds(incident: string): Promise<Set<string>> {
  const client = createClient({ url: front.url, log: { level: ClickHouseLogLevel.OFF } })
  try {
    const rs = await client.query({ query: `SELECT event_id FROM ${DB}.events FINAL WHERE incident_id = {incident:String}`, query_params: { incident }, format: 'JSONCompactEachRow' })
    return new Set(((await rs.json()) as [string][]).map(([id]) => id))
  } finally {
    await client.close()
  }
}

describe('kill -9 on a ClickHouse server', () => {
  it('keeps every acknowledged event when the server is killed mid-ingest and restarted on its data directory', async () => {
    const first = await start()
    const producer = produce(first, 'rc-server-kill', 'k')
    await producer.until(3000)
    first.child.kill('SIGKILL')
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' })
    await producer.stop()
    const acked = [...producer.acked]
    const sent = acked.length

    const second = await start()
    await spoolDrained(second)
    const stored = await storedIds('rc-server-kill')
    expect(acked.filter((id) => !stored.has(id))).toEqual([])
    // Nothing but what was sent: acknowledged, or in flight at the kill (a whole batch or none of it).
    expect([...stored].filter((id) => !/^k-[0-3]-\d+$/.test(id))).toEqual([])
    expect(stored.size).toBeGreaterThanOrEqual(sent)
    console.log(`server kill: ${sent} events acknowledged before the kill, ${stored.size} stored`)

    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
  }, 180_000)

  it('keeps every acknowledged event when ClickHouse itself is killed mid-ingest (acks go on from the spool)', async () => {
    const server = await start()
    const producer = produce(server, 'rc-front-kill', 'f')
    await producer.until(2000)
    const port = front.port
    front.kill()
    await front.exited
    const beforeFrontKill = producer.acked.length
    // Acknowledgements go on without ClickHouse: the events are in the server's fsynced spool.
    await producer.until(beforeFrontKill + 2000)
    front = await startClickHouseFront({ dataDir: join(root, 'front'), port })
    await producer.until(producer.acked.length + 1000)
    await producer.stop()
    await spoolDrained(server)

    const stored = await storedIds('rc-front-kill')
    expect(producer.acked.filter((id) => !stored.has(id))).toEqual([])
    expect([...stored].filter((id) => !/^f-[0-3]-\d+$/.test(id))).toEqual([])
    console.log(`ClickHouse kill: ${beforeFrontKill} acknowledged before, ${producer.acked.length} in all, ${stored.size} stored`)
    server.child.kill('SIGTERM')
    expect((await server.exited).code).toBe(0)
  }, 180_000)
})
