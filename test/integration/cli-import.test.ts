import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const BIN = resolve('bin/aftermath.mjs')

function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }))
  })
}

const CSV = [
  'event_id,incident_id,type,occurred_at,tenant_id,progress,channel,label,message',
  'c1,imp,access_lost,2024-03-01T10:00:00Z,acme,,,,',
  'c2,imp,restore_progress,2024-03-01T11:00:00Z,acme,0.5,,,',
  'c3,imp,access_restored,yesterday,acme,,,,',
  'c4,imp,communication,2024-03-01T10:30:00Z,acme,,email,,"multi',
  'line message"',
  'c5,imp,explode,2024-03-01T10:31:00Z,acme,,,,',
  'c6,imp,access_lost',
  'c7,imp,restore_progress,2024-03-01T11:30:00Z,acme,lots,,,',
  '',
  'c8,imp,milestone,2024-03-01T12:00:00Z,,,,Root cause found,',
].join('\n')

const ev = (o: Record<string, unknown>) => JSON.stringify({ incident_id: 'imp', occurred_at: '2024-03-01T10:00:00Z', ...o })
const NDJSON = [
  ev({ event_id: 'n1', type: 'access_lost', tenant_id: 'globex' }),
  '',
  ev({ event_id: 'n2', type: 'access_lost', tenant_id: 'globex', occurred_at: '2024-13-45T00:00:00Z' }),
  'this is not json',
  ev({ event_id: 'n3', type: 'access_restored', tenant_id: 'globex', occurred_at: '2024-03-01T12:00:00Z' }),
  ev({ event_id: 'n4', type: 'milestone', label: 'x', tenant_id: 'globex' }),
].join('\n')

describe('aftermath import', () => {
  let srv: TestServer
  let dir: string
  beforeAll(async () => {
    srv = await startTestServer()
    dir = mkdtempSync(join(tmpdir(), 'aftermath-import-'))
    writeFileSync(join(dir, 'events.csv'), CSV)
    writeFileSync(join(dir, 'events.ndjson'), NDJSON)
    writeFileSync(join(dir, 'good.ndjson'), ev({ event_id: 'g1', incident_id: 'good', type: 'access_lost', tenant_id: 'a' }) + '\n')
  })
  afterAll(async () => {
    await srv?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reports each bad line of CSV and NDJSON files with its 1-based line number, keeps the good ones, exits 1', async () => {
    // Batches of 2 so lines map back across request boundaries.
    const r = await cli(['import', 'events.csv', 'events.ndjson', '--url', srv.url, '--token', TOKENS.ingest, '--batch-size', '2', '--quiet'], dir)
    expect(r.code).toBe(1)
    const reported = r.stderr.split('\n').filter((l) => /^events\.(csv|ndjson):\d+: /.test(l))
    expect(reported.map((l) => l.split(': ').slice(0, 2).join(': ')).sort()).toEqual(
      [
        'events.csv:4: occurred_at',
        'events.csv:7: type',
        'events.csv:8: csv',
        'events.csv:9: progress',
        'events.ndjson:3: occurred_at',
        expect.stringMatching(/^events\.ndjson:4: \S/),
        'events.ndjson:6: tenant_id',
      ],
    )
    expect(r.stderr).toContain('6 accepted, 7 rejected')
    const rows = await srv.store.rows<{ event_id: string; message: string }>(
      `SELECT event_id, message FROM ${srv.store.db}.events FINAL WHERE incident_id = 'imp' ORDER BY event_id`,
    )
    expect(rows.map((x) => x.event_id)).toEqual(['c1', 'c2', 'c4', 'c8', 'n1', 'n3'])
    expect(rows.find((x) => x.event_id === 'c4')!.message).toBe('multi\nline message')
  })

  it('upserts tenants from a CSV file first: numeric cells become numeric attributes', async () => {
    writeFileSync(join(dir, 'tenants.csv'), 'tenant_id,name,tier,seats\nacme,Acme Inc.,gold,120\nglobex,"Globex, Corp",silver,\n')
    const r = await cli(['import', 'good.ndjson', '--tenants-file', 'tenants.csv', '--url', srv.url, '--token', TOKENS.ingest, '--quiet'], dir)
    expect(r.code).toBe(0)
    const rows = await srv.store.rows<{ tenant_id: string; name: string; tier: string; seats: number; has_seats: number }>(
      `SELECT tenant_id, name, attributes['tier'] AS tier, num_attributes['seats'] AS seats, mapContains(attributes, 'seats') AS has_seats
       FROM ${srv.store.db}.tenants FINAL WHERE tenant_id IN ('acme', 'globex') ORDER BY tenant_id`,
    )
    expect(rows.map((x) => ({ ...x, seats: Number(x.seats), has_seats: Number(x.has_seats) }))).toEqual([
      { tenant_id: 'acme', name: 'Acme Inc.', tier: 'gold', seats: 120, has_seats: 1 },
      { tenant_id: 'globex', name: 'Globex, Corp', tier: 'silver', seats: 0, has_seats: 0 },
    ])
  })

  it('exits 0 when every event is accepted, taking the token from AFTERMATH_TOKEN', async () => {
    const r = await cli(['import', 'good.ndjson', '--url', srv.url, '--quiet'], dir, { AFTERMATH_TOKEN: TOKENS.ingest })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('1 accepted, 0 rejected')
  })

  it('exits 2 on a refused token, without retrying', async () => {
    const r = await cli(['import', 'good.ndjson', '--url', srv.url, '--token', 'wrong-token-123', '--quiet'], dir)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/HTTP 401/)
  })

  it('exits 2 when the server cannot be reached within the retry window', async () => {
    const r = await cli(['import', 'good.ndjson', '--url', 'http://127.0.0.1:9', '--token', TOKENS.ingest, '--retry-for', '1s', '--quiet'], dir)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/giving up after \d+ attempts/)
  })

  it('exits 2 on usage errors: no token, unknown format, missing CSV columns', async () => {
    writeFileSync(join(dir, 'events.txt'), '')
    writeFileSync(join(dir, 'nohead.csv'), 'id,when\n1,2\n')
    const noToken = await cli(['import', 'good.ndjson', '--url', srv.url], dir, { AFTERMATH_TOKEN: '' })
    const badExt = await cli(['import', 'events.txt', '--url', srv.url, '--token', TOKENS.ingest], dir)
    const noHeader = await cli(['import', 'nohead.csv', '--url', srv.url, '--token', TOKENS.ingest, '--quiet'], dir)
    expect([noToken.code, badExt.code, noHeader.code]).toEqual([2, 2, 2])
    expect(noToken.stderr).toContain('no token')
    expect(badExt.stderr).toContain('--format')
    expect(noHeader.stderr).toContain('nohead.csv:1: header: missing columns event_id, incident_id, type, occurred_at')
  })
})
