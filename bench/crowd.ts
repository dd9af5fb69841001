/**
 * The "crowd" benchmark: one server under a fixed mix of heavy readers and misbehaving producers,
 * while probes measure what everyone else gets.
 *
 *   npx tsx bench/crowd.ts [--seconds 60] [--server-dir .] [--label after] [--out file.json]
 *
 * Data (generated inside ClickHouse before the server starts): `crowd-big`, 100,000 tenants / 1M
 * events with an `account` attribute of 5,000 values, and `crowd-bcast`, 1,000 tenants with
 * 50,000 broadcasts. A producer keeps adding events to a third incident, `crowd-live` (500/s),
 * which the 200 streams watch (so they get an update every second).
 *
 * Heavy readers, each its own read token, in loops for --seconds:
 *   2 × recovery?group_by=account (5,000 groups)
 *   2 × the broadcast views of crowd-bcast with include_broadcast=true (summary, communications,
 *       a 1,000-row tenants page), in turn
 *   200 live streams of crowd-live over 4 tokens, 20 of whose clients never read
 *   2 × a JSON body of 100,000 invalid events (the most one body may hold), one after another,
 *       and now and then a 16 MiB body of `[{},{},…]` (5.6M elements: refused with 413)
 * Probes, in a process of their own (the load generator's own work must not delay them): GET
 * /healthz every 50 ms; an ingest ack (POST of 10 events to crowd-live) every 100 ms; a cheap
 * summary (crowd-big, the dashboard's default view) every 250 ms. Reported: probe latencies, peak server RSS
 * (VmHWM), and the statuses every request class got (5xx apart from 503 refusals).
 *
 * --server-dir runs the server (and the schema it migrates to) from another checkout, e.g. a
 * `git worktree` of an older commit, for a before/after comparison with the same load.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { generateIncident } from './lib/incident.js'
import { memoryMb } from './lib/proc.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    'server-dir': { type: 'string', default: '.' },
    label: { type: 'string', default: 'current' },
    out: { type: 'string' },
    /** Write a V8 CPU profile of the server into this directory (--cpu-prof). */
    profile: { type: 'string' },
    /** Internal: run only the probes against this server URL (a process of their own, so the load generator's work does not delay them). */
    'probe-url': { type: 'string' },
  },
})
const seconds = Number(args.seconds)
const serverDir = resolve(args['server-dir'])
const BASE_MS = Date.parse('2022-04-05T07:38:00.000Z')
const BIG = 'crowd-big'
const BCAST = 'crowd-bcast'
const LIVE = 'crowd-live'
const token = (name: string) => `${name}-`.padEnd(40, 'x')
const INGEST = token('ingest')
const READERS = Array.from({ length: 12 }, (_, i) => token(`read${i}`))
const PROBE = token('probe')

interface ClassStats {
  requests: number
  statuses: Record<string, number>
  latencies: number[]
}
const classes: Record<string, ClassStats> = {}
function record(name: string, status: number, ms: number) {
  const c = (classes[name] ??= { requests: 0, statuses: {}, latencies: [] })
  c.requests++
  c.statuses[status] = (c.statuses[status] ?? 0) + 1
  c.latencies.push(ms)
}
const q = (xs: number[], p: number) => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! * 10) / 10
}

async function generate(dataDir: string) {
  // The checkout under test opens and migrates its own schema; the generator writes the nine
  // event columns every version has.
  const { loadConfig } = await import(join(serverDir, 'server/config.ts'))
  const { openStore } = await import(join(serverDir, 'server/storage/client.ts'))
  const { migrate } = await import(join(serverDir, 'server/storage/migrations.ts'))
  const config = loadConfig({ AFTERMATH_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: 'aftermath', AFTERMATH_TOKENS: `admin:${token('admin')}`, AFTERMATH_STORAGE_TIMEOUT_MS: '600000' })
  const store = await openStore(config)
  await migrate(store)
  await generateIncident(store, { incident: BIG, tenants: 100_000, baseMs: BASE_MS, accountValues: 5000, prefix: 'big-' })
  await generateIncident(store, { incident: BCAST, tenants: 1000, baseMs: BASE_MS, broadcasts: 50_000, prefix: 'bc-' })
  await store.close()
}

async function startServer(dataDir: string) {
  const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(args.profile)}`] : []
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'server/main.ts'], {
    cwd: serverDir,
    env: {
      ...process.env,
      AFTERMATH_PORT: '0',
      AFTERMATH_DATA_DIR: dataDir,
      AFTERMATH_DEMO: '0',
      AFTERMATH_LOG_LEVEL: 'error',
      AFTERMATH_TOKENS: [`ingest:${INGEST}`, `read:${PROBE}`, ...READERS.map((t) => `read:${t}`)].join(','),
      CLICKHOUSE_DATABASE: 'aftermath',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((ok, fail) => {
    let buf = ''
    child.stdout!.on('data', (d: Buffer) => {
      buf += d
      const m = /aftermath listening on (http:\/\/\S+)/.exec(buf)
      if (m) ok(m[1]!)
    })
    child.once('exit', (c) => fail(new Error(`server exited with ${c}`)))
  })
  return { child, url, pid: child.pid! }
}

function httpRequest(url: string, opts: { method?: string; token: string; body?: string | Buffer; type?: string; timeoutMs?: number }): Promise<{ status: number; ms: number; retryAfterS?: number }> {
  const u = new URL(url)
  const started = performance.now()
  return new Promise((ok) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: opts.method ?? 'GET',
        headers: { authorization: `Bearer ${opts.token}`, ...(opts.type ? { 'content-type': opts.type } : {}) },
        timeout: opts.timeoutMs ?? 120_000,
      },
      (res) => {
        res.resume()
        const retry = Number(res.headers['retry-after'])
        res.on('end', () => ok({ status: res.statusCode!, ms: performance.now() - started, retryAfterS: Number.isFinite(retry) ? retry : undefined }))
        res.on('error', () => ok({ status: 0, ms: performance.now() - started }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => ok({ status: 0, ms: performance.now() - started }))
    req.end(opts.body)
  })
}

/** The probes, in a process of their own: what an ordinary user gets while the crowd runs. */
async function probes(url: string) {
  const until = performance.now() + seconds * 1000
  const loop = async (name: string, every: number, fn: () => Promise<{ status: number; ms: number }>) => {
    while (performance.now() < until) {
      const next = performance.now() + every
      const r = await fn()
      record(name, r.status, r.ms)
      const wait = next - performance.now()
      if (wait > 0) await new Promise((w) => setTimeout(w, wait))
    }
  }
  let seq = 0
  const events = (n: number) =>
    JSON.stringify(
      Array.from({ length: n }, () => {
        const i = seq++
        return { event_id: `crowd-probe-${i}`, incident_id: LIVE, type: i % 2 ? 'access_restored' : 'access_lost', tenant_id: `probe-${i >> 1}`, occurred_at: new Date().toISOString() }
      }),
    )
  await Promise.all([
    loop('probe /healthz', 50, () => httpRequest(`${url}/healthz`, { token: PROBE })),
    loop('probe ingest ack (10 events)', 100, () => httpRequest(`${url}/api/v1/events`, { method: 'POST', token: INGEST, type: 'application/json', body: events(10) })),
    loop('probe cheap summary', 250, () => httpRequest(`${url}/api/v1/incidents/${BIG}/summary`, { token: PROBE })),
  ])
  console.log(JSON.stringify(classes))
}

/** Run the probes in a child process; resolves with their classes. */
function probeProcess(url: string): Promise<Record<string, ClassStats>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/crowd.ts', '--probe-url', url, '--seconds', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d))
  return new Promise((ok, fail) =>
    child.once('exit', (code) => (code === 0 ? ok(JSON.parse(out.trim().split('\n').at(-1)!)) : fail(new Error(`probes exited with ${code}`)))),
  )
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-crowd-'))
  const t0 = performance.now()
  await generate(dataDir)
  console.log(`generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const server = await startServer(dataDir)
  const asOf = new Date(BASE_MS + 10 * 86_400_000).toISOString()
  // Derive and warm up as any first visitor would.
  await httpRequest(`${server.url}/api/v1/incidents/${BIG}/summary?as_of=${asOf}`, { token: PROBE, timeoutMs: 600_000 })
  await httpRequest(`${server.url}/api/v1/incidents/${BCAST}/summary`, { token: PROBE, timeoutMs: 600_000 })
  await httpRequest(`${server.url}/api/v1/events`, { method: 'POST', token: INGEST, type: 'application/json', body: JSON.stringify({ event_id: 'crowd-live-start', incident_id: LIVE, type: 'access_lost', tenant_id: 'live-start', occurred_at: new Date().toISOString() }) })
  await httpRequest(`${server.url}/api/v1/incidents/${LIVE}/summary`, { token: PROBE })
  const baseRss = memoryMb(server.pid).rssMb
  let peakRss = 0
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, memoryMb(server.pid).rssMb)), 100)

  const until = performance.now() + seconds * 1000
  const running = () => performance.now() < until
  // Every client waits as long as a refusal's Retry-After says, as the CLI producer does.
  const loop = async (name: string, every: number, fn: () => Promise<{ status: number; ms: number; retryAfterS?: number }>) => {
    while (running()) {
      const next = performance.now() + every
      const r = await fn()
      record(name, r.status, r.ms)
      const wait = Math.max(next - performance.now(), r.status === 503 || r.status === 429 ? (r.retryAfterS ?? 1) * 1000 : 0)
      if (wait > 0) await new Promise((w) => setTimeout(w, Math.min(wait, until - performance.now())))
    }
  }
  const api = (path: string) => `${server.url}/api/v1/incidents/${path}`
  let seq = 0
  const events = (n: number) =>
    JSON.stringify(
      Array.from({ length: n }, () => {
        const i = seq++
        return { event_id: `crowd-live-${i}`, incident_id: LIVE, type: i % 2 ? 'access_restored' : 'access_lost', tenant_id: `live-${i >> 1}`, occurred_at: new Date().toISOString() }
      }),
    )

  // 200 streams, 20 of them never read (their sockets are left unread). The others reconnect
  // after a refusal's Retry-After, as a browser's EventSource does.
  const streams: { destroy(): void }[] = []
  const openStream = (tok: string) => {
    const u = new URL(api(`${LIVE}/stream`))
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers: { authorization: `Bearer ${tok}` } }, (res) => {
      record('stream open', res.statusCode!, 0)
      res.on('data', () => {})
      res.on('error', () => {})
      if (res.statusCode !== 200) {
        const retry = Number(res.headers['retry-after'] ?? 3)
        res.resume()
        if (running()) setTimeout(() => running() && openStream(tok), retry * 1000)
      }
    })
    req.on('error', () => {})
    req.end()
    streams.push(req)
  }
  for (let i = 0; i < 200; i++) {
    const tok = READERS[8 + (i % 4)]!
    if (i < 20) {
      const u = new URL(api(`${LIVE}/stream`))
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${tok}\r\nAccept: text/event-stream\r\n\r\n`)
        sock.pause()
      })
      sock.on('error', () => {})
      streams.push(sock)
    } else openStream(tok)
  }
  const hugeBody = `[${'{},'.repeat(Math.floor((16 * 1024 * 1024 - 2) / 3) - 1)}{}]`
  const bigBody = `[${'{"x":[1,2,3],"y":{"z":"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"}},'.repeat(99_999)}{}]`
  let bodies = 0
  const bcastViews = [`${BCAST}/summary?include_broadcast=true`, `${BCAST}/communications?include_broadcast=true`, `${BCAST}/tenants?include_broadcast=true&limit=1000`]
  let turn = 0
  const probed = probeProcess(server.url)
  await Promise.all([
    // The producer: ~500 events/s more.
    loop('producer (100 events)', 200, () => httpRequest(`${server.url}/api/v1/events`, { method: 'POST', token: INGEST, type: 'application/json', body: events(100) })),
    // Heavy readers.
    ...[0, 1].map((i) => loop('heavy group_by over 5,000 values', 0, () => httpRequest(api(`${BIG}/recovery?group_by=account`), { token: READERS[i]! }))),
    ...[2, 3].map((i) => loop('heavy broadcast views (50k broadcasts)', 0, () => httpRequest(api(bcastViews[turn++ % 3]!), { token: READERS[i]! }))),
    ...[0, 1].map(() =>
      loop('large JSON bodies (100k invalid events; every 5th 16 MiB of {})', 0, () =>
        httpRequest(`${server.url}/api/v1/events`, { method: 'POST', token: INGEST, type: 'application/json', body: ++bodies % 5 === 0 ? hugeBody : bigBody }),
      ),
    ),
  ])
  Object.assign(classes, await probed)
  for (const s of streams) s.destroy()
  clearInterval(rssTimer)
  const peakHwm = memoryMb(server.pid).peakMb
  server.child.kill('SIGTERM')
  await new Promise((r) => server.child.once('exit', r))
  rmSync(dataDir, { recursive: true, force: true })

  const summary = Object.fromEntries(
    Object.entries(classes).map(([name, c]) => [
      name,
      {
        requests: c.requests,
        statuses: c.statuses,
        p50_ms: q(c.latencies, 0.5),
        p95_ms: q(c.latencies, 0.95),
        p99_ms: q(c.latencies, 0.99),
        max_ms: q(c.latencies, 1),
        errors_5xx: Object.entries(c.statuses).filter(([s]) => Number(s) >= 500 && Number(s) !== 503).reduce((n, [, k]) => n + k, 0),
        refused_503: c.statuses[503] ?? 0,
        failed_connections: c.statuses[0] ?? 0,
      },
    ]),
  )
  const result = { label: args.label, server_dir: serverDir, seconds, when: new Date().toISOString(), base_rss_mb: Math.round(baseRss), peak_rss_mb: Math.round(Math.max(peakRss, peakHwm)), classes: summary }
  for (const [name, c] of Object.entries(summary)) {
    console.log(`${name.padEnd(40)} n=${String(c.requests).padStart(6)}  p50 ${c.p50_ms} ms  p95 ${c.p95_ms} ms  p99 ${c.p99_ms} ms  max ${c.max_ms} ms  statuses ${JSON.stringify(c.statuses)}`)
  }
  console.log(`peak server RSS ${result.peak_rss_mb} MiB (at start of the load ${result.base_rss_mb} MiB)`)
  if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n')
  console.log(JSON.stringify(result))
}

if (args['probe-url']) await probes(args['probe-url'])
else await main()
