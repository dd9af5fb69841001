/**
 * Soak test: sustained ingest at half the measured maximum rate (or --rate) for --minutes
 * (default 10) into the real server (a child process on a fresh data directory), with
 * dashboard users querying in parallel. Samples the server's RSS every 5 s and reports:
 * RSS at start (after a 1-minute warm-up), end, max and slope (least squares, MiB/min);
 * ingest ack latency p50/p99/max; query latency p50/p99/max per view; and that the stored
 * events (read from the data directory after a clean stop) equal the acknowledged ones.
 *
 *   npx tsx scripts/soak.ts                        # probe the max rate 20 s, then 10 min at half
 *   npx tsx scripts/soak.ts --minutes 2 --rate 20000 --out /tmp/soak.json
 *
 * Exit code 0 when nothing was lost; the RSS and latency figures are reported, not judged
 * (see docs/reliability.md for the measured run and how to read them).
 */
import { Command } from 'commander'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../server/config.js'
import { synthetic } from '../server/scenarios/synthetic.js'
import { openStore } from '../server/storage/client.js'
import { rssMiB } from '../test/helpers/child-server.js'
import { freePort, percentile, sendUntilAcked, startServer, stopServer, TOKENS, waitSpoolEmpty, type SendStats } from './reliability-lib.js'

const opts = new Command()
  .option('--minutes <n>', 'soak duration', (v) => Number(v), 10)
  .option('--rate <n>', 'events per second (default: half the rate measured by a probe)', (v) => Number(v))
  .option('--probe-seconds <n>', 'length of the max-rate probe', (v) => Number(v), 20)
  .option('--batch <n>', 'events per NDJSON request', (v) => Number(v), 1_000)
  .option('--dashboards <n>', 'dashboard users, each refreshing five views every --refresh-ms', (v) => Number(v), 2)
  .option('--refresh-ms <n>', 'dashboard refresh interval', (v) => Number(v), 2_000)
  .option('--out <file>', 'write the result as JSON here')
  .parse()
  .opts<{ minutes: number; rate?: number; probeSeconds: number; batch: number; dashboards: number; refreshMs: number; out?: string }>()

const log = (msg: string) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// One incident's events as NDJSON batches, generated once; each new incident reuses them with
// its own incident_id (event ids are unique within an incident, which is what deduplication keys on).
const TENANTS_PER_INCIDENT = 20_000
const TEMPLATE = 'soak-template'
const now = Date.now()
const template = synthetic({ seed: 11, incidentId: TEMPLATE, tenants: TENANTS_PER_INCIDENT, eventsPerTenant: 10, startMs: now - 3 * 86_400_000, durationMs: 2 * 86_400_000 })
const templateBatches: { body: string; lines: number }[] = []
{
  let lines: string[] = []
  for (const e of template.events({ ordered: true })) {
    lines.push(JSON.stringify(e))
    if (lines.length === opts.batch) {
      templateBatches.push({ body: lines.join('\n') + '\n', lines: lines.length })
      lines = []
    }
  }
  if (lines.length) templateBatches.push({ body: lines.join('\n') + '\n', lines: lines.length })
}
const needle = `"incident_id":"${TEMPLATE}"`

/** Batches forever: incident soak-0, soak-1, …, each the whole template. */
class Source {
  incident = 0
  private i = 0
  next(): { incident: string; body: string; lines: number } {
    if (this.i === templateBatches.length) {
      this.i = 0
      this.incident++
    }
    const b = templateBatches[this.i++]!
    const incident = `soak-${this.incident}`
    return { incident, body: b.body.replaceAll(needle, `"incident_id":"${incident}"`), lines: b.lines }
  }
}

const newStats = (): SendStats => ({ requests: 0, retries: 0, acked: 0, ackedEvents: 0, ackMs: [] })

/** Closed loop, 4 requests in flight, for `seconds`: the most the server acknowledges. */
async function probe(url: string, source: Source, seconds: number): Promise<number> {
  const stats = newStats()
  const end = Date.now() + seconds * 1000
  const worker = async () => {
    while (Date.now() < end) {
      const b = source.next()
      await sendUntilAcked(() => url, b.body, b.lines, stats)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: 4 }, worker))
  return stats.ackedEvents / ((performance.now() - start) / 1000)
}

const VIEWS = ['summary', 'recovery', 'communications', 'tenants?limit=50', 'downtime-histogram'] as const

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-soak-'))
  const port = await freePort()
  const server = await startServer(dataDir, port)
  const url = server.url
  try {
    const source = new Source()
    let rate = opts.rate
    let measuredMax: number | null = null
    if (!rate) {
      log(`probing the max ingest rate for ${opts.probeSeconds} s (batches of ${opts.batch}, 4 in flight)`)
      measuredMax = await probe(url, source, opts.probeSeconds)
      rate = Math.round(measuredMax / 2)
      log(`max ≈ ${Math.round(measuredMax).toLocaleString('en')} events/s → soak at ${rate.toLocaleString('en')} events/s`)
    }
    source.incident++ // the soak starts a fresh incident
    const firstSoakIncident = source.incident

    const durationMs = opts.minutes * 60_000
    const start = performance.now()
    const endAt = start + durationMs
    const stats = newStats()
    const perIncident = new Map<string, number>()
    let behindMaxMs = 0
    let inFlight = 0
    let maxInFlight = 0

    // Open loop: one request every batch/rate seconds, whatever the answers take (up to 32 in flight).
    const intervalMs = (1000 * opts.batch) / rate
    const sends: Promise<void>[] = []
    const sender = (async () => {
      for (let k = 0; ; k++) {
        const due = start + k * intervalMs
        if (due >= endAt) break
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
        else behindMaxMs = Math.max(behindMaxMs, -wait)
        while (inFlight >= 32) await sleep(5)
        const b = source.next()
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        sends.push(
          sendUntilAcked(() => url, b.body, b.lines, stats).then(() => {
            inFlight--
            perIncident.set(b.incident, (perIncident.get(b.incident) ?? 0) + b.lines)
          }),
        )
      }
      await Promise.all(sends)
    })()

    // Dashboard users: every refresh, the five views of the live incident.
    const queryMs: Record<string, number[]> = Object.fromEntries(VIEWS.map((v) => [v, []]))
    let queryErrors = 0
    const dashboards = Array.from({ length: opts.dashboards }, async (_, d) => {
      await sleep((d * opts.refreshMs) / opts.dashboards)
      while (performance.now() < endAt) {
        const incident = `soak-${Math.max(firstSoakIncident, source.incident - (d % 2))}` // the live one, or the one before
        await Promise.all(
          VIEWS.map(async (view) => {
            const t = performance.now()
            const res = await fetch(`${url}/api/v1/incidents/${incident}/${view}`, { headers: { authorization: `Bearer ${TOKENS.read}` } }).catch(() => null)
            if (res) await res.arrayBuffer()
            if (res?.status === 200) queryMs[view]!.push(performance.now() - t)
            else if (res?.status !== 404) queryErrors++ // 404: the incident's first batch is not stored yet
          }),
        )
        await sleep(opts.refreshMs)
      }
    })

    // RSS every 5 s.
    const rss: { t_s: number; mib: number }[] = []
    const sampler = (async () => {
      while (performance.now() < endAt) {
        rss.push({ t_s: Math.round((performance.now() - start) / 1000), mib: Math.round(rssMiB(server.pid) * 10) / 10 })
        const minute = Math.floor((performance.now() - start) / 60_000)
        if (rss.length % 12 === 0) log(`minute ${minute}: ${stats.ackedEvents.toLocaleString('en')} events acknowledged, RSS ${rss.at(-1)!.mib} MiB, ${inFlight} in flight`)
        await sleep(5000)
      }
    })()

    await Promise.all([sender, sampler, ...dashboards])
    const wallS = (performance.now() - start) / 1000
    await waitSpoolEmpty(url)
    await stopServer(server)

    // Stored vs acknowledged, per incident, from the data directory.
    const store = await openStore(loadConfig({ AFTERMATH_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: 'aftermath', AFTERMATH_TOKENS: 'admin:unused-token-0123456789abcdef0123' }))
    const rows = await store.rows<{ incident_id: string; n: number }>(
      `SELECT incident_id, count() AS n FROM aftermath.events FINAL WHERE startsWith(incident_id, {prefix:String}) GROUP BY incident_id`,
      { prefix: 'soak-' },
    )
    await store.close()
    const storedByIncident = new Map(rows.map((r) => [r.incident_id, Number(r.n)]))
    const mismatches = [...perIncident].filter(([inc, n]) => storedByIncident.get(inc) !== n).map(([inc, n]) => `${inc}: acked ${n}, stored ${storedByIncident.get(inc) ?? 0}`)
    const storedSoak = [...perIncident.keys()].reduce((n, inc) => n + (storedByIncident.get(inc) ?? 0), 0)

    // RSS after a 1-minute warm-up: first, last, max, least-squares slope.
    const steady = rss.filter((s) => s.t_s >= 60)
    const series = steady.length >= 3 ? steady : rss
    const n = series.length
    const mt = series.reduce((a, s) => a + s.t_s, 0) / n
    const mm = series.reduce((a, s) => a + s.mib, 0) / n
    const slope = series.reduce((a, s) => a + (s.t_s - mt) * (s.mib - mm), 0) / series.reduce((a, s) => a + (s.t_s - mt) ** 2, 0)
    const allQueries = Object.values(queryMs).flat()
    const round = (v: number) => Math.round(v)
    const result = {
      machine: { cpus: cpus().length, loadavg_1m_at_end: Math.round(loadavg()[0]! * 100) / 100 },
      minutes: opts.minutes,
      measured_max_events_per_s: measuredMax && Math.round(measuredMax),
      target_events_per_s: rate,
      achieved_events_per_s: Math.round(stats.ackedEvents / wallS),
      batch: opts.batch,
      acknowledged_events: stats.ackedEvents,
      stored_events: storedSoak,
      nothing_lost: mismatches.length === 0 && storedSoak === stats.ackedEvents,
      mismatches: mismatches.slice(0, 10),
      incidents: perIncident.size,
      requests: stats.acked,
      retried_requests: stats.retries,
      sender_max_behind_ms: round(behindMaxMs),
      max_in_flight: maxInFlight,
      ack_ms: { p50: round(percentile(stats.ackMs, 50)), p99: round(percentile(stats.ackMs, 99)), max: round(Math.max(...stats.ackMs)) },
      query_ms: {
        all: { n: allQueries.length, p50: round(percentile(allQueries, 50)), p99: round(percentile(allQueries, 99)), max: round(Math.max(...allQueries)) },
        ...Object.fromEntries(Object.entries(queryMs).map(([v, ms]) => [v.replace(/\?.*/, ''), { p50: round(percentile(ms, 50)), p99: round(percentile(ms, 99)) }])),
      },
      query_errors: queryErrors,
      rss_mib: {
        at_1_min: series[0]?.mib,
        end: series.at(-1)?.mib,
        max: Math.max(...rss.map((s) => s.mib)),
        slope_mib_per_min: Math.round(slope * 60 * 100) / 100,
        samples: rss.map((s) => s.mib),
      },
    }
    console.log(JSON.stringify(result, null, 2))
    if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n')
    log(result.nothing_lost ? 'PASS: stored = acknowledged' : 'FAIL: stored ≠ acknowledged')
    process.exitCode = result.nothing_lost ? 0 : 1
  } finally {
    await stopServer(server).catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
