import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const BIN = resolve('bin/aftermath.mjs')

function cli(args: string[], cwd = process.cwd()): Promise<{ code: number | null; stdout: string; stderr: string; elapsedMs: number }> {
  const startedMs = performance.now()
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, stdout, stderr, elapsedMs: performance.now() - startedMs }))
  })
}

describe('aftermath replay and generate', () => {
  let srv: TestServer
  let dir: string
  const send = () => ['--url', srv.url, '--token', TOKENS.ingest, '--quiet']
  const countOf = async (incidentId: string) => {
    const [row] = await srv.store.rows<{ n: number; uniq: number }>(
      `SELECT count() AS n, uniqExact(event_id) AS uniq FROM ${srv.store.db}.events FINAL WHERE incident_id = {id:String}`,
      { id: incidentId },
    )
    return { n: Number(row!.n), uniq: Number(row!.uniq) }
  }
  beforeAll(async () => {
    srv = await startTestServer()
    dir = mkdtempSync(join(tmpdir(), 'aftermath-replay-'))
  })
  afterAll(async () => {
    await srv?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('replays atlassian-2022 with its tenants and resolved incident metadata; the server then reports the published recovery', async () => {
    const r = await cli(['replay', 'atlassian-2022', ...send()])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/done: 7,433 events sent .*: 7,433 accepted, 0 rejected/)
    expect(await countOf('atlassian-2022-04')).toEqual({ n: 7433, uniq: 7433 })
    const [inc] = await srv.store.rows<{ title: string; status: string }>(`SELECT title, status FROM ${srv.store.db}.incidents FINAL WHERE incident_id = 'atlassian-2022-04'`)
    expect(inc).toEqual({ title: 'Atlassian cloud sites deleted (April 2022)', status: 'resolved' })
    const [tenants] = await srv.store.rows<{ n: number; seats: number }>(
      `SELECT count() AS n, min(num_attributes['seats']) AS seats FROM ${srv.store.db}.tenants FINAL WHERE startsWith(tenant_id, 'cust-')`,
    )
    expect(Number(tenants!.n)).toBe(775)
    expect(Number(tenants!.seats)).toBeGreaterThanOrEqual(150)
    const res = await srv.api('/api/v1/incidents/atlassian-2022-04/summary?weight=seats&as_of=2022-04-15T23:59:59.999Z', { token: TOKENS.read })
    expect(res.status).toBe(200)
    const summary = (await res.json()) as { weighted: { recovery_pct: number } }
    expect(Math.abs(summary.weighted.recovery_pct - 78)).toBeLessThanOrEqual(1)
  })

  it('paces a replay by --speed: 2 h of incident at 3600× take about 2 s', async () => {
    const r = await cli(['replay', 'synthetic', '--incident', 'paced', '--tenants', '50', '--events-per-tenant', '6', '--duration', '2h', '--speed', '3600', ...send()])
    expect(r.code).toBe(0)
    expect(await countOf('paced')).toEqual({ n: 310, uniq: 310 })
    // The last tenant events fall at up to 95 % of the window: ≥ 1.5 s of wall time at 3600×.
    expect(r.elapsedMs).toBeGreaterThanOrEqual(1500)
  })

  it('with --live, rewrites occurred_at to the send time: compressed by speed and never in the future', async () => {
    const startedMs = Date.now()
    const r = await cli(['replay', 'synthetic', '--incident', 'live', '--tenants', '40', '--events-per-tenant', '5', '--duration', '1h', '--speed', '3600', '--live', ...send()])
    expect(r.code).toBe(0)
    const [row] = await srv.store.rows<{ n: number; lo: number; hi: number; future: number }>(
      `SELECT count() AS n, toUnixTimestamp64Milli(min(occurred_at)) AS lo, toUnixTimestamp64Milli(max(occurred_at)) AS hi, countIf(occurred_at > received_at) AS future
       FROM ${srv.store.db}.events FINAL WHERE incident_id = 'live'`,
    )
    const got = { n: Number(row!.n), future: Number(row!.future), startsAfterLaunch: Number(row!.lo) >= startedMs, spanMs: Number(row!.hi) - Number(row!.lo) }
    expect(got).toEqual({ n: 210, future: 0, startsAfterLaunch: true, spanMs: expect.any(Number) })
    // 1 h at 3600× = 1 s of wall time, less the last 5 % the synthetic window leaves empty.
    expect(got.spanMs).toBeLessThanOrEqual(1000)
  })

  it('generates a scenario to NDJSON files and replays the file with its tenants', async () => {
    const g = await cli(['generate', 'synthetic', '--incident', 'from-file', '--tenants', '30', '--events-per-tenant', '8', '--seed', '9', '-o', 'gen.ndjson'], dir)
    expect(g.code).toBe(0)
    const lines = readFileSync(join(dir, 'gen.ndjson'), 'utf8').trim().split('\n')
    expect(lines).toHaveLength(30 * 8 + 10)
    expect(readFileSync(join(dir, 'gen.tenants.ndjson'), 'utf8').trim().split('\n')).toHaveLength(30)
    expect(JSON.parse(readFileSync(join(dir, 'gen.incident.json'), 'utf8'))).toMatchObject({ incident_id: 'from-file' })
    const r = await cli(['replay', 'gen.ndjson', '--tenants-file', 'gen.tenants.ndjson', ...send()], dir)
    expect(r.code).toBe(0)
    expect(await countOf('from-file')).toEqual({ n: 250, uniq: 250 })
    const [t] = await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM ${srv.store.db}.tenants FINAL WHERE tenant_id LIKE 't0000%'`)
    expect(Number(t!.n)).toBeGreaterThanOrEqual(30)
    // Re-sending the same file changes nothing (event_id idempotency).
    expect((await cli(['replay', 'gen.ndjson', ...send()], dir)).code).toBe(0)
    expect(await countOf('from-file')).toEqual({ n: 250, uniq: 250 })
  })

  it('prints the same events to stdout for the same seed', async () => {
    const a = await cli(['generate', 'atlassian-2022', '--seed', '4'])
    const b = await cli(['generate', 'atlassian-2022', '--seed', '4'])
    expect(a.code).toBe(0)
    const events = a.stdout.trim().split('\n').map((l) => JSON.parse(l) as { incident_id: string })
    expect(events.length).toBeGreaterThan(7000)
    expect(new Set(events.map((e) => e.incident_id))).toEqual(new Set(['atlassian-2022-04']))
    expect(a.stdout).toBe(b.stdout)
  })

  it('exits 2 on bad options', async () => {
    const r = await Promise.all([
      cli(['replay', 'synthetic', '--speed', 'fast', ...send()]),
      cli(['generate', 'synthetic', '--events-per-tenant', '2']),
      cli(['generate', 'no-such-scenario']),
      cli(['frobnicate']),
      cli(['replay', 'synthetic', '--live', ...send()]),
    ])
    expect(r.map((x) => x.code)).toEqual([2, 2, 2, 2, 2])
  })
})
