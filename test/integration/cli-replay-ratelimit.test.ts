import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('replay against a rate-limited server', () => {
  let srv: TestServer
  beforeAll(async () => {
    // 2 requests/s per token (4 per 2 s window): a replay of 18 requests at concurrency 4 hits 429s.
    srv = await startTestServer(testConfig({}, { AFTERMATH_RATE_LIMIT_RPS: '2' }))
  })
  afterAll(async () => srv?.stop())

  it('backs off on 429 (honouring Retry-After) and still delivers every event once', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done, reject) => {
      const child = spawn(process.execPath, [
        resolve('bin/aftermath.mjs'), 'replay', 'synthetic', '--incident', 'limited', '--tenants', '300', '--events-per-tenant', '10',
        '--batch-size', '200', '--concurrency', '4', '--url', srv.url, '--token', TOKENS.ingest, '--quiet',
      ])
      let err = ''
      child.stderr.on('data', (d) => (err += d))
      child.on('error', reject)
      child.on('close', (c) => done({ code: c, stderr: err }))
    })
    expect(code).toBe(0)
    const retries = Number(/, ([\d,]+) retries\n/.exec(stderr)?.[1]?.replaceAll(',', '') ?? 0)
    expect(retries).toBeGreaterThan(0)
    const [row] = await srv.store.rows<{ n: number; uniq: number }>(
      `SELECT count() AS n, uniqExact(event_id) AS uniq FROM ${srv.store.db}.events FINAL WHERE incident_id = 'limited'`,
    )
    expect({ n: Number(row!.n), uniq: Number(row!.uniq) }).toEqual({ n: 3010, uniq: 3010 })
  })
})
