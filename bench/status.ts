/**
 * The customer status page's API under its crowd (SPEC §8): every affected customer holds a
 * status link and keeps the page open (it polls GET /api/v1/status every 5 s).
 *
 *   npx tsx bench/status.ts [--links 1000] [--seconds 20] [--clients 64] [--dir data/bench-status] [--out file.json]
 *
 * Data: an incident of 100,000 tenants / 1M events (generated once into --dir, reused after).
 * The server runs in its own process. Measured:
 *   - one request at a time, each with a different link: latency p50/p95;
 *   - --clients connections in closed loops, each request with the next of --links links:
 *     throughput and latency (the most the server can answer; at a 5 s poll, N req/s serve 5·N open pages);
 *   - /healthz every 50 ms during that load.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { generateIncident } from './lib/incident.js'
import { startServer } from './lib/proc.js'
import { RawConnection } from './lib/raw-http.js'
import { latencySummary, round } from './lib/stats.js'

const { values: args } = parseArgs({
  options: {
    links: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    clients: { type: 'string', default: '64' },
    dir: { type: 'string', default: 'data/bench-status' },
    out: { type: 'string' },
  },
})
const LINKS = Number(args.links)
const SECONDS = Number(args.seconds)
const CLIENTS = Number(args.clients)
const INCIDENT = 'status-bench'
const TENANTS = 100_000
const BASE_MS = Date.parse('2026-11-20T07:38:00.000Z')
const ADMIN = 'bench-status-admin-0123456789abcdef0123'

async function generate(dataDir: string) {
  const { loadConfig } = await import('../server/config.js')
  const { openStore } = await import('../server/storage/client.js')
  const { migrate } = await import('../server/storage/migrations.js')
  const config = loadConfig({ AFTERMATH_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: 'aftermath', AFTERMATH_TOKENS: `admin:${ADMIN}`, AFTERMATH_STORAGE_TIMEOUT_MS: '600000' })
  const store = await openStore(config)
  await migrate(store)
  await generateIncident(store, { incident: INCIDENT, tenants: TENANTS, baseMs: BASE_MS, prefix: 'st-' })
  await store.close()
}

const getBytes = (url: URL, token: string) =>
  Buffer.from(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nConnection: keep-alive\r\n\r\n`, 'latin1')

async function main() {
  if (!existsSync(`${args.dir}/aftermath-generated`)) {
    mkdirSync(args.dir, { recursive: true })
    const t = performance.now()
    await generate(args.dir)
    writeFileSync(`${args.dir}/aftermath-generated`, '')
    console.log(`generated ${TENANTS.toLocaleString('en')} tenants in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  }
  const server = await startServer({
    dataDir: args.dir,
    env: {
      AFTERMATH_LOG_LEVEL: 'error',
      AFTERMATH_TOKENS: `admin:${ADMIN}`,
      // The pages are many: no per-token limit in the way of measuring the server.
      AFTERMATH_QUERY_RATE_LIMIT_RPS: '0',
      CLICKHOUSE_DATABASE: 'aftermath',
    },
  })
  try {
    // Links for LINKS tenants spread over the id space, in one request.
    const tenants = Array.from({ length: LINKS }, (_, i) => `st-${(i * 7919) % TENANTS}`)
    const made = await fetch(`${server.url}/api/v1/share-links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(tenants.map((t) => ({ incident_id: INCIDENT, tenant_id: t, expires_in: '1d' }))),
    })
    if (made.status !== 201) throw new Error(`links not created: ${made.status} ${await made.text()}`)
    const tokens = ((await made.json()) as { links: { token: string }[] }).links.map((l) => l.token)
    const statusUrl = new URL('/api/v1/status', server.url)
    const requests = tokens.map((t) => getBytes(statusUrl, t))

    // One at a time.
    const one = await RawConnection.connect(statusUrl)
    const serial: number[] = []
    let bytes = 0
    for (let i = 0; i < Math.min(200, requests.length); i++) {
      const t = performance.now()
      const r = await one.request(requests[i]!)
      if (r.status !== 200) throw new Error(`status → ${r.status} ${r.body.toString().slice(0, 200)}`)
      if (i >= 5) serial.push(performance.now() - t)
      bytes = r.body.length
    }
    one.close()
    const serialSummary = latencySummary(serial)
    console.log(`one at a time: p50 ${serialSummary.p50} ms, p95 ${serialSummary.p95} ms (${bytes} B)`)

    // Closed loops, and /healthz probes beside them.
    const conns = await Promise.all(Array.from({ length: CLIENTS }, () => RawConnection.connect(statusUrl)))
    const health = await RawConnection.connect(statusUrl)
    const healthBytes = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: ${statusUrl.host}\r\nConnection: keep-alive\r\n\r\n`, 'latin1')
    const latencies: number[] = []
    const healthLat: number[] = []
    const statuses: Record<string, number> = {}
    let next = 0
    const endAt = performance.now() + SECONDS * 1000
    const loops = conns.map(async (c) => {
      while (performance.now() < endAt) {
        const t = performance.now()
        const r = await c.request(requests[next++ % requests.length]!)
        latencies.push(performance.now() - t)
        statuses[r.status] = (statuses[r.status] ?? 0) + 1
      }
    })
    const probe = (async () => {
      while (performance.now() < endAt) {
        const t = performance.now()
        await health.request(healthBytes)
        healthLat.push(performance.now() - t)
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    await Promise.all([...loops, probe])
    for (const c of [...conns, health]) c.close()
    const load = latencySummary(latencies)
    const h = latencySummary(healthLat)
    const rps = round(latencies.length / SECONDS)
    console.log(`${CLIENTS} clients for ${SECONDS} s over ${LINKS} links: ${rps} req/s, p50 ${load.p50} ms, p95 ${load.p95} ms, p99 ${load.p99} ms; statuses ${JSON.stringify(statuses)}`)
    console.log(`/healthz meanwhile: p50 ${h.p50} ms, p99 ${h.p99} ms; server peak RSS ${round(server.peakRssMb())} MiB`)
    const out = {
      when: new Date().toISOString(),
      tenants: TENANTS,
      events: TENANTS * 10,
      links: LINKS,
      serial_ms: serialSummary,
      bytes,
      load: { clients: CLIENTS, seconds: SECONDS, requests_per_s: rps, latency_ms: load, statuses },
      // At a poll every 5 s, the server keeps this many pages live.
      open_pages_at_5s_poll: rps * 5,
      healthz_ms: h,
      server_peak_rss_mb: round(server.peakRssMb()),
    }
    if (args.out) writeFileSync(args.out, JSON.stringify(out, null, 2) + '\n')
    // The last line: what bench/run.ts reads.
    console.log(JSON.stringify(out))
  } finally {
    await server.stop()
  }
}

await main()
