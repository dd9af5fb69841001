/**
 * Ingest load generator: sustained events/s over HTTP.
 *
 *   npx tsx bench/ingest-load.ts [--url http://127.0.0.1:3000 --token T] [--seconds 20] [--concurrency 8] [--batch 1000] [--null-store]
 *       [--rate EVENTS_PER_S] [--events N] [--incident ID --tenant-prefix P --tenants N --start ISO --id-prefix X]
 *
 * Without --url it starts its own server (`node --import tsx server/main.ts`) on a throwaway
 * data directory, so client and server are separate processes. Each of `concurrency`
 * keep-alive connections POSTs NDJSON bodies of `batch` events, prepared in advance, back to
 * back; prints events/s (acknowledged, and of those also stored in ClickHouse by the end:
 * acknowledgements come from the server's spool) and request latency p50/p99 (and the server's peak RSS and CPU per
 * event when it owns it). `--null-store` runs the server with the events insert stubbed out,
 * to see the cost of everything before the engine.
 *
 * `--rate` sends at most that many events/s (body k is sent no earlier than k × batch / rate s
 * after the start; bodies go out as soon as a connection is free), for a live feed beside other
 * measurements; `--events` stops once that many have been sent (whichever of it and --seconds
 * comes first). The events go to `--incident`, tenant `${tenant-prefix}${n % tenants}`, event ids
 * `${id-prefix}${n}`, occurred_at `--start` + n × 37 ms (defaults: the events
 * bench/lib/load-events.ts mirrors). A line `ingest-load: sending` is printed when the clock starts.
 */
import http from 'node:http'
import { parseArgs } from 'node:util'
import { startServer } from './lib/proc.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    /** A read token for /readyz (the spool backlog); bench/lib/proc.ts servers have this one. */
    'read-token': { type: 'string', default: 'bench-read-token-123-0123456789abcdef0123' },
    seconds: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '8' },
    batch: { type: 'string', default: '1000' },
    bodies: { type: 'string', default: '200' },
    'null-store': { type: 'boolean', default: false },
    /** Events/s at most (0: as fast as the server acknowledges). */
    rate: { type: 'string', default: '0' },
    /** Stop once this many events have been sent (0: no limit). */
    events: { type: 'string', default: '0' },
    incident: { type: 'string', default: 'load-incident' },
    'tenant-prefix': { type: 'string', default: 'tenant-' },
    tenants: { type: 'string', default: '50000' },
    start: { type: 'string', default: '2022-04-05T07:38:00.000Z' },
    'id-prefix': { type: 'string', default: 'load-' },
  },
})
const seconds = Number(args.seconds)
const concurrency = Number(args.concurrency)
const batch = Number(args.batch)
const distinctBodies = Number(args.bodies)
const rate = Number(args.rate)
const maxEvents = Number(args.events)
const tenantCount = Number(args.tenants)

const TYPES = ['access_lost', 'access_restored', 'restore_started', 'restore_progress', 'communication'] as const

function prepareBodies(): Buffer[] {
  const t0 = Date.parse(args.start!)
  const bodies: Buffer[] = []
  let n = 0
  for (let b = 0; b < distinctBodies; b++) {
    let s = ''
    for (let i = 0; i < batch; i++, n++) {
      const type = TYPES[n % TYPES.length]!
      const e: Record<string, unknown> = {
        event_id: `${args['id-prefix']}${n}`,
        incident_id: args.incident,
        type,
        occurred_at: new Date(t0 + n * 37).toISOString(),
        tenant_id: `${args['tenant-prefix']}${n % tenantCount}`,
      }
      if (type === 'restore_progress') e.progress = (n % 100) / 100
      if (type === 'communication') {
        e.channel = 'email'
        e.message = 'We are restoring your site; next update within 24 hours.'
      }
      s += JSON.stringify(e) + '\n'
    }
    bodies.push(Buffer.from(s))
  }
  return bodies
}

async function main() {
  const own = args.url ? null : await startServer({ entry: args['null-store'] ? 'bench/ingest-null-server.ts' : 'server/main.ts' })
  const url = new URL('/api/v1/events', args.url ?? own!.url)
  const token = args.token ?? own!.token
  const bodies = prepareBodies()
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })

  const post = (body: Buffer) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', 'content-length': body.length },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 300)}`))
            resolve(JSON.parse(Buffer.concat(chunks).toString()).accepted as number)
          })
        },
      )
      req.on('error', reject)
      req.end(body)
    })

  // Events acknowledged but still in the server's spool (not yet in ClickHouse), from /readyz.
  const readToken = args['read-token'] || null
  const backlog = async (): Promise<number | null> => {
    if (!readToken) return null
    const res = await fetch(new URL('/readyz', url), { headers: { authorization: `Bearer ${readToken}` } })
    return ((await res.json()) as { spool_events: number }).spool_events
  }

  // Warm-up: JIT, first parts, connections.
  await Promise.all(Array.from({ length: concurrency }, (_, i) => post(bodies[i % bodies.length]!)))
  const backlog0 = await backlog()

  const latenciesMs: number[] = []
  let accepted = 0
  // At a fixed rate the bodies after the warm-up's come next (no event sent twice while they last).
  let next = rate > 0 ? concurrency : 0
  let sent = 0
  const cpu0 = process.cpuUsage()
  const serverCpu0 = own ? own.cpuSeconds() : 0
  console.log('ingest-load: sending')
  const start = performance.now()
  const deadline = start + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && (maxEvents <= 0 || sent < maxEvents)) {
        if (rate > 0) {
          const due = start + (sent / rate) * 1000
          sent += batch
          if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()))
          if (performance.now() >= deadline) break
        } else sent += batch
        const body = bodies[next++ % bodies.length]!
        const t = performance.now()
        const n = await post(body) // not `accepted += await …`: that reads `accepted` before the await
        accepted += n
        latenciesMs.push(performance.now() - t)
      }
    }),
  )
  const elapsedS = (performance.now() - start) / 1000
  const backlog1 = await backlog()
  const cpu = process.cpuUsage(cpu0)
  const serverCpuS = own ? own.cpuSeconds() - serverCpu0 : 0
  latenciesMs.sort((a, b) => a - b)
  const q = (p: number) => latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(p * latenciesMs.length))]!
  console.log(
    JSON.stringify({
      events_per_s: Math.round(accepted / elapsedS),
      events: accepted,
      // Acknowledged events are durable in the spool; these reached ClickHouse within the window too.
      ...(backlog0 !== null && backlog1 !== null
        ? { stored_events_per_s: Math.round((accepted - backlog1 + backlog0) / elapsedS), spool_backlog_at_end: backlog1 }
        : {}),
      requests: latenciesMs.length,
      seconds: Number(elapsedS.toFixed(2)),
      ...(rate > 0 ? { target_rate: rate } : {}),
      concurrency,
      batch,
      latency_ms: { p50: Number(q(0.5).toFixed(1)), p99: Number(q(0.99).toFixed(1)), max: Number(latenciesMs.at(-1)!.toFixed(1)) },
      client_cpu_pct: Math.round(((cpu.user + cpu.system) / 1e6 / elapsedS) * 100),
      ...(own
        ? {
            server_peak_rss_mb: Math.round(own.peakRssMb()),
            // Load-independent cost: server CPU time (all threads: HTTP, validation, engine, merges) per event.
            server_cpu_us_per_event: Number(((serverCpuS * 1e6) / accepted).toFixed(2)),
            server_cpu_cores_busy: Number((serverCpuS / elapsedS).toFixed(2)),
          }
        : {}),
    }),
  )
  agent.destroy()
  await own?.stop()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
