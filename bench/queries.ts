/**
 * Query latency benchmark: every query endpoint over HTTP, on an incident generated inside
 * ClickHouse (INSERT … SELECT FROM numbers(…)).
 *
 *   npx tsx bench/queries.ts [--events 1000000] [--requests 20] [--dir data/bench-queries-N] [--reuse] [--only summary | --only "summary|tenant timeline"] [--skip-csv] [--out file.json]
 *
 * Shape: events/10 tenants, each with access_lost, restore_started, two restore_progress,
 * restore_completed, access_restored (90 %; the rest still down at as_of), three direct
 * communications; 5 % flap (a second outage), 1 % send a stray access_restored; one broadcast every
 * 3 h and a few milestones. Tenant metadata: tier, region, seats. Times spread over 14 days from
 * 2022-04-05T07:38Z; queries run at as_of = first event + 10 days (mid-recovery).
 * Each endpoint: 3 warm-up requests, then --requests timed ones, one at a time; p50/p95/max in ms.
 * With --incident-log always (default) the first request of all, which builds the incident log,
 * is timed on its own (log_build_ms).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { boot } from '../server/boot.js'
import { loadConfig } from '../server/config.js'
import { generateIncident } from './lib/incident.js'
import { spreadTenant, timeView, viewCases, type ViewTiming } from './lib/views.js'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    requests: { type: 'string', default: '20' },
    dir: { type: 'string' },
    reuse: { type: 'boolean', default: false },
    out: { type: 'string' },
    /** Only endpoints whose name contains this text, or is one of several names separated by `|`. */
    only: { type: 'string' },
    /** Skip the whole-incident CSV export (long at 10M events). */
    'skip-csv': { type: 'boolean', default: false },
    /**
     * The server's AFTERMATH_INCIDENT_LOG: always = the default view from the incident log (an
     * incident that has not changed since the log was built; the first request builds it and is
     * timed apart), off = every figure computed in ClickHouse per request (an incident changing).
     */
    'incident-log': { type: 'string', default: 'always' },
  },
})
const events = Number(args.events)
const requests = Number(args.requests)
const tenants = Math.max(1, Math.round(events / 10))
const dir = args.dir ?? `data/bench-queries-${events}`
const INCIDENT = 'bench-2022-04'
const BASE_MS = Date.parse('2022-04-05T07:38:00.000Z')
const AS_OF = new Date(BASE_MS + 10 * 86_400_000).toISOString()
const TOKEN = 'bench-read-token-123-0123456789abcdef0123'
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef0123'

function quantileOf(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!
}

async function main() {
  if (!args.reuse) rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const config = loadConfig({
    AFTERMATH_DATA_DIR: dir,
    AFTERMATH_PORT: '0',
    AFTERMATH_DEMO: '0',
    AFTERMATH_LOG_LEVEL: 'silent',
    AFTERMATH_TOKENS: `read:${TOKEN},admin:${ADMIN_TOKEN}`,
    // Alerts are evaluated by hand below (timed), not by the loop.
    AFTERMATH_ALERT_INTERVAL_MS: '3600000',
    AFTERMATH_RATE_LIMIT_RPS: '0',
    AFTERMATH_STORAGE_TIMEOUT_MS: '600000',
    AFTERMATH_INCIDENT_LOG: args['incident-log'],
    CLICKHOUSE_DATABASE: 'bench',
  })
  const running = await boot(config)
  try {
    const [{ n }] = await running.store.rows<{ n: number }>(
      `SELECT count() AS n FROM ${running.store.db}.events WHERE incident_id = {i:String}`,
      { i: INCIDENT },
    )
    if (Number(n) === 0) {
      const t0 = performance.now()
      await generateIncident(running.store, { incident: INCIDENT, tenants, baseMs: BASE_MS })
      console.log(`generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    }
    const [stats] = await running.store.rows<{ events: number; tenants: number; parts: number }>(
      `SELECT (SELECT count() FROM ${running.store.db}.events) AS events,
              (SELECT uniqExact(tenant_id) FROM ${running.store.db}.events WHERE tenant_id != '') AS tenants,
              (SELECT count() FROM system.parts WHERE database = {db:String} AND table = 'events' AND active) AS parts`,
      { db: running.store.db },
    )
    console.log(`data: ${stats!.events} events, ${stats!.tenants} tenants, ${stats!.parts} active parts of events`)

    const q = `as_of=${AS_OF}`
    const base = `/api/v1/incidents/${INCIDENT}`
    // A path per request number: the timeline asks for a different tenant each time (spread
    // over the id space), so no request is served from what the one before it left in a cache.
    const cases = viewCases({ incident: INCIDENT, asOf: AS_OF, tenantId: spreadTenant('tenant-', Number(stats!.tenants)) })
    const results: Omit<ViewTiming, 'seq_ms'>[] = []
    // Fresh data is derived into tenant_state by the first request of all (a timeline: no log);
    // then the first view that uses the incident log builds it (unless it is off): timed on its own.
    await (await fetch(`${running.url}${base}/tenants/tenant-1/timeline?${q}`, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer()
    let logBuildMs: number | null = null
    if (args['incident-log'] !== 'off') {
      const t = performance.now()
      const res = await fetch(`${running.url}${base}/recovery?${q}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      await res.arrayBuffer()
      logBuildMs = performance.now() - t
      console.log(`${'first request (builds the incident log)'.padEnd(38)} ${logBuildMs.toFixed(0)} ms`)
    }
    for (const [name, pathOf] of cases.filter(([n]) => !args.only || (args.only.includes('|') ? args.only.split('|').includes(n) : n.includes(args.only)))) {
      // CPU time of this process (server, embedded ClickHouse and client) per request: a
      // figure that other load on the machine inflates far less than wall time.
      const { seq_ms: seq, ...row } = await timeView({ url: running.url, token: TOKEN, name, pathOf, requests })
      if (process.env.SEQ) console.log(name, seq.join(' '))
      results.push(row)
      console.log(
        `${name.padEnd(38)} p50 ${row.p50_ms.toFixed(1).padStart(8)} ms   p95 ${row.p95_ms.toFixed(1).padStart(8)} ms   cpu p50 ${row.cpu_p50_ms.toFixed(1).padStart(8)} ms   ${row.bytes} B`,
      )
    }
    // The CSV export of every row is timed a few times only (it is an export, not an interactive view).
    let csvMs = 0
    let csvBytes = 0
    if (!args['skip-csv']) {
      const t = performance.now()
      const csv = await fetch(`${running.url}${base}/tenants.csv?${q}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      csvBytes = (await csv.arrayBuffer()).byteLength
      csvMs = performance.now() - t
      console.log(`${'tenants.csv (all rows, once)'.padEnd(38)} ${csvMs.toFixed(0)} ms, ${csvBytes} B`)
    }
    // Webhook alerts (SPEC §6): one hook on every event type (its deliveries fail: nothing
    // listens), then evaluations against the present: the first reports every overdue tenant
    // (up to 10,000 per evaluation), the next ones find nothing new; each timed.
    let alerts: { first_ms: number; steady_ms_p50: number; evaluations: number } | null = null
    if (!args.only || args.only.includes('alerts')) {
      const hook = await fetch(`${running.url}/api/v1/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'http://127.0.0.1:9/bench', events: ['tenant.overdue', 'incident.recovery_stalled', 'incident.milestone'] }),
      })
      if (hook.status !== 201) throw new Error(`webhook not created: ${hook.status}`)
      const timeOne = async () => {
        const t = performance.now()
        await running.evaluateAlerts()
        return performance.now() - t
      }
      const first = await timeOne()
      const steady: number[] = []
      for (let i = 0; i < 5; i++) steady.push(await timeOne())
      steady.sort((a, b) => a - b)
      alerts = { first_ms: first, steady_ms_p50: quantileOf(steady, 0.5), evaluations: steady.length + 1 }
      console.log(`${'alert evaluation (1 incident)'.padEnd(38)} first ${first.toFixed(0)} ms, then p50 ${alerts.steady_ms_p50.toFixed(0)} ms`)
    }
    const out = {
      alerts,
      incident_log: args['incident-log'],
      log_build_ms: logBuildMs,
      when: new Date().toISOString(),
      events: Number(stats!.events),
      tenants: Number(stats!.tenants),
      parts: Number(stats!.parts),
      as_of: AS_OF,
      requests,
      storage: running.store.kind,
      cores: (await import('node:os')).cpus().length,
      loadavg_1m_at_end: (await import('node:os')).loadavg()[0],
      results,
      csv: { ms: csvMs, bytes: csvBytes },
    }
    const file = args.out ?? `bench/queries-results-${events}.json`
    writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
    console.log(`wrote ${file}`)
  } finally {
    await running.close()
  }
}

await main()
