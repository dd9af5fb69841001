import http from 'node:http'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config.js'
import { openStore } from '../../server/storage/client.js'
import { rssMiB, startChildServer, type ChildServer } from '../helpers/child-server.js'
import { removeDataDir } from '../helpers/db.js'

const LINES = 2_000_000
const RSS_LIMIT_MIB = 500

const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-stream-'))
const env = {
  AFTERMATH_DATA_DIR: dataDir,
  AFTERMATH_TOKENS: 'ingest:stream-ingest-token-0123456789abcdef0123',
  CLICKHOUSE_DATABASE: `stream_${process.pid}`,
  AFTERMATH_RATE_LIMIT_RPS: '0',
}
let server: ChildServer | null = null
afterAll(async () => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL')
  removeDataDir(dataDir)
})

/** The NDJSON body, generated as the socket asks for it (never held whole on either side). */
function lazyBody(lines: number): Readable {
  const t0 = Date.parse('2022-04-05T07:38:00Z')
  let i = 0
  return new Readable({
    read() {
      if (i >= lines) return void this.push(null)
      let s = ''
      const end = Math.min(lines, i + 2000)
      for (; i < end; i++) {
        s += `{"event_id":"s-${i}","incident_id":"inc-stream","type":"${i % 2 ? 'access_restored' : 'access_lost'}","occurred_at":"${new Date(t0 + i * 10).toISOString()}","tenant_id":"tenant-${i % 775}"}\n`
        if (i % 100_000 === 99_999) s += '\n' // blank lines are counted in the line numbers, not as events
      }
      this.push(s)
    },
  })
}

describe('streamed NDJSON', () => {
  // Generous timeout: ~20 s on an idle 2-core machine, several times that when it is shared.
  it(`takes ${LINES.toLocaleString('en')} lines in one request with the server's RSS under ${RSS_LIMIT_MIB} MiB`, { timeout: 400_000 }, async () => {
    server = await startChildServer(env)
    const pid = server.pid
    let peakRss = rssMiB(pid)
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, rssMiB(pid))
      } catch {
        // process gone: the assertions below report it
      }
    }, 100)
    const url = new URL('/api/v1/events', server.url)
    const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        headers: { authorization: 'Bearer stream-ingest-token-0123456789abcdef0123', 'content-type': 'application/x-ndjson' }, // chunked: no length known up front
      })
      req.on('response', (res) => {
        let b = ''
        res.on('data', (d: Buffer) => (b += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode!, body: b }))
      })
      req.on('error', reject)
      lazyBody(LINES).pipe(req)
    })
    clearInterval(sampler)
    expect(result.status).toBe(200)
    expect(JSON.parse(result.body)).toEqual({ accepted: LINES, rejected: 0, errors: [] })
    expect(peakRss).toBeLessThan(RSS_LIMIT_MIB)
    console.log(`2M-line NDJSON request: server peak RSS ${peakRss.toFixed(0)} MiB`)

    server.child.kill('SIGTERM')
    const exit = await server.exited
    expect(exit, server.output().slice(-3000)).toEqual({ code: 0, signal: null })
    const store = await openStore(loadConfig({ ...env, AFTERMATH_DEMO: '0' }))
    try {
      expect(await store.rows(`SELECT count() AS n, uniqExact(event_id) AS u FROM ${store.db}.events FINAL`)).toEqual([{ n: LINES, u: LINES }])
    } finally {
      await store.close()
    }
  })
})
