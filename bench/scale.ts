/**
 * CrowdStrike scale on one machine (#20): an incident in the shape of the July 2024 CrowdStrike
 * outage (bench/lib/scale-incident.ts) at several sizes, each served by the real server in its
 * own process, with every figure of the issue per size and its cost ratio per 10× of size.
 *
 *   npx tsx bench/scale.ts [--sizes 1000000,10000000,40000000] [--reuse] [--out bench/scale-results.json] [--merge]
 *       [--requests 20] [--dashboard-runs 3] [--live-seconds 30] [--live-rate 20000] [--no-build]
 *   npm run bench -- --only scale [--sizes …] [--reuse]
 *
 * Sizes are in events; tenants = events / 4.7 (1M → 213k tenants, 10M → 2.1M, 40M → 8.5M).
 * Per size:
 *   1. generate the incident inside ClickHouse (a child process: one engine per process) into
 *      data/bench-scale-N; with --reuse it is kept and reused, and each run works on a copy of it
 *      (data/bench-scale-N-run), so every run derives the same untouched data;
 *   2. start the server (`node --import tsx server/main.ts`, AFTERMATH_LOG_LEVEL=debug for its
 *      'tenant state derived' line) and ask for one timeline at once: the state sync derives
 *      tenant_state for the whole incident (the server's own start-up derivation, or the one the
 *      request starts, whichever is first). Timed until that log line; the server's peak RSS
 *      (VmHWM) at that moment, and again once the server is idle (the tenant_state merge and the
 *      incident log build that follow);
 *   3. each view over HTTP at as_of = day 3 (mid-recovery): 3 warm-ups then --requests timed,
 *      one at a time; the timeline asks for another tenant each time;
 *   4. the customers CSV export (tenants.csv) and the Markdown report (report.md), once each:
 *      time to first byte, total, bytes, the server's RSS growth (sampled every 20 ms) and VmHWM;
 *   5. the dashboard in Chromium (bench/lib/dashboard.ts), one warm-up and --dashboard-runs loads;
 *   6. the live path, once the server is idle: bench/ingest-load.ts in its own process sends
 *      --live-rate events/s to the same incident (each event another tenant, from day 10 on) while
 *      the summary the live dashboard asks for (as_of = now) is timed, one request after another,
 *      for --live-seconds; refusals (503 + Retry-After) are counted and fail the target, and the
 *      state sync's derivations meanwhile are listed from the server's log;
 *   7. HTTP ingest at that table size, once the server is idle: bench/ingest-load.ts (8
 *      connections, NDJSON of 1,000, into its default incident) sends a slice of events/8 events
 *      (5M at 40M; at least 500,000), events/s acknowledged; the same slice into a fresh server on
 *      an empty table just before, as the control (what the machine does at that moment).
 * Machine load (os.loadavg) and CPU steal are recorded per phase. Prints the table and writes the
 * JSON; --merge keeps the other sizes of an earlier --out, so 40M run alone is tabled beside 1M/10M.
 * A target applies at 40M; where 40M was not run, the value the last ratio projects for it is shown.
 */
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { dashboardUrl, measureDashboard, type DashboardMeasure } from './lib/dashboard.js'
import { DERIVE_PART_EVENTS } from '../server/metrics/state-sync.js'
import { D } from './lib/incident.js'
import { memoryMb, runJsonScript, startServer, type ServerUnderTest } from './lib/proc.js'
import { machine, stealMeter, table, writeJson, type Row } from './lib/report.js'
import { SCALE_BASE_MS, SCALE_INCIDENT, SCALE_PREFIX, tenantsForEvents } from './lib/scale-incident.js'
import { latencySummary, round } from './lib/stats.js'
import { spreadTenant, timeView, viewCases, type ViewTiming } from './lib/views.js'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000000,10000000,40000000' },
    reuse: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/scale-results.json' },
    requests: { type: 'string', default: '20' },
    'dashboard-runs': { type: 'string', default: '3' },
    'live-seconds': { type: 'string', default: '30' },
    'live-rate': { type: 'string', default: '20000' },
    /** Use dist/client as it is (else `vite build` first). */
    'no-build': { type: 'boolean', default: false },
    /** Keep the results of other sizes already in --out (e.g. 1M and 10M from an earlier run beside a 40M one): the table and ratios cover them all. */
    merge: { type: 'boolean', default: false },
    /** Internal: generate the incident into this data directory (child process), print JSON and exit. */
    generate: { type: 'string' },
    tenants: { type: 'string' },
  },
})

const DB = 'bench'
const READ_TOKEN = 'bench-read-token-123-0123456789abcdef0123'
const AS_OF = new Date(SCALE_BASE_MS + 3 * D).toISOString()
const BIG = 40_000_000
const H_MS = 3_600_000

// ---------------------------------------------------------------------------------------------
// Generation (a child process of its own: chdb holds one engine per process).

interface Generated {
  tenants: number
  events: number
  generate_s: number
  merges_wait_s: number
  parts: number
  disk_bytes: Record<string, number>
}

async function generateInto(dir: string, tenants: number): Promise<Generated> {
  const { loadConfig } = await import('../server/config.js')
  const { openStore } = await import('../server/storage/client.js')
  const { migrate } = await import('../server/storage/migrations.js')
  const { generateScaleIncident } = await import('./lib/scale-incident.js')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const store = await openStore(loadConfig({ AFTERMATH_DATA_DIR: dir, CLICKHOUSE_DATABASE: DB, AFTERMATH_TOKENS: `read:${READ_TOKEN}`, AFTERMATH_STORAGE_TIMEOUT_MS: '600000' }))
  try {
    await migrate(store)
    const t0 = performance.now()
    await generateScaleIncident(store, { tenants })
    const generateS = (performance.now() - t0) / 1000
    // Let the engine finish the merges the inserts started, so the server starts on settled parts.
    const t1 = performance.now()
    let quiet = 0
    while (quiet < 2 && performance.now() - t1 < 600_000) {
      const [m] = await store.rows<{ n: number }>(`SELECT count() AS n FROM system.merges WHERE database = '${DB}'`)
      quiet = Number(m!.n) === 0 ? quiet + 1 : 0
      await new Promise((r) => setTimeout(r, 1000))
    }
    const [c] = await store.rows<{ events: number; parts: number }>(
      `SELECT (SELECT count() FROM ${DB}.events) AS events, (SELECT count() FROM system.parts WHERE database = '${DB}' AND table = 'events' AND active) AS parts`,
    )
    const sizes = await store.rows<{ table: string; bytes: number }>(`SELECT table, sum(data_compressed_bytes) AS bytes FROM system.parts WHERE database = '${DB}' AND active GROUP BY table`)
    return {
      tenants,
      events: Number(c!.events),
      generate_s: round(generateS, 1),
      merges_wait_s: round((performance.now() - t1) / 1000, 1),
      parts: Number(c!.parts),
      disk_bytes: Object.fromEntries(sizes.map((s) => [s.table, Number(s.bytes)])),
    }
  } finally {
    await store.close()
  }
}

if (args.generate) {
  const r = await generateInto(args.generate, Number(args.tenants))
  writeFileSync(`${args.generate}/bench-scale-generated.json`, JSON.stringify(r) + '\n')
  console.log(JSON.stringify(r))
  process.exit(0)
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers.

const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)} load ${loadavg()[0]!.toFixed(1)}] ${s}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const load1 = () => round(loadavg()[0]!, 2)

interface Phase {
  wall_s: number
  loadavg_1m_start: number
  loadavg_1m_end: number
  steal_pct: number
}
/** Run one phase of a size, recording its wall time, the load average around it and the steal during it. */
async function phase<T>(phases: Record<string, Phase>, name: string, fn: () => Promise<T>): Promise<T> {
  const steal = stealMeter()
  const l0 = load1()
  const t = performance.now()
  log(`  ${name}…`)
  try {
    return await fn()
  } finally {
    phases[name] = { wall_s: round((performance.now() - t) / 1000, 1), loadavg_1m_start: l0, loadavg_1m_end: load1(), steal_pct: steal.stop() }
    log(`  ${name}: ${phases[name].wall_s} s (steal ${phases[name].steal_pct} %)`)
  }
}

/** Wait until the server process has used less than 10 % of a core for 3 s in a row (merges, the incident log build); at most `maxS`. */
async function untilIdle(server: ServerUnderTest, maxS = 1800): Promise<number> {
  const t = performance.now()
  let quiet = 0
  let cpu = server.cpuSeconds()
  while (quiet < 3 && performance.now() - t < maxS * 1000) {
    await sleep(1000)
    const now = server.cpuSeconds()
    quiet = now - cpu < 0.1 ? quiet + 1 : 0
    cpu = now
  }
  return round((performance.now() - t) / 1000 - 3, 1)
}

interface ExportTiming {
  status: number
  ttfb_ms: number
  total_ms: number
  bytes: number
  rss_before_mb: number
  rss_max_mb: number
  rss_growth_mb: number
  hwm_before_mb: number
  hwm_after_mb: number
  error?: string
}

/** One download, timed to its first body byte and to its end, with the server's RSS sampled every 20 ms meanwhile. */
async function timeExport(server: ServerUnderTest, path: string): Promise<ExportTiming> {
  const before = memoryMb(server.pid)
  let rssMax = before.rssMb
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, memoryMb(server.pid).rssMb)), 20)
  const t = performance.now()
  let ttfb = Number.NaN
  let bytes = 0
  let status = 0
  let error: string | undefined
  try {
    const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${READ_TOKEN}` } })
    status = res.status
    const reader = res.body!.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (Number.isNaN(ttfb)) ttfb = performance.now() - t
      bytes += value.byteLength
      if (status !== 200 && bytes < 2000) error = (error ?? '') + Buffer.from(value).toString()
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err)
  }
  const total = performance.now() - t
  clearInterval(sampler)
  const after = memoryMb(server.pid)
  rssMax = Math.max(rssMax, after.rssMb)
  return {
    status,
    ttfb_ms: round(ttfb, 1),
    total_ms: round(total, 1),
    bytes,
    rss_before_mb: round(before.rssMb),
    rss_max_mb: round(rssMax),
    rss_growth_mb: round(rssMax - before.rssMb),
    hwm_before_mb: round(before.peakMb),
    hwm_after_mb: round(after.peakMb),
    ...(error ? { error: error.slice(0, 500) } : {}),
  }
}

interface Derived {
  at_s: number
  ms: number
  incidents: number
}

interface LiveResult {
  seconds: number
  target_rate: number
  summary: { requests: number; statuses: Record<string, number>; refusals: Record<string, string>; p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number }
  load: Record<string, unknown>
  /** The state sync's derivations during the window (server log): count and ms. */
  derivations: { count: number; p50_ms: number; max_ms: number; all: Derived[] }
  server_rss_max_mb: number
}

interface ViewError {
  endpoint: string
  error: string
}

interface SizeResult {
  events_nominal: number
  tenants: number
  generated: Generated & { reused: boolean }
  boot_s: number
  rss_at_listen_mb: number
  derivation: {
    /** Statements the state sync derives the incident in (one per DERIVE_PART_EVENTS events, each reading the whole incident). */
    parts: number
    wall_s: number
    server_ms: number | null
    server_cpu_s: number
    peak_rss_mb: number
    idle_after_s: number
    peak_rss_after_idle_mb: number
    log_build_idle_s: number
    peak_rss_after_log_mb: number
  }
  views: (ViewTiming | ViewError)[]
  csv: ExportTiming
  report: ExportTiming
  dashboard: (DashboardMeasure & { error?: undefined }) | { error: string }
  live: LiveResult | { error: string }
  ingest: Record<string, unknown> | { error: string }
  ingest_empty_table: Record<string, unknown> | { error: string }
  server_peak_rss_mb: number
  warnings: string[]
  phases: Record<string, Phase>
  steal_pct: number
  wall_s: number
}

/** The views of #20 at as_of = day 3, by the names of bench/lib/views.ts. */
const VIEWS: [key: string, name: string][] = [
  ['summary', 'summary'],
  ['recovery', 'recovery (auto)'],
  ['communications', 'communications (auto)'],
  ['tenants page', 'tenants page (50, downtime desc)'],
  ['timeline', 'tenant timeline'],
  ['histogram', 'downtime histogram'],
  ['incidents list', 'incidents list'],
  // Not in #20's list: the dashboard asks for it on load.
  ['overdue list', 'overdue list (50)'],
]

async function runSize(events: number): Promise<SizeResult> {
  const started = performance.now()
  const steal = stealMeter()
  const phases: Record<string, Phase> = {}
  const warnings: string[] = []
  const tenants = tenantsForEvents(events)
  const keep = `data/bench-scale-${events}`
  const marker = `${keep}/bench-scale-generated.json`
  log(`size ${events.toLocaleString('en')} events: ${tenants.toLocaleString('en')} tenants`)

  // 1. Data.
  let generated: Generated
  let reused = false
  if (args.reuse && existsSync(marker)) {
    generated = JSON.parse(readFileSync(marker, 'utf8')) as Generated
    reused = true
    log(`  reusing ${keep} (${generated.events.toLocaleString('en')} events, generated in ${generated.generate_s} s)`)
  } else {
    generated = await phase(phases, 'generate', () => runJsonScript<Generated>('bench/scale.ts', ['--generate', keep, '--tenants', String(tenants)], { echo: true }))
    log(`  generated ${generated.events.toLocaleString('en')} events in ${generated.generate_s} s (+${generated.merges_wait_s} s of merges), ${generated.parts} parts`)
  }
  let dir = keep
  if (args.reuse) {
    dir = `${keep}-run`
    await phase(phases, 'copy', async () => {
      rmSync(dir, { recursive: true, force: true })
      cpSync(keep, dir, { recursive: true })
    })
  }

  // 2. Server and derivation.
  const derivedLines: Derived[] = []
  const warnLines: string[] = []
  let listenAt = 0
  let onDerived: (() => void) | null = null
  const t0 = performance.now()
  const server = await startServer({
    dataDir: dir,
    env: { CLICKHOUSE_DATABASE: DB, AFTERMATH_LOG_LEVEL: 'debug' },
    onLine(line) {
      if (!line.startsWith('{')) return
      try {
        const l = JSON.parse(line) as { level: number; msg: string; ms?: number; incidents?: number }
        if (l.msg === 'tenant state derived') {
          derivedLines.push({ at_s: round((performance.now() - listenAt) / 1000, 2), ms: Number(l.ms), incidents: Number(l.incidents) })
          if (Number(l.incidents) > 0) onDerived?.()
        } else if (l.level >= 40) warnLines.push(line.slice(0, 600))
      } catch {
        /* not a log line */
      }
    },
  })
  listenAt = performance.now()
  const bootS = round((listenAt - t0) / 1000, 1)
  const rssAtListen = round(memoryMb(server.pid).rssMb)
  log(`  server pid ${server.pid} listening after ${bootS} s, RSS ${rssAtListen} MiB`)
  const base = `/api/v1/incidents/${SCALE_INCIDENT}`
  const get = (path: string) => fetch(server.url + path, { headers: { authorization: `Bearer ${READ_TOKEN}` } })
  let stopped = false
  try {
    const derivation = await phase(phases, 'derive', async () => {
      const cpu0 = server.cpuSeconds()
      const done = new Promise<void>((resolve) => {
        onDerived = resolve
        if (derivedLines.some((d) => d.incidents > 0)) resolve()
      })
      // The first request of an incident waits for its derivation (or the server's own start-up one is running).
      // (A derivation longer than fetch's 5-minute header timeout ends this request, not the run.)
      const first = get(`${base}/tenants/${SCALE_PREFIX}1/timeline?as_of=${AS_OF}`)
        .then(async (r) => ({ status: r.status, body: await r.text() }))
        .catch((err: unknown) => ({ status: 0, body: err instanceof Error ? `${err.message} (${String((err as { cause?: unknown }).cause ?? '')})` : String(err) }))
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no derivation within 4 h')), 4 * H_MS)))
      try {
        await Promise.race([done, timeout])
      } finally {
        clearTimeout(timer)
      }
      const wallS = round((performance.now() - listenAt) / 1000, 1)
      const peak = round(memoryMb(server.pid).peakMb)
      const serverCpuS = round(server.cpuSeconds() - cpu0, 1)
      const r = await first
      if (r.status !== 200) warnings.push(`first timeline → ${r.status} ${r.body.slice(0, 200)}`)
      const serverMs = derivedLines.find((d) => d.incidents > 0)?.ms ?? null
      log(`  derived in ${wallS} s (server: ${serverMs} ms, ${serverCpuS} CPU s), peak RSS ${peak} MiB`)
      const idleS = await untilIdle(server)
      const afterIdle = round(memoryMb(server.pid).peakMb)
      log(`  idle ${idleS} s later (tenant_state merge), peak RSS ${afterIdle} MiB`)
      // The dashboard's default views from the incident log: the first asks for it, then it is built in the background.
      for (const v of ['summary', 'recovery', 'communications']) await (await get(`${base}/${v}?as_of=${AS_OF}`)).arrayBuffer()
      const logIdleS = await untilIdle(server)
      const afterLog = round(memoryMb(server.pid).peakMb)
      log(`  incident log: idle ${logIdleS} s after the first views, peak RSS ${afterLog} MiB`)
      return { parts: Math.max(1, Math.ceil(generated.events / DERIVE_PART_EVENTS)), wall_s: wallS, server_ms: serverMs, server_cpu_s: serverCpuS, peak_rss_mb: peak, idle_after_s: idleS, peak_rss_after_idle_mb: afterIdle, log_build_idle_s: logIdleS, peak_rss_after_log_mb: afterLog }
    })

    // 3. Views at day 3.
    const cases = new Map(viewCases({ incident: SCALE_INCIDENT, asOf: AS_OF, tenantId: spreadTenant(SCALE_PREFIX, tenants), tenantsPageLimit: 50 }))
    const views = await phase(phases, 'views', async () => {
      const out: (ViewTiming | ViewError)[] = []
      for (const [, name] of VIEWS) {
        try {
          const r = await timeView({ url: server.url, token: READ_TOKEN, name, pathOf: cases.get(name)!, requests: Number(args.requests), cpuMs: () => server.cpuSeconds() * 1000 })
          out.push(r)
          log(`    ${name.padEnd(34)} p50 ${r.p50_ms.toFixed(1).padStart(8)} ms  p95 ${r.p95_ms.toFixed(1).padStart(8)} ms  server CPU p50 ${r.cpu_p50_ms.toFixed(0)} ms  ${r.bytes} B`)
        } catch (err) {
          out.push({ endpoint: name, error: err instanceof Error ? err.message : String(err) })
          log(`    ${name.padEnd(34)} FAILED: ${out.at(-1)!.endpoint} ${(out.at(-1) as ViewError).error}`)
        }
      }
      return out
    })

    // 4. Exports.
    const csv = await phase(phases, 'csv', () => timeExport(server, `${base}/tenants.csv?as_of=${AS_OF}`))
    log(`    tenants.csv: ${csv.status}, first byte ${csv.ttfb_ms} ms, total ${csv.total_ms} ms, ${csv.bytes} B, RSS ${csv.rss_before_mb} → max ${csv.rss_max_mb} MiB (+${csv.rss_growth_mb})${csv.error ? ` ${csv.error}` : ''}`)
    const report = await phase(phases, 'report', () => timeExport(server, `${base}/report.md?as_of=${AS_OF}`))
    log(`    report.md: ${report.status}, total ${report.total_ms} ms, ${report.bytes} B, RSS +${report.rss_growth_mb} MiB${report.error ? ` ${report.error}` : ''}`)

    // 5. Dashboard.
    const dashboard = await phase(phases, 'dashboard', async () => {
      const { launchBrowser } = await import('../test/helpers/browser.js')
      const browser = await launchBrowser()
      try {
        const m = await measureDashboard(browser, dashboardUrl(server.url, SCALE_INCIDENT, AS_OF, READ_TOKEN), Number(args['dashboard-runs']), { timeoutMs: 180_000 })
        log(`    dashboard: interactive median ${m.interactive_ms_median} ms, max ${m.interactive_ms_max} ms (first figure ${m.first_figure_ms_median} ms; warm-up ${m.warmup.interactive_ms} ms)`)
        log(`      warm-up requests: ${m.warmup_requests.join(', ')}`)
        return m
      } catch (err) {
        return { error: err instanceof Error ? err.message.split('\n')[0]! : String(err) }
      } finally {
        await browser.close()
      }
    })

    // 6. The live path.
    const live = await phase(phases, 'live', async () => {
      // From a quiet server (the dashboard's background work done).
      const idleWaitS = await untilIdle(server, 600)
      return livePath(server, tenants, derivedLines)
        .then((r) => ({ ...r, idle_wait_s: idleWaitS }))
        .catch((err) => ({ error: String(err instanceof Error ? err.message : err) }))
    })

    // 7. HTTP ingest at this table size.
    const slice = Math.max(500_000, Math.round(events / 8))
    const ingestArgs = ['--events', String(slice), '--seconds', '3600', '--concurrency', '8', '--batch', '1000']
    // The same slice into a server of its own on an empty table, just before: what this machine does now without the big table.
    const ingestEmpty = await phase(phases, 'ingest (empty table)', async () => {
      try {
        const r = await runJsonScript<Record<string, unknown>>('bench/ingest-load.ts', ingestArgs)
        log(`    ingest of ${slice.toLocaleString('en')} events into an empty table (a fresh server): ${r.events_per_s} events/s acknowledged (${r.stored_events_per_s} stored)`)
        return { slice, ...r }
      } catch (err) {
        return { error: String(err instanceof Error ? err.message : err) }
      }
    })
    const ingest = await phase(phases, 'ingest', async () => {
      try {
        // From a quiet server (the live feed's derivations and merges done).
        const idleWaitS = await untilIdle(server, 600)
        const r = await runJsonScript<Record<string, unknown>>('bench/ingest-load.ts', ['--url', server.url, '--token', server.token, ...ingestArgs])
        log(`    ingest of ${slice.toLocaleString('en')} events: ${r.events_per_s} events/s acknowledged (${r.stored_events_per_s} stored)`)
        return { slice, idle_wait_s: idleWaitS, ...r }
      } catch (err) {
        return { error: String(err instanceof Error ? err.message : err) }
      }
    })

    const serverPeak = await phase(phases, 'stop', async () => {
      stopped = true
      return round(await server.stop())
    })
    warnings.push(...warnLines)
    return {
      events_nominal: events,
      tenants,
      generated: { ...generated, reused },
      boot_s: bootS,
      rss_at_listen_mb: rssAtListen,
      derivation,
      views,
      csv,
      report,
      dashboard,
      live,
      ingest,
      ingest_empty_table: ingestEmpty,
      server_peak_rss_mb: serverPeak,
      warnings,
      phases,
      steal_pct: steal.stop(),
      wall_s: round((performance.now() - started) / 1000, 1),
    }
  } finally {
    if (!stopped) await server.stop().catch(() => {})
    if (args.reuse) rmSync(dir, { recursive: true, force: true })
    else rmSync(keep, { recursive: true, force: true })
  }
}

/** The live dashboard's summary (as_of = now) while bench/ingest-load.ts sends --live-rate events/s to the incident. */
async function livePath(server: ServerUnderTest, tenants: number, derivedLines: Derived[]): Promise<LiveResult> {
  const seconds = Number(args['live-seconds'])
  const rate = Number(args['live-rate'])
  const batch = 1000
  const sendS = seconds + 8
  const child = spawn(
    process.execPath,
    [
      '--import', 'tsx', 'bench/ingest-load.ts',
      '--url', server.url, '--token', server.token, '--rate', String(rate), '--seconds', String(sendS), '--concurrency', '4', '--batch', String(batch),
      '--bodies', String(Math.ceil((rate * sendS) / batch) + 8),
      '--incident', SCALE_INCIDENT, '--tenant-prefix', SCALE_PREFIX, '--tenants', String(tenants),
      // Late in the incident (from day 10 on), ids of their own.
      '--start', new Date(SCALE_BASE_MS + 10 * D).toISOString(), '--id-prefix', `live-${Date.now()}-`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  const sending = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('ingest-load: sending')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`ingest-load exited with ${code} before sending`)))
  })
  const exited = new Promise<number | null>((r) => child.once('exit', r))
  await sending
  // The feed reaches a steady state (first inserts, first derivations) before the clock starts.
  await sleep(3000)
  const from = derivedLines.length
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  /** The first answer of each status other than 200. */
  const refusals: Record<string, string> = {}
  let rssMax = 0
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    const t = performance.now()
    const res = await fetch(`${server.url}/api/v1/incidents/${SCALE_INCIDENT}/summary`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })
    const body = await res.text()
    latencies.push(performance.now() - t)
    statuses[res.status] = (statuses[res.status] ?? 0) + 1
    if (res.status !== 200) refusals[res.status] ??= `${body.slice(0, 300)} (Retry-After: ${res.headers.get('retry-after')})`
    rssMax = Math.max(rssMax, memoryMb(server.pid).rssMb)
  }
  const during = derivedLines.slice(from).filter((d) => d.incidents > 0)
  const code = await exited
  if (code !== 0) throw new Error(`ingest-load exited with ${code}`)
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'))
  const load = line ? (JSON.parse(line) as Record<string, unknown>) : {}
  const l = latencySummary(latencies)
  const d = latencySummary(during.map((x) => x.ms))
  const r: LiveResult = {
    seconds,
    target_rate: rate,
    summary: { requests: latencies.length, statuses, refusals, p50_ms: l.p50, p95_ms: l.p95, p99_ms: l.p99, max_ms: l.max },
    load,
    derivations: { count: during.length, p50_ms: d.p50, max_ms: d.max, all: during },
    server_rss_max_mb: round(rssMax),
  }
  log(`    live: summary p50 ${l.p50} ms, p95 ${l.p95} ms over ${latencies.length} requests ${JSON.stringify(statuses)}${Object.keys(refusals).length ? ` ${JSON.stringify(refusals)}` : ''}; feed ${load.events_per_s} events/s acknowledged; ${during.length} derivations (p50 ${d.p50} ms, max ${d.max} ms)`)
  return r
}

// ---------------------------------------------------------------------------------------------
// The table: per figure the value at each size and the cost ratio per 10× between sizes.

interface Figure {
  label: string
  unit: 'ms' | 's' | 'MiB' | 'ev/s' | 'B'
  value: (s: SizeResult) => number | null
  /** Target at 40M: the bound and which way. */
  target?: { bound: number; atMost: boolean }
  /** A view whose growth 10M → 40M must not exceed linear. */
  view?: boolean
  /** Said beside a size's value (e.g. refused requests); a size with a note `fails` misses the target. */
  note?: (s: SizeResult) => { text: string; fails: boolean } | null
}

/** Non-200 answers of a size's live summaries, or of an export. */
const liveNote = (s: SizeResult) => {
  const l = ok(s.live)
  if (!l) return { text: `failed: ${(s.live as { error: string }).error.slice(0, 80)}`, fails: true }
  const bad = Object.entries(l.summary.statuses).filter(([k]) => k !== '200')
  return bad.length ? { text: `${bad.map(([k, v]) => `${v} × ${k}`).join(', ')} of ${l.summary.requests}`, fails: true } : null
}
const exportNote = (e: (s: SizeResult) => ExportTiming) => (s: SizeResult) => {
  const x = e(s)
  if (x.status === 200) return null
  const code = /"code":"([^"]+)"/.exec(x.error ?? '')?.[1]
  return { text: `${x.status || 'failed'}${code ? ` ${code}` : ''} after ${fmt(x.total_ms, 'ms')}, server RSS +${x.rss_growth_mb} MiB`, fails: true }
}

const view = (name: string, q: 'p50_ms' | 'p95_ms' = 'p95_ms') => (s: SizeResult) => {
  const v = s.views.find((x) => x.endpoint === name)
  return v && !('error' in v) ? v[q] : null
}
const ok = <T extends object>(x: T | { error: string }): T | null => ('error' in x && typeof x.error === 'string' ? null : (x as T))

const FIGURES: Figure[] = [
  { label: 'derivation of the incident (wall)', unit: 's', value: (s) => s.derivation.wall_s },
  { label: 'derivation: server peak RSS (VmHWM)', unit: 'MiB', value: (s) => s.derivation.peak_rss_mb, target: { bound: 2048, atMost: true } },
  { label: '  then tenant_state merge + incident log: peak RSS', unit: 'MiB', value: (s) => s.derivation.peak_rss_after_log_mb },
  { label: 'summary p95 (day 3)', unit: 'ms', value: view('summary'), target: { bound: 500, atMost: true }, view: true },
  { label: 'recovery p95', unit: 'ms', value: view('recovery (auto)'), target: { bound: 200, atMost: true }, view: true },
  { label: 'communications p95', unit: 'ms', value: view('communications (auto)'), target: { bound: 200, atMost: true }, view: true },
  { label: 'tenants page (50, by downtime) p95', unit: 'ms', value: view('tenants page (50, downtime desc)'), target: { bound: 300, atMost: true }, view: true },
  { label: 'one tenant timeline p95', unit: 'ms', value: view('tenant timeline'), target: { bound: 20, atMost: true }, view: true },
  { label: 'downtime histogram p95', unit: 'ms', value: view('downtime histogram'), view: true },
  { label: 'incident list p95', unit: 'ms', value: view('incidents list'), view: true },
  { label: 'overdue list (50; the dashboard asks for it) p95', unit: 'ms', value: view('overdue list (50)'), view: true },
  { label: 'customers CSV: first byte', unit: 'ms', value: (s) => (s.csv.status === 200 ? s.csv.ttfb_ms : null), target: { bound: 1000, atMost: true }, note: exportNote((s) => s.csv) },
  { label: 'customers CSV: server RSS growth', unit: 'MiB', value: (s) => (s.csv.status === 200 ? s.csv.rss_growth_mb : null), target: { bound: 300, atMost: true }, note: exportNote((s) => s.csv) },
  { label: 'customers CSV: total', unit: 'ms', value: (s) => (s.csv.status === 200 ? s.csv.total_ms : null) },
  { label: 'customers CSV: size', unit: 'B', value: (s) => (s.csv.status === 200 ? s.csv.bytes : null) },
  { label: 'Markdown report: total', unit: 'ms', value: (s) => (s.report.status === 200 ? s.report.total_ms : null), view: true, note: exportNote((s) => s.report) },
  { label: 'dashboard: navigation → every chart drawn (median)', unit: 'ms', value: (s) => ok(s.dashboard)?.interactive_ms_median ?? null, target: { bound: 2500, atMost: true } },
  { label: 'live: summary p95 (as_of now) at 20,000 events/s', unit: 'ms', value: (s) => ok(s.live)?.summary.p95_ms ?? null, target: { bound: 1000, atMost: true }, note: liveNote },
  { label: 'HTTP ingest at this table size, durable ack', unit: 'ev/s', value: (s) => (ok(s.ingest)?.events_per_s as number | undefined) ?? null, target: { bound: 150_000, atMost: false } },
  { label: '  the same slice into an empty table (fresh server, just before)', unit: 'ev/s', value: (s) => (s.ingest_empty_table && (ok(s.ingest_empty_table)?.events_per_s as number | undefined)) ?? null },
]

const fmt = (x: number | null, unit: Figure['unit']) => {
  if (x === null || !Number.isFinite(x)) return '–'
  if (unit === 'ms') return `${x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en')} ms`
  if (unit === 's') return `${x.toFixed(1)} s`
  if (unit === 'MiB') return `${Math.round(x).toLocaleString('en')} MiB`
  if (unit === 'B') return `${(x / 1e6).toFixed(1)} MB`
  return `${Math.round(x).toLocaleString('en')} events/s`
}
const sizeLabel = (n: number) => `${n / 1e6}M`
/** Cost ratio scaled to 10× of size: (v2 / v1)^(1 / log10(n2 / n1)). */
const per10x = (v1: number, v2: number, n1: number, n2: number) => (v2 / v1) ** (1 / Math.log10(n2 / n1))

function figureRows(sizes: number[], results: Record<string, SizeResult>): { rows: Row[]; ratios: Record<string, Record<string, number | null>> } {
  const rows: Row[] = []
  const ratios: Record<string, Record<string, number | null>> = {}
  const big = sizes.includes(BIG) ? BIG : null
  const superlinear: string[] = []
  for (const f of FIGURES) {
    const values = sizes.map((n) => (results[n] ? f.value(results[n]!) : null))
    const r: Record<string, number | null> = {}
    for (let i = 1; i < sizes.length; i++) {
      const a = values[i - 1]
      const b = values[i]
      r[`${sizeLabel(sizes[i - 1]!)}→${sizeLabel(sizes[i]!)}`] = a && b ? round(per10x(a, b, sizes[i - 1]!, sizes[i]!), 2) : null
    }
    ratios[f.label] = r
    const ratioText = Object.entries(r)
      .map(([k, v]) => `${k} ×${v ?? '–'}`)
      .join(', ')
    // Where 40M was not run, the value the last ratio projects for it.
    const last = values.at(-1)
    const lastRatio = Object.values(r).at(-1)
    const projected = !big && last && lastRatio && sizes.at(-1)! < BIG ? last * lastRatio ** Math.log10(BIG / sizes.at(-1)!) : null
    const notes = sizes.map((n) => (results[n] && f.note ? f.note(results[n]!) : null))
    const measured =
      sizes.map((n, i) => `${sizeLabel(n)}: ${values[i] === null && notes[i] ? '' : fmt(values[i]!, f.unit)}${notes[i] ? `${values[i] === null ? '' : ' '}(${notes[i]!.text})` : ''}`).join(' · ') +
      (ratioText ? `; per 10×: ${ratioText}` : '') +
      (f.target && projected ? `; ≈${fmt(projected, f.unit)} at 40M by that ratio` : '')
    let met: boolean | null = null
    const at40 = big ? values[sizes.indexOf(big)] : null
    if (f.target && big) {
      met = at40 === null || at40 === undefined ? false : f.target.atMost ? at40 <= f.target.bound : at40 >= f.target.bound
      if (notes[sizes.indexOf(big)]?.fails) met = false
    }
    rows.push({
      figure: f.label,
      measured,
      target: f.target ? `${f.target.atMost ? '≤' : '≥'} ${fmt(f.target.bound, f.unit)} at 40M${big ? '' : ' (40M not run)'}` : 'informative',
      met,
    })
    if (f.view && big) {
      const i = sizes.indexOf(big)
      const prev = i > 0 ? values[i - 1] : null
      if (prev && values[i] && values[i]! / prev > big / sizes[i - 1]!) superlinear.push(`${f.label} ×${round(values[i]! / prev, 1)}`)
    }
  }
  // Growth faster than linear between the two largest sizes run (judged 10M → 40M).
  const n = sizes.length
  const growth = n >= 2
    ? FIGURES.filter((f) => f.view).map((f) => {
        const a = results[sizes[n - 2]!] ? f.value(results[sizes[n - 2]!]!) : null
        const b = results[sizes[n - 1]!] ? f.value(results[sizes[n - 1]!]!) : null
        return a && b ? `${f.label.replace(/ p95.*$/, '')} ×${round(b / a, 1)}` : null
      }).filter((x): x is string => x !== null)
    : []
  rows.push({
    figure: `views: growth ${n >= 2 ? `${sizeLabel(sizes[n - 2]!)} → ${sizeLabel(sizes[n - 1]!)}` : ''} (size ×${n >= 2 ? round(sizes[n - 1]! / sizes[n - 2]!, 1) : '–'})`,
    measured: growth.join(', ') || '–',
    target: `none faster than linear 10M → 40M${big ? '' : ' (40M not run)'}`,
    met: big ? superlinear.length === 0 : null,
  })
  return { rows, ratios }
}

// ---------------------------------------------------------------------------------------------

const toRun = args.sizes!.split(',').map(Number).filter((n) => n > 0).sort((a, b) => a - b)
const results: Record<string, SizeResult> = {}
// With --merge, the sizes measured earlier (and not run now) stay in the results and the table.
if (args.merge && args.out && existsSync(args.out)) {
  const before = JSON.parse(readFileSync(args.out, 'utf8')) as { sizes?: Record<string, SizeResult> }
  for (const [n, r] of Object.entries(before.sizes ?? {})) if (!toRun.includes(Number(n))) results[n] = r
}
const sizes = [...new Set([...toRun, ...Object.keys(results).map(Number)])].sort((a, b) => a - b)
const errors: string[] = []
const started = performance.now()
const m = machine()
const stealAll = stealMeter()
const out: Record<string, unknown> = { when: new Date().toISOString(), machine: m, options: { ...args, generate: undefined, tenants: undefined }, as_of: AS_OF, incident: SCALE_INCIDENT }
const save = () => {
  const { rows, ratios } = figureRows(sizes, results)
  if (args.out) {
    mkdirSync(dirname(args.out), { recursive: true })
    writeJson(args.out, { ...out, loadavg_end: loadavg().map((x) => round(x, 2)), steal_pct: stealAll.stop(), sizes: results, ratios_per_10x: ratios, table: rows, errors, wall_s: round((performance.now() - started) / 1000, 1) })
  }
  return rows
}

log(`scale: sizes ${toRun.map(sizeLabel).join(', ')} events${sizes.length > toRun.length ? ` (beside ${sizes.filter((n) => !toRun.includes(n)).map(sizeLabel).join(', ')} from ${args.out})` : ''} on ${m.nproc} cores, load ${m.loadavg_start.join(' ')}`)
if (!args['no-build']) execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' })
for (const events of toRun) {
  try {
    results[events] = await runSize(events)
  } catch (err) {
    const msg = `${sizeLabel(events)}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`
    errors.push(msg)
    console.error(`scale size failed: ${msg}`)
  }
  save()
}
const rows = save()
const stealText = Object.entries(results)
  .map(([n, r]) => `${sizeLabel(Number(n))} ${r.steal_pct} %`)
  .join(', ')
console.log(`\n${m.nproc} × ${m.cpu_model}, ${m.mem_total_gib} GiB, node ${m.node}; load average ${m.loadavg_start.join(' ')} at start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at end; CPU steal ${stealText}\n`)
console.log(table(rows))
if (errors.length) console.log(`\nsizes that failed: ${errors.join('; ')}`)
console.log(`\nwrote ${args.out} (${round((performance.now() - started) / 1000, 1)} s)`)
