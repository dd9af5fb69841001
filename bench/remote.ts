/**
 * Per-server figures of the remote path (SPEC §9) beside the embedded ones, in one run:
 * ingest events/s, summary and timeline latency on a generated incident, and how fast a live
 * stream on one server follows an event ingested through another.
 *
 *   npx tsx bench/remote.ts [--events 1000000] [--requests 20] [--ingest-seconds 10] [--out file.json]
 *
 * Targets, each a server process in this process (the engines are not):
 * - embedded: the server on chdb in-process (cards on RocksDB);
 * - embedded, cards on MergeTree: the same, with cards made a ReplacingMergeTree (what a target
 *   without RocksDB gets), for the timeline's cost on the portable engine;
 * - remote: the server over HTTP (@clickhouse/client) on the ClickHouse front of test/helpers —
 *   the ClickHouse 26 engine in its own process, only the transport emulated — refusing
 *   EmbeddedRocksDB as ClickHouse Cloud does. The front runs one statement at a time, as chdb
 *   does, so remote figures are a floor for a real server, not a ceiling.
 * Prints one JSON object as its last line.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { boot, type Running } from '../server/boot.js'
import { loadConfig, type Config } from '../server/config.js'
import { openStore } from '../server/storage/client.js'
import { createCardsSql } from '../server/storage/ddl.js'
import { startClickHouseFront } from '../test/helpers/clickhouse-front.js'
import { updateFrames } from '../test/helpers/sse.js'
import { generateIncident } from './lib/incident.js'
import { latencySummary, round } from './lib/stats.js'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    requests: { type: 'string', default: '20' },
    'ingest-seconds': { type: 'string', default: '10' },
    out: { type: 'string' },
  },
})
const EVENTS = Number(args.events)
const TENANTS = Math.round(EVENTS / 10)
const REQUESTS = Number(args.requests)
const INGEST_S = Number(args['ingest-seconds'])
const INCIDENT = 'bench-remote'
const BASE_MS = Date.parse('2022-04-05T07:38:00.000Z')
const AS_OF = new Date(BASE_MS + 10 * 86_400_000).toISOString()
const TOKEN = 'bench-admin-token-0123456789abcdef0123'
const root = mkdtempSync(join(tmpdir(), 'aftermath-bench-remote-'))

const configOf = (name: string, env: Record<string, string> = {}): Config =>
  loadConfig({
    AFTERMATH_DATA_DIR: join(root, name),
    AFTERMATH_PORT: '0',
    AFTERMATH_DEMO: '0',
    AFTERMATH_LOG_LEVEL: 'silent',
    AFTERMATH_TOKENS: `admin:${TOKEN}`,
    AFTERMATH_RATE_LIMIT_RPS: '0',
    AFTERMATH_QUERY_RATE_LIMIT_RPS: '0',
    AFTERMATH_STORAGE_TIMEOUT_MS: '600000',
    AFTERMATH_ALERT_INTERVAL_MS: '3600000',
    CLICKHOUSE_DATABASE: 'bench',
    ...env,
  })
const get = async (s: Running, path: string) => {
  const t = performance.now()
  const res = await fetch(s.url + path, { headers: { authorization: `Bearer ${TOKEN}` } })
  const body = await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`${path} → ${res.status} ${Buffer.from(body).toString().slice(0, 200)}`)
  return performance.now() - t
}
const timed = async (s: Running, pathOf: (i: number) => string) => {
  for (let i = 0; i < 3; i++) await get(s, pathOf(1000 + i))
  const ms: number[] = []
  for (let i = 0; i < REQUESTS; i++) ms.push(await get(s, pathOf(i)))
  const l = latencySummary(ms)
  return { p50_ms: round(l.p50, 1), p95_ms: round(l.p95, 1) }
}

/** Events/s acknowledged over `INGEST_S` s: 4 clients posting NDJSON bodies of 1,000 events. */
async function ingestRate(s: Running) {
  let next = 0
  let acked = 0
  const deadline = performance.now() + INGEST_S * 1000
  const body = () => {
    const lines: string[] = []
    for (let i = 0; i < 1000; i++, next++) {
      lines.push(JSON.stringify({ event_id: `l-${next}`, incident_id: 'bench-ingest', type: next % 2 ? 'access_lost' : 'communication', occurred_at: new Date(BASE_MS + next).toISOString(), tenant_id: `t-${next % 50_000}` }))
    }
    return lines.join('\n')
  }
  const started = performance.now()
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() < deadline) {
        const res = await fetch(`${s.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' }, body: body() })
        const r = (await res.json()) as { accepted: number }
        if (res.status !== 200) throw new Error(`ingest → ${res.status}`)
        acked += r.accepted
      }
    }),
  )
  return Math.round(acked / ((performance.now() - started) / 1000))
}

/** Generate the incident, let the first request derive it, then time the views. */
async function views(s: Running, label: string) {
  const t0 = performance.now()
  await generateIncident(s.store, { incident: INCIDENT, tenants: TENANTS, baseMs: BASE_MS })
  const generatedS = (performance.now() - t0) / 1000
  const t1 = performance.now()
  // Written by INSERT … SELECT, not through ingest: the state sync finds it at its next look for
  // writes by other means (at most EXTERNAL_CHECK_MS after the last), and derives it.
  for (;;) {
    const res = await fetch(`${s.url}/api/v1/incidents/${INCIDENT}/tenants/tenant-1/timeline?as_of=${AS_OF}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    await res.arrayBuffer()
    if (res.status === 200) break
    if (performance.now() - t1 > 600_000) throw new Error(`not derived in 600 s (${res.status})`)
    await new Promise((r) => setTimeout(r, 200))
  }
  const derivedS = (performance.now() - t1) / 1000
  const base = `/api/v1/incidents/${INCIDENT}`
  // Storage per event, compressed on disk, by table (the sizing model in docs/deployment.md).
  const sizes = await s.store.rows<{ table: string; bytes: number }>(
    `SELECT table, sum(data_compressed_bytes) AS bytes FROM system.parts WHERE database = {db:String} AND active GROUP BY table`,
    { db: s.store.db },
  )
  const [{ n }] = await s.store.rows<{ n: number }>(`SELECT count() AS n FROM ${s.store.db}.events`)
  const out = {
    generate_s: round(generatedS, 1),
    derive_s: round(derivedS, 1),
    disk_bytes_per_event: Object.fromEntries(sizes.map((r) => [r.table, round(Number(r.bytes) / Number(n), 1)])),
    summary: await timed(s, () => `${base}/summary?as_of=${AS_OF}`),
    summary_segment: await timed(s, () => `${base}/summary?as_of=${AS_OF}&attr.tier=enterprise`),
    tenants_page: await timed(s, () => `${base}/tenants?as_of=${AS_OF}&limit=100`),
    timeline: await timed(s, (i) => `${base}/tenants/tenant-${(4242 + i * 7919) % TENANTS}/timeline?as_of=${AS_OF}`),
  }
  console.log(`${label}: ${JSON.stringify(out)}`)
  return out
}

/** ms from an event ingested through `a` until a stream on `b` shows it (the lease holder derives, `b` follows). */
async function streamLag(a: Running, b: Running, rounds = 5) {
  const lags: number[] = []
  const ev = (n: number) => ({ event_id: `s-${n}`, incident_id: 'bench-stream', type: 'access_lost', occurred_at: new Date().toISOString(), tenant_id: `s-${n}` })
  const post = (n: number) => fetch(`${a.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(ev(n)) })
  await post(0)
  for (let i = 0; i < 50 && (await fetch(`${b.url}/api/v1/incidents/bench-stream/summary`, { headers: { authorization: `Bearer ${TOKEN}` } })).status !== 200; i++) await new Promise((r) => setTimeout(r, 100))
  const ctl = new AbortController()
  const res = await fetch(`${b.url}/api/v1/incidents/bench-stream/stream`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ctl.signal })
  const frames = updateFrames(res)
  const affected = async () => (await frames.next()).affected
  let seen = await affected()
  while (seen < 1) seen = await affected()
  for (let n = 1; n <= rounds; n++) {
    const t = performance.now()
    await post(n)
    while ((seen = await affected()) < n + 1) {
      /* older frames */
    }
    lags.push(performance.now() - t)
    await new Promise((r) => setTimeout(r, 1500))
  }
  ctl.abort()
  const l = latencySummary(lags)
  return { rounds, p50_ms: round(l.p50), max_ms: round(l.max) }
}

const results: Record<string, unknown> = { events: EVENTS, tenants: TENANTS, requests: REQUESTS }
try {
  // Embedded: cards on RocksDB.
  let s = await boot(configOf('embedded'))
  results.embedded = { ...(await views(s, 'embedded')), ingest_events_per_s: await ingestRate(s) }
  await s.close()
  // Embedded with cards on a ReplacingMergeTree, made so before the migrations (one engine per process: the same data directory).
  const mt = configOf('embedded', { CLICKHOUSE_DATABASE: 'bench_mt' })
  const pre = await openStore(mt)
  await pre.command(createCardsSql('bench_mt', 'ReplacingMergeTree'))
  await pre.close()
  s = await boot(mt)
  const mtViews = await views(s, 'embedded, cards on MergeTree')
  results.embedded_cards_mergetree = { timeline: mtViews.timeline, derive_s: mtViews.derive_s }
  await s.close()

  // Remote: the front refusing EmbeddedRocksDB (ClickHouse Cloud), cards on a ReplacingMergeTree.
  const front = await startClickHouseFront({ dataDir: join(root, 'front'), refuseEngines: ['EmbeddedRocksDB'] })
  try {
    const remote = (name: string) => boot(configOf(name, { CLICKHOUSE_URL: front.url }))
    const a = await remote('remote-a')
    results.remote = { ...(await views(a, 'remote')), ingest_events_per_s: await ingestRate(a) }
    const b = await remote('remote-b')
    results.remote_stream_follow = await streamLag(a, b)
    console.log(`stream on another server: ${JSON.stringify(results.remote_stream_follow)}`)
    await b.close()
    await a.close()
  } finally {
    await front.stop().catch(() => front.kill())
  }
} finally {
  rmSync(root, { recursive: true, force: true })
}
console.log(JSON.stringify(results))
