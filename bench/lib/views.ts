/**
 * The query endpoints the benchmarks time over HTTP (bench/queries.ts, bench/scale.ts), and how:
 * warm-up requests, then timed ones one at a time, p50/p95/max in ms.
 */
import { quantileSorted } from './stats.js'

/** A path, or a path per request number (the timeline asks for another tenant each time). */
export type PathOf = string | ((i: number) => string)

export interface ViewTiming {
  endpoint: string
  /** The path of the first timed request. */
  path: string
  p50_ms: number
  p95_ms: number
  max_ms: number
  /** CPU time per request (of what `cpuMs` measures), p50. */
  cpu_p50_ms: number
  /** Body size of the last answer. */
  bytes: number
  /** Every timed request in order (ms, rounded). */
  seq_ms: number[]
}

/**
 * Every view of one incident at `asOf`, by name (the names the bench tables and results use):
 * the timeline asks for `tenantId(i)` in request i, so no request is served from what the one
 * before it left in a cache.
 */
export function viewCases(o: { incident: string; asOf: string; tenantId: (i: number) => string; tenantsPageLimit?: number }): [name: string, path: PathOf][] {
  const q = `as_of=${o.asOf}`
  const base = `/api/v1/incidents/${o.incident}`
  const limit = o.tenantsPageLimit ?? 100
  return [
    ['summary', `${base}/summary?${q}`],
    ['summary weight=seats + attr.tier', `${base}/summary?${q}&weight=seats&attr.tier=enterprise`],
    ['recovery (auto)', `${base}/recovery?${q}`],
    ['recovery weight + group_by=tier', `${base}/recovery?${q}&weight=seats&group_by=tier`],
    ['communications (auto)', `${base}/communications?${q}`],
    ['communications include_broadcast', `${base}/communications?${q}&include_broadcast=true`],
    [`tenants page (${limit}, downtime desc)`, `${base}/tenants?${q}&sort=downtime_s&order=desc&limit=${limit}`],
    ['tenants page q=customer 12', `${base}/tenants?${q}&q=customer%2012&limit=${limit}`],
    ['tenant timeline', (i) => `${base}/tenants/${encodeURIComponent(o.tenantId(i))}/timeline?${q}`],
    ['downtime histogram', `${base}/downtime-histogram?${q}`],
    ['incidents list', `/api/v1/incidents?${q}`],
    [`overdue list (${limit})`, `${base}/overdue?${q}&limit=${limit}`],
  ]
}

/** Tenant n of `tenants` for request i, spread over the id space (a different one each request). */
export const spreadTenant = (prefix: string, tenants: number) => (i: number) => `${prefix}${(4242 + i * 7919) % tenants}`

/** CPU time of this process (user + system), ms. */
export const ownCpuMs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/**
 * Time one view: `warmup` requests (default 3), then `requests` timed ones in sequence. A non-200
 * answer throws. `cpuMs` reads the CPU time to attribute per request (default: this process's,
 * which holds the server when it runs in-process).
 */
export async function timeView(o: { url: string; token: string; name: string; pathOf: PathOf; requests: number; warmup?: number; cpuMs?: () => number }): Promise<ViewTiming> {
  const cpuMs = o.cpuMs ?? ownCpuMs
  let sent = 0
  const once = async () => {
    const path = typeof o.pathOf === 'string' ? o.pathOf : o.pathOf(sent++)
    const t = performance.now()
    const cpu = cpuMs()
    const res = await fetch(o.url + path, { headers: { authorization: `Bearer ${o.token}` } })
    const body = await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`${path} → ${res.status} ${Buffer.from(body).toString().slice(0, 300)}`)
    return { ms: performance.now() - t, cpuMs: cpuMs() - cpu, bytes: body.byteLength }
  }
  for (let i = 0; i < (o.warmup ?? 3); i++) await once()
  const times: number[] = []
  const cpus: number[] = []
  const seq: number[] = []
  let bytes = 0
  for (let i = 0; i < o.requests; i++) {
    const r = await once()
    times.push(r.ms)
    seq.push(Math.round(r.ms))
    cpus.push(r.cpuMs)
    bytes = r.bytes
  }
  times.sort((a, b) => a - b)
  cpus.sort((a, b) => a - b)
  return {
    endpoint: o.name,
    path: typeof o.pathOf === 'string' ? o.pathOf : o.pathOf(0),
    p50_ms: quantileSorted(times, 0.5),
    p95_ms: quantileSorted(times, 0.95),
    max_ms: times.at(-1)!,
    cpu_p50_ms: quantileSorted(cpus, 0.5),
    bytes,
    seq_ms: seq,
  }
}
