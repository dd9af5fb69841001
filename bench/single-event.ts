/**
 * Single-event load: one event per request (`application/json`, one event object), `concurrency`
 * keep-alive connections back to back, against a running server. Each request returns only once
 * its event is durable, so this measures the group commit under many tiny requests.
 * Prints one JSON line: requests/s, latency p50/p95/p99 and this process's CPU per request.
 * Requests go out on raw keep-alive sockets (bench/lib/raw-http.ts): Node's http client would
 * take a third of a core from the server under test.
 *
 *   npx tsx bench/single-event.ts --url http://127.0.0.1:3000 --token T [--seconds 15] [--concurrency 32]
 *
 * The server's per-token rate limit (AFTERMATH_RATE_LIMIT_RPS, default 2000 req/s) must be raised
 * or disabled (0) for this to measure the server rather than the limiter: bench/run.ts starts
 * the server with AFTERMATH_RATE_LIMIT_RPS=0.
 */
import { parseArgs } from 'node:util'
import { RawConnection, postBytes } from './lib/raw-http.js'
import { latencySummary } from './lib/stats.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    seconds: { type: 'string', default: '15' },
    concurrency: { type: 'string', default: '32' },
  },
})
if (!args.url || !args.token) throw new Error('--url and --token are required')
const seconds = Number(args.seconds)
const concurrency = Number(args.concurrency)
const url = new URL('/api/v1/events', args.url)
const T0_MS = Date.parse('2022-04-05T07:38:00.000Z')
const run = Date.now().toString(36)

function body(n: number): Buffer {
  const lost = n % 2 === 0
  return Buffer.from(
    JSON.stringify({
      event_id: `single-${run}-${n}`,
      incident_id: 'single-incident',
      type: lost ? 'access_lost' : 'access_restored',
      occurred_at: new Date(T0_MS + n * 13).toISOString(),
      tenant_id: `tenant-${n % 100_000}`,
    }),
  )
}

const connections: RawConnection[] = []
/** POST one event on a connection of its own and wait for the durable acknowledgement. */
async function post(conn: RawConnection, b: Buffer): Promise<void> {
  const res = await conn.request(postBytes(url, args.token!, 'application/json', b))
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString().slice(0, 300)}`)
}

async function main() {
  let n = 0
  for (let i = 0; i < concurrency; i++) connections.push(await RawConnection.connect(url))
  // Warm-up: JIT on both sides.
  await Promise.all(connections.map(async (c) => {
    for (let i = 0; i < 4; i++) await post(c, body(n++))
  }))

  const latenciesMs: number[] = []
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  const deadline = start + seconds * 1000
  await Promise.all(
    connections.map(async (c) => {
      while (performance.now() < deadline) {
        const b = body(n++)
        const t = performance.now()
        await post(c, b)
        latenciesMs.push(performance.now() - t)
      }
    }),
  )
  const elapsedS = (performance.now() - start) / 1000
  const cpu = process.cpuUsage(cpu0)
  for (const c of connections) c.close()
  console.log(
    JSON.stringify({
      requests_per_s: Math.round(latenciesMs.length / elapsedS),
      requests: latenciesMs.length,
      seconds: Number(elapsedS.toFixed(2)),
      concurrency,
      latency_ms: latencySummary(latenciesMs),
      client_cpu_pct: Math.round(((cpu.user + cpu.system) / 1e6 / elapsedS) * 100),
      client_cpu_us_per_request: Number((((cpu.user + cpu.system) / latenciesMs.length)).toFixed(1)),
    }),
  )
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
