/**
 * Crash test: replay N events (default 1,000,000) into the real server while it is killed with
 * SIGKILL at random moments (default 5 times) and restarted on the same port and data
 * directory. Every batch is retried until acknowledged. Afterwards:
 *   - the stored events (FINAL, read from the data directory once the server has stopped)
 *     are exactly the events sent: count = distinct event_id = N, none lost, none twice;
 *   - every figure (summary, weighted and broadcast variants, recovery, by-tier recovery,
 *     communications, histogram, tenants page, CSV, incidents list, 25 tenants' timelines) equals that of a clean
 *     reference run of the same events into a fresh data directory without kills.
 *
 *   npx tsx scripts/crash.ts                       # 1M events, 5 kills
 *   npx tsx scripts/crash.ts --events 100000 --kills 5 --out /tmp/crash.json   # CI size
 *
 * Exit code 0 when both checks hold, 1 otherwise. See docs/reliability.md for measured figures.
 */
import { Command } from 'commander'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../server/config.js'
import { createScenario } from '../server/scenarios/index.js'
import { openStore } from '../server/storage/client.js'
import type { ChildServer } from '../test/helpers/child-server.js'
import { differences, freePort, incidentFigures, percentile, sendUntilAcked, startServer, stopServer, TOKENS, waitSpoolEmpty, type SendStats } from './reliability-lib.js'

const opts = new Command()
  .option('--events <n>', 'events to replay (about; the scenario adds a few incident-wide ones)', (v) => Number(v), 1_000_000)
  .option('--kills <n>', 'kill -9 + restart this many times', (v) => Number(v), 5)
  .option('--batch <n>', 'events per NDJSON request', (v) => Number(v), 5_000)
  .option('--concurrency <n>', 'requests in flight', (v) => Number(v), 2)
  .option('--seed <n>', 'scenario and kill-moment seed', (v) => Number(v), Date.now() % 100_000)
  .option('--out <file>', 'write the result as JSON here')
  .parse()
  .opts<{ events: number; kills: number; batch: number; concurrency: number; seed: number; out?: string }>()

const INCIDENT = 'crash-test'
let rand = opts.seed >>> 0 || 1
/** xorshift32: the kill moments are reproducible from --seed. */
const random = () => {
  rand ^= rand << 13
  rand ^= rand >>> 17
  rand ^= rand << 5
  return (rand >>> 0) / 2 ** 32
}
const log = (msg: string) => console.error(`[crash ${new Date().toISOString().slice(11, 19)}] ${msg}`)

const scenario = createScenario('synthetic', { seed: opts.seed, incidentId: INCIDENT, tenants: Math.max(1, Math.round(opts.events / 10)), eventsPerTenant: 10 })
const asOf = new Date(scenario.endMs + 86_400_000).toISOString()

function batches(): { body: string; lines: number }[] {
  const out: { body: string; lines: number }[] = []
  let lines: string[] = []
  for (const e of scenario.events({ ordered: false })) {
    lines.push(JSON.stringify(e))
    if (lines.length === opts.batch) {
      out.push({ body: lines.join('\n') + '\n', lines: lines.length })
      lines = []
    }
  }
  if (lines.length > 0) out.push({ body: lines.join('\n') + '\n', lines: lines.length })
  return out
}

async function sendTenants(url: string) {
  const body = [...scenario.tenants()].map((t) => JSON.stringify(t)).join('\n')
  const res = await fetch(`${url}/api/v1/tenants`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKENS.ingest}` } })
  if (res.status !== 200) throw new Error(`tenants: ${res.status} ${await res.text()}`)
}

/** Send every batch until acknowledged, `concurrency` at a time; `onAck` after each. */
async function sendAll(url: string, all: { body: string; lines: number }[], stats: SendStats, onAck: () => void = () => {}) {
  let next = 0
  const worker = async () => {
    while (next < all.length) {
      const b = all[next++]!
      await sendUntilAcked(() => url, b.body, b.lines, stats)
      onAck()
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, worker))
}

const newStats = (): SendStats => ({ requests: 0, retries: 0, acked: 0, ackedEvents: 0, ackMs: [] })

async function startWithRetry(dir: string, port: number): Promise<ChildServer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startServer(dir, port)
    } catch (err) {
      if (attempt >= 5) throw err
      log(`restart failed (${(err as Error).message.split('\n')[0]}); retrying`)
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}

async function main() {
  const all = batches()
  const total = all.reduce((n, b) => n + b.lines, 0)
  log(`${total.toLocaleString('en')} events in ${all.length} requests of ≤ ${opts.batch}; ${opts.kills} kills; seed ${opts.seed}`)
  const dirs = { reference: mkdtempSync(join(tmpdir(), 'aftermath-crash-ref-')), crash: mkdtempSync(join(tmpdir(), 'aftermath-crash-')) }
  try {
    // 1. The clean reference: same events, fresh data directory, no kills.
    const refStart = performance.now()
    const ref = await startServer(dirs.reference, await freePort())
    await sendTenants(ref.url)
    await sendAll(ref.url, all, newStats())
    await waitSpoolEmpty(ref.url)
    const reference = await incidentFigures(ref.url, INCIDENT, asOf)
    await stopServer(ref)
    const referenceS = (performance.now() - refStart) / 1000
    log(`reference run: ${referenceS.toFixed(1)} s`)

    // 2. The crash run: same events; SIGKILL at random moments, restart on the same port.
    const port = await freePort()
    const crashStart = performance.now()
    let server = await startServer(dirs.crash, port)
    await sendTenants(server.url)
    const url = server.url
    const stats = newStats()
    const thresholds = Array.from({ length: opts.kills }, () => 0.05 + 0.9 * random()).sort((a, b) => a - b)
    const kills: { at_acked_pct: number; at_s: number; downtime_s: number }[] = []
    let waiting: (() => void) | null = null
    const killer = (async () => {
      for (const t of thresholds) {
        while (stats.ackedEvents < t * total) await new Promise<void>((r) => (waiting = r))
        await new Promise((r) => setTimeout(r, random() * 500)) // a random moment inside the next request(s)
        const atS = (performance.now() - crashStart) / 1000
        const ackedPct = (100 * stats.ackedEvents) / total
        process.kill(server.pid, 'SIGKILL')
        await server.exited
        const down = performance.now()
        server = await startWithRetry(dirs.crash, port)
        kills.push({ at_acked_pct: Math.round(ackedPct * 10) / 10, at_s: Math.round(atS * 10) / 10, downtime_s: Math.round((performance.now() - down) / 100) / 10 })
        log(`kill ${kills.length}/${opts.kills} at ${ackedPct.toFixed(1)} % acknowledged; back after ${kills.at(-1)!.downtime_s} s`)
      }
    })()
    await sendAll(url, all, stats, () => {
      waiting?.()
      waiting = null
    })
    // Any kill still pending fires now (its threshold was passed by the last acknowledgements).
    while (kills.length < thresholds.length) {
      ;(waiting as (() => void) | null)?.()
      await new Promise((r) => setTimeout(r, 50))
    }
    await killer
    await waitSpoolEmpty(url)
    const crashS = (performance.now() - crashStart) / 1000
    const figures = await incidentFigures(url, INCIDENT, asOf)
    await stopServer(server)

    // 3. What is stored, read from the data directory itself.
    const store = await openStore(loadConfig({ AFTERMATH_DATA_DIR: dirs.crash, CLICKHOUSE_DATABASE: 'aftermath', AFTERMATH_TOKENS: 'admin:unused-token-0123456789abcdef0123' }))
    const [stored] = await store.rows<{ final_rows: number; distinct_ids: number; raw_rows: number }>(
      `SELECT (SELECT count() FROM aftermath.events FINAL WHERE incident_id = {i:String}) AS final_rows,
              (SELECT uniqExact(event_id) FROM aftermath.events WHERE incident_id = {i:String}) AS distinct_ids,
              (SELECT count() FROM aftermath.events WHERE incident_id = {i:String}) AS raw_rows`,
      { i: INCIDENT },
    )
    await store.close()

    const diff = differences(figures, reference)
    const result = {
      events: total,
      requests_needed: all.length,
      batch: opts.batch,
      concurrency: opts.concurrency,
      seed: opts.seed,
      kills,
      requests_sent: stats.requests,
      retried_requests: stats.retries,
      ack_p50_ms: Math.round(percentile(stats.ackMs, 50)),
      ack_p99_ms: Math.round(percentile(stats.ackMs, 99)),
      crash_run_s: Math.round(crashS * 10) / 10,
      reference_run_s: Math.round(referenceS * 10) / 10,
      stored: { final_rows: Number(stored!.final_rows), distinct_event_ids: Number(stored!.distinct_ids), raw_rows_before_dedup: Number(stored!.raw_rows) },
      none_lost: Number(stored!.distinct_ids) === total,
      none_twice: Number(stored!.final_rows) === total,
      figures_equal_reference: diff.length === 0,
      figure_differences: diff.slice(0, 20),
      summary: { affected: (figures.summary as { affected: number }).affected, restored: (figures.summary as { restored: number }).restored },
    }
    console.log(JSON.stringify(result, null, 2))
    if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n')
    const ok = result.none_lost && result.none_twice && result.figures_equal_reference && kills.length === opts.kills
    log(ok ? 'PASS' : 'FAIL')
    process.exitCode = ok ? 0 : 1
  } finally {
    rmSync(dirs.reference, { recursive: true, force: true })
    rmSync(dirs.crash, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
