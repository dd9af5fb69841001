import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config.js'
import { openStore } from '../../server/storage/client.js'
import { startChildServer, type ChildServer } from '../helpers/child-server.js'
import { removeDataDir } from '../helpers/db.js'

const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-crash-'))
const env = {
  AFTERMATH_DATA_DIR: dataDir,
  AFTERMATH_TOKENS: 'ingest:crash-ingest-token-0123456789abcdef0123,read:crash-read-token-0123456789abcdef0123',
  CLICKHOUSE_DATABASE: `crash_${process.pid}`,
  AFTERMATH_RATE_LIMIT_RPS: '0',
}
const children: ChildServer[] = []
afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL')
  removeDataDir(dataDir)
})

const body = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({ event_id: `k-${from + i}`, incident_id: 'inc-crash', type: 'access_lost', occurred_at: '2022-04-05T07:38:00Z', tenant_id: `t-${(from + i) % 97}` }),
  ).join('\n')

describe('durability across kill -9', () => {
  it('keeps every acknowledged event when the server is killed right after the acks', async () => {
    const first = await startChildServer(env)
    children.push(first)
    const post = (from: number, n: number) =>
      fetch(`${first.url}/api/v1/events`, {
        method: 'POST',
        body: body(from, n),
        headers: { authorization: 'Bearer crash-ingest-token-0123456789abcdef0123', 'content-type': 'application/x-ndjson' },
      })

    // 8 concurrent requests of 500 events; kill -9 the moment the last one is acknowledged,
    // while a second wave is still in flight (those may or may not survive; no ack was given).
    let acked = 0
    const wave = Array.from({ length: 8 }, (_, k) =>
      post(k * 500, 500).then(async (res) => {
        expect(res.status).toBe(200)
        acked += (await res.json()).accepted
      }),
    )
    await Promise.all(wave)
    const inFlight = Array.from({ length: 4 }, (_, k) => post(100_000 + k * 500, 500).catch(() => null))
    first.child.kill('SIGKILL')
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' })
    await Promise.all(inFlight)
    expect(acked).toBe(4000)

    // Restart on the same data directory, then stop it cleanly and look at what is stored.
    const second = await startChildServer(env)
    children.push(second)
    // Acknowledged events still in the spool at the kill are inserted by the restarted server.
    const spoolDepth = async () =>
      (await (await fetch(`${second.url}/readyz`, { headers: { authorization: 'Bearer crash-read-token-0123456789abcdef0123' } })).json()).spool_events as number
    for (const start = performance.now(); (await spoolDepth()) > 0; ) {
      if (performance.now() - start > 30_000) throw new Error('the spool did not drain after the restart')
      await new Promise((r) => setTimeout(r, 50))
    }
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)

    const store = await openStore(loadConfig({ ...env, AFTERMATH_DEMO: '0' }))
    try {
      const rows = await store.rows<{ n: number }>(
        `SELECT count() AS n FROM ${store.db}.events FINAL WHERE incident_id = 'inc-crash' AND toUInt32(substring(event_id, 3)) < 4000`,
      )
      expect(rows).toEqual([{ n: 4000 }])
    } finally {
      await store.close()
    }
  })
})
