import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startChildServer, type ChildServer } from '../helpers/child-server.js'
import { removeDataDir } from '../helpers/db.js'

/**
 * Tokens never reach the logs: the real server runs as a child process logging every request
 * at `info` to stdout, and its whole output is searched for the token strings afterwards.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-seclog-'))
const INGEST = 'ingest-Zq8wK3pX9vLm2TnR-0123456789abcdef0123'
const READ = 'read-Hy4bN7cD1fGj6KsW-0123456789abcdef0123'
const WRONG = 'wrong-Pq2rS5tU8vWx3YzA'
let child: ChildServer
beforeAll(async () => {
  child = await startChildServer({
    AFTERMATH_DATA_DIR: dataDir,
    AFTERMATH_TOKENS: `ingest:${INGEST},read:${READ}`,
    AFTERMATH_LOG_LEVEL: 'debug', // successful requests are logged at debug
    CLICKHOUSE_DATABASE: `seclog_${process.pid}`,
  })
})
afterAll(async () => {
  if (child && child.child.exitCode === null) {
    child.child.kill('SIGTERM')
    await child.exited
  }
  removeDataDir(dataDir)
})

const event = (id: string) => JSON.stringify({ event_id: id, incident_id: 'inc-log', type: 'access_lost', occurred_at: '2022-04-05T07:38:00Z', tenant_id: 'acme' })

describe('tokens in logs', () => {
  it('no token string appears in the server output, whether sent as a header, in the query string, valid, invalid or of the wrong scope', async () => {
    const requests: [string, RequestInit][] = [
      ['/api/v1/events', { method: 'POST', body: event('l1'), headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` } }],
      ['/api/v1/events', { method: 'POST', body: '{broken', headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` } }],
      ['/api/v1/events', { method: 'POST', body: event('l2'), headers: { 'content-type': 'application/json', authorization: `Bearer ${READ}` } }],
      ['/api/v1/events', { method: 'POST', body: event('l3'), headers: { 'content-type': 'application/json', authorization: `Bearer ${WRONG}` } }],
      [`/api/v1/incidents?token=${READ}`, { headers: { authorization: `Bearer ${READ}` } }],
      [`/api/v1/incidents?token=${WRONG}&access_token=${INGEST}`, {}],
      [`/api/v1/incidents/inc-log/summary?token=${READ}`, { headers: { authorization: `bearer ${READ}` } }],
      ['/api/v1/incidents', { headers: { authorization: `Basic ${Buffer.from(`u:${WRONG}`).toString('base64')}` } }],
      ['/metrics', { headers: { authorization: `Bearer ${READ}`, cookie: `token=${WRONG}` } }],
      [`/no-such-page?token=${INGEST}`, {}],
    ]
    const statuses: number[] = []
    for (const [path, init] of requests) {
      const res = await fetch(child.url + path, init)
      statuses.push(res.status)
      await res.text()
    }
    expect(statuses.slice(0, -1)).toEqual([200, 400, 403, 401, 200, 401, 200, 401, 200])
    expect([200, 404]).toContain(statuses.at(-1)) // the dashboard's page fallback when it is built
    await new Promise((r) => setTimeout(r, 300)) // let the last log lines reach the pipe
    const out = child.output()
    // The requests were logged (so the search below searched something)…
    expect(out.split('\n').filter((l) => l.includes('"url"')).length).toBeGreaterThanOrEqual(requests.length)
    // …and no token, nor its base64 (Basic auth), is in any line.
    for (const secret of [INGEST, READ, WRONG, Buffer.from(`u:${WRONG}`).toString('base64')]) {
      const line = out.split('\n').find((l) => l.includes(secret))
      expect(line, `token found in log line: ${line}`).toBeUndefined()
    }
  })
})
