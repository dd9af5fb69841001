import type { EventRow } from '../../server/ingest/types.js'
import type { TenantMeta } from './factories.js'

/**
 * An independent, deliberately plain implementation of SPEC §3 for tests: loops over events in
 * JavaScript, no SQL, no shared code with server/metrics. Times are ms since the epoch.
 */

export interface RefOptions {
  incidentId: string
  asOfMs: number
  includeBroadcast?: boolean
  staleAfterMs?: number
  /** attr.<name>=<values>: OR within a name, AND across names. */
  filters?: Record<string, string[]>
  weight?: string
  /** SPEC §6, default 4 h and 24 h. */
  policy?: { firstContactWithinMs: number; updateEveryMs: number }
}

export interface RefTenant {
  tenant_id: string
  name: string
  attributes: Record<string, string>
  weight: number
  state: 'down' | 'up'
  intervals: { start: number; end: number | null }[]
  first_lost_ms: number
  last_restored_ms: number | null
  downtime_ms: number
  outages: number
  strays: number
  restore_stage: 'not_started' | 'in_progress' | 'completed' | null
  restore_progress: number | null
  first_contact_ms: number | null
  communications: number
  last_comm_ms: number | null
  stale: boolean
  max_gap_ms: number
  /** SPEC §6 at T. */
  overdue: boolean
  overdue_kind: 'first_contact' | 'update'
  overdue_due_ms: number | null
  /** The last counted communication at or after the first loss (and at or before T). */
  last_contact_ms: number | null
  fc_counted: boolean
  fc_on_time: boolean
}

const TYPE_ORDER: Record<string, number> = {
  access_lost: 1,
  access_restored: 2,
  restore_started: 3,
  restore_progress: 4,
  restore_completed: 5,
  communication: 6,
  milestone: 7,
}

export const ms = (rowTime: string) => Date.parse(rowTime.replace(' ', 'T') + 'Z')

/** Byte order of UTF-8, as ClickHouse compares strings. */
const byteCompare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

function byOrder(a: EventRow, b: EventRow): number {
  return ms(a.occurred_at) - ms(b.occurred_at) || TYPE_ORDER[a.type]! - TYPE_ORDER[b.type]! || byteCompare(a.event_id, b.event_id)
}

/** Events of the incident up to T, one per (tenant_id, event_id) — the table's dedup key — the first copy winning. */
export function visibleEvents(events: EventRow[], incidentId: string, asOfMs: number): EventRow[] {
  const seen = new Map<string, EventRow>()
  for (const e of events) {
    if (e.incident_id !== incidentId) continue
    const key = JSON.stringify([e.tenant_id, e.event_id])
    if (!seen.has(key)) seen.set(key, e)
  }
  return [...seen.values()].filter((e) => ms(e.occurred_at) <= asOfMs)
}

/** A tenant without metadata is in no segment; a missing attribute reads as ''. */
function matches(meta: TenantMeta | undefined, filters: Record<string, string[]> | undefined): boolean {
  if (Object.keys(filters ?? {}).length > 0 && meta === undefined) return false
  for (const [name, values] of Object.entries(filters ?? {})) {
    const v = meta?.attributes?.[name]
    if (!values.includes(v === undefined ? '' : String(v))) return false
  }
  return true
}

/** Every affected tenant's state at T, keyed by tenant_id. */
export function referenceTenants(events: EventRow[], tenants: TenantMeta[], o: RefOptions): Map<string, RefTenant> {
  const T = o.asOfMs
  const staleAfter = o.staleAfterMs ?? 86_400_000
  const evs = visibleEvents(events, o.incidentId, T).sort(byOrder)
  const metaById = new Map(tenants.map((t) => [t.tenant_id, t]))
  const broadcasts = evs.filter((e) => e.type === 'communication' && e.tenant_id === '').map((e) => ms(e.occurred_at))
  const byTenant = new Map<string, EventRow[]>()
  for (const e of evs) {
    if (e.tenant_id === '') continue
    if (!byTenant.has(e.tenant_id)) byTenant.set(e.tenant_id, [])
    byTenant.get(e.tenant_id)!.push(e)
  }
  const out = new Map<string, RefTenant>()
  for (const [id, list] of byTenant) {
    if (!list.some((e) => e.type === 'access_lost')) continue
    const meta = metaById.get(id)
    if (!matches(meta, o.filters)) continue

    let down = false
    let strays = 0
    const intervals: { start: number; end: number | null }[] = []
    for (const e of list) {
      if (e.type === 'access_lost' && !down) {
        down = true
        intervals.push({ start: ms(e.occurred_at), end: null })
      } else if (e.type === 'access_restored') {
        if (down) {
          down = false
          intervals[intervals.length - 1]!.end = ms(e.occurred_at)
        } else strays++
      }
    }
    let downtime = 0
    for (const iv of intervals) downtime += (iv.end ?? T) - iv.start
    const firstLost = intervals[0]!.start
    const current = intervals[intervals.length - 1]!

    let stage: RefTenant['restore_stage'] = null
    let prog: number | null = null
    if (down) {
      stage = 'not_started'
      for (const e of list) {
        if (ms(e.occurred_at) < current.start) continue
        if (e.type === 'restore_started' || e.type === 'restore_progress') stage = 'in_progress'
        if (e.type === 'restore_completed') stage = 'completed'
        if (e.type === 'restore_progress') prog = e.progress
      }
    }

    const comms = list.filter((e) => e.type === 'communication').map((e) => ms(e.occurred_at))
    if (o.includeBroadcast) comms.push(...broadcasts)
    comms.sort((a, b) => a - b)
    const after = comms.filter((c) => c >= firstLost)
    const lastComm = comms.length ? comms[comms.length - 1]! : null
    const anchor = Math.max(firstLost, lastComm ?? -Infinity)
    const endPoint = down ? T : current.end!
    const points = [firstLost, endPoint]
    for (const c of after) if (intervals.some((iv) => iv.start <= c && c <= (iv.end ?? T))) points.push(c)
    points.sort((a, b) => a - b)
    let maxGap = 0
    for (let i = 1; i < points.length; i++) maxGap = Math.max(maxGap, points[i]! - points[i - 1]!)

    // SPEC §6: the next contact was due first_contact_within after the first loss, or
    // update_every after the last counted communication; overdue past that while down.
    const policy = o.policy ?? { firstContactWithinMs: 4 * 3_600_000, updateEveryMs: 24 * 3_600_000 }
    const lastContact = after.length ? after[after.length - 1]! : null
    const due = !down ? null : lastContact === null ? firstLost + policy.firstContactWithinMs : lastContact + policy.updateEveryMs

    const attrs: Record<string, string> = {}
    for (const [k, v] of Object.entries(meta?.attributes ?? {})) attrs[k] = String(v)
    const w = o.weight ? meta?.attributes?.[o.weight] : undefined
    out.set(id, {
      tenant_id: id,
      name: meta?.name ?? '',
      attributes: attrs,
      weight: typeof w === 'number' ? w : 0,
      state: down ? 'down' : 'up',
      intervals,
      first_lost_ms: firstLost,
      last_restored_ms: down ? null : current.end,
      downtime_ms: downtime,
      outages: intervals.length,
      strays,
      restore_stage: stage,
      restore_progress: prog,
      first_contact_ms: after.length ? after[0]! : null,
      communications: after.length,
      last_comm_ms: lastComm,
      stale: down && T - anchor > staleAfter,
      max_gap_ms: maxGap,
      overdue: due !== null && T > due,
      overdue_kind: lastContact === null ? 'first_contact' : 'update',
      overdue_due_ms: due,
      last_contact_ms: lastContact,
      fc_counted: after.length > 0 || T - firstLost > policy.firstContactWithinMs,
      fc_on_time: after.length > 0 && after[0]! - firstLost <= policy.firstContactWithinMs,
    })
  }
  return out
}

/** Linear-interpolation quantile (numpy's default, "type 7"); null for no values. */
export function quantile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const s = [...values].sort((a, b) => a - b)
  const h = (s.length - 1) * p
  const lo = Math.floor(h)
  return s[lo]! + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!)
}

export interface RefSummary {
  affected: number
  restored: number
  down: number
  recovery_pct: number | null
  weighted_affected: number
  weighted_restored: number
  downtime_s: { median: number | null; p90: number | null; max: number | null; total: number }
  first_contact_latency_s: { median: number | null; p90: number | null; max: number | null }
  waiting_first_contact: number
  stale: number
  overdue: number
  first_contact_on_time_pct: number | null
  stages: { not_started: number; in_progress: number; completed: number }
  first_impact_ms: number | null
}

export function referenceSummary(events: EventRow[], tenants: TenantMeta[], o: RefOptions): RefSummary {
  const rows = [...referenceTenants(events, tenants, o).values()]
  const affected = rows.length
  const restored = rows.filter((r) => r.state === 'up').length
  const downtimes = rows.map((r) => r.downtime_ms / 1000)
  const latencies = rows.filter((r) => r.first_contact_ms !== null).map((r) => (r.first_contact_ms! - r.first_lost_ms) / 1000)
  return {
    affected,
    restored,
    down: affected - restored,
    recovery_pct: affected ? (100 * restored) / affected : null,
    weighted_affected: rows.reduce((s, r) => s + r.weight, 0),
    weighted_restored: rows.filter((r) => r.state === 'up').reduce((s, r) => s + r.weight, 0),
    downtime_s: {
      median: quantile(downtimes, 0.5),
      p90: quantile(downtimes, 0.9),
      max: downtimes.length ? Math.max(...downtimes) : null,
      total: downtimes.reduce((a, b) => a + b, 0),
    },
    first_contact_latency_s: {
      median: quantile(latencies, 0.5),
      p90: quantile(latencies, 0.9),
      max: latencies.length ? Math.max(...latencies) : null,
    },
    waiting_first_contact: rows.filter((r) => r.first_contact_ms === null).length,
    stale: rows.filter((r) => r.stale).length,
    overdue: rows.filter((r) => r.overdue).length,
    first_contact_on_time_pct: rows.some((r) => r.fc_counted) ? (100 * rows.filter((r) => r.fc_on_time).length) / rows.filter((r) => r.fc_counted).length : null,
    stages: {
      not_started: rows.filter((r) => r.restore_stage === 'not_started').length,
      in_progress: rows.filter((r) => r.restore_stage === 'in_progress').length,
      completed: rows.filter((r) => r.restore_stage === 'completed').length,
    },
    first_impact_ms: rows.length ? Math.min(...rows.map((r) => r.first_lost_ms)) : null,
  }
}

/** First moment (an event time ≤ T) at which recovery_pct(t) ≥ pct, trying every event time. */
export function referencePctReached(events: EventRow[], tenants: TenantMeta[], o: RefOptions, pct: number): number | null {
  const times = [...new Set(visibleEvents(events, o.incidentId, o.asOfMs).map((e) => ms(e.occurred_at)))].sort((a, b) => a - b)
  for (const t of times) {
    const s = referenceSummary(events, tenants, { ...o, asOfMs: t })
    if (s.affected > 0 && s.restored * 100 >= pct * s.affected) return t
  }
  return null
}
