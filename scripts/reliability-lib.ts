import { createServer } from 'node:net'
import { startChildServer, type ChildServer } from '../test/helpers/child-server.js'

/** Shared by scripts/crash.ts and scripts/soak.ts: child servers, a retrying sender, figures. */

export const TOKENS = { ingest: 'reliability-ingest-token-0123456789abcdef', read: 'reliability-read-token-0123456789abcdef' }
export const TOKEN_ENV = `ingest:${TOKENS.ingest},read:${TOKENS.read}`

export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** The real server (`node --import tsx server/main.ts`) on a fixed port and data directory. */
export function startServer(dataDir: string, port: number, env: Record<string, string> = {}): Promise<ChildServer> {
  return startChildServer(
    {
      AFTERMATH_DATA_DIR: dataDir,
      AFTERMATH_PORT: String(port),
      AFTERMATH_TOKENS: TOKEN_ENV,
      AFTERMATH_RATE_LIMIT_RPS: '0',
      AFTERMATH_QUERY_RATE_LIMIT_RPS: '0',
      AFTERMATH_LOG_LEVEL: 'warn',
      CLICKHOUSE_DATABASE: 'aftermath',
      ...env,
    },
    120_000,
  )
}

export async function stopServer(s: ChildServer): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return
  s.child.kill('SIGTERM')
  await s.exited
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface SendStats {
  requests: number
  /** Attempts that failed (connection refused/reset, 503, 5xx) and were sent again. */
  retries: number
  /** Requests answered 200. */
  acked: number
  ackedEvents: number
  ackMs: number[]
}

/**
 * POST one NDJSON body until it is acknowledged (200 with every line accepted). Connection
 * errors, 503 and other 5xx are retried after a pause; a 4xx or a partial accept is a bug in
 * the caller and throws.
 */
export async function sendUntilAcked(url: () => string, body: string, lines: number, stats: SendStats, deadlineMs = Date.now() + 600_000): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (Date.now() > deadlineMs) throw new Error('gave up: no acknowledgement before the deadline')
    stats.requests++
    const start = performance.now()
    let status = 0
    let text = ''
    try {
      const res = await fetch(`${url()}/api/v1/events`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKENS.ingest}` },
        signal: AbortSignal.timeout(120_000),
      })
      status = res.status
      text = await res.text()
    } catch {
      status = 0 // killed mid-request, refused while restarting, or timed out
    }
    if (status === 200) {
      const r = JSON.parse(text) as { accepted: number; rejected: number }
      if (r.accepted !== lines || r.rejected !== 0) throw new Error(`partial accept: ${text.slice(0, 300)}`)
      stats.acked++
      stats.ackedEvents += lines
      stats.ackMs.push(performance.now() - start)
      return
    }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new Error(`client error ${status}: ${text.slice(0, 300)}`)
    stats.retries++
    await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 4)))
  }
}

export async function getJson<T = unknown>(url: string, path: string): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url + path, { headers: { authorization: `Bearer ${TOKENS.read}` } })
      if (res.status === 200) return (await res.json()) as T
      if (attempt > 20) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    } catch (err) {
      if (attempt > 20) throw err
    }
    await sleep(250)
  }
}

/** Wait until the server's spool is empty (everything acknowledged is in ClickHouse). */
export async function waitSpoolEmpty(url: string, timeoutMs = 600_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while ((await getJson<{ spool_events: number }>(url, '/readyz')).spool_events > 0) {
    if (Date.now() > end) throw new Error('spool did not drain')
    await sleep(200)
  }
}

/** Every figure the dashboard shows for an incident at a fixed moment (and a sample of tenant timelines), for comparing two runs. */
export async function incidentFigures(url: string, incident: string, asOf: string): Promise<Record<string, unknown>> {
  const q = `as_of=${encodeURIComponent(asOf)}`
  const base = `/api/v1/incidents/${encodeURIComponent(incident)}`
  const csv = await fetch(`${url}${base}/tenants.csv?${q}`, { headers: { authorization: `Bearer ${TOKENS.read}` } })
  const page = await getJson<{ rows: { tenant_id: string }[] }>(url, `${base}/tenants?${q}&limit=1000`)
  // Timelines (read from the cards the derivation writes) of 25 tenants spread over the page.
  const timelines: Record<string, unknown> = {}
  for (const { tenant_id } of page.rows.filter((_, i) => i % 40 === 0)) {
    timelines[tenant_id] = await getJson(url, `${base}/tenants/${encodeURIComponent(tenant_id)}/timeline?${q}&include_broadcast=true`)
  }
  return {
    summary: await getJson(url, `${base}/summary?${q}&weight=seats`),
    summary_broadcast: await getJson(url, `${base}/summary?${q}&include_broadcast=true`),
    recovery: await getJson(url, `${base}/recovery?${q}&weight=seats`),
    recovery_by_tier: await getJson(url, `${base}/recovery?${q}&group_by=tier`),
    communications: await getJson(url, `${base}/communications?${q}`),
    histogram: await getJson(url, `${base}/downtime-histogram?${q}`),
    tenants_first_page: page,
    timelines,
    tenants_csv: await csv.text(),
    incidents: await getJson(url, `/api/v1/incidents?${q}`),
  }
}

/** Paths where two figure sets differ (empty when equal). */
export function differences(a: unknown, b: unknown, path = '$'): string[] {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) return [path]
  if (a !== null && typeof a === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b as object)])
    return [...keys].flatMap((k) => differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`))
  }
  return a === b ? [] : [`${path}: ${String(a).slice(0, 80)} ≠ ${String(b).slice(0, 80)}`]
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}
