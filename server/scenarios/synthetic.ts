import { companyName, logUniformInt, pickWeighted, unit } from './random.js'
import type { IncidentMeta, Scenario, TenantMeta, WireEvent } from './types.js'

/**
 * A synthetic incident of any size, for load and scale tests and the live demo.
 *
 * Every value is a stateless hash of (seed, tenant, event index, purpose), so the k-th event
 * of a tenant can be computed on its own, without generating the ones before it. That gives
 * two streaming orders with bounded memory:
 * - bulk (`ordered: false`): tenant after tenant, O(1) memory;
 * - time order (`ordered: true`): a k-way merge of the tenants' own (already time-ordered)
 *   sequences through a binary heap that holds one cursor per tenant — 16 bytes per tenant
 *   in typed arrays (next time + next index), never the events. 1M tenants ≈ 16 MB, whatever
 *   the number of events per tenant.
 *
 * Tenant shape: loses access early in the window (most in the first 5 %), restore starts,
 * progresses and completes, access comes back; communications are interleaved while down;
 * with probability `flapRate` the tenant goes down once more later and comes back.
 */
export interface SyntheticOptions {
  seed?: number
  incidentId?: string
  tenants?: number
  /** Events per tenant, at least 4 (lost, restore started, restore completed, restored). */
  eventsPerTenant?: number
  /** Share of tenants (0–1) that lose access a second time after being restored. */
  flapRate?: number
  durationMs?: number
  startMs?: number
  title?: string
  status?: IncidentMeta['status']
}

const DEFAULT_START_MS = Date.UTC(2026, 0, 5, 9, 0, 0)
const MIN_EVENTS_PER_TENANT = 4
/** Incident-wide events: milestones and status-page broadcasts at fixed fractions of the window. */
const INCIDENT_EVENTS: readonly { at: number; type: 'milestone' | 'communication'; text: string }[] = [
  { at: 0, type: 'milestone', text: 'Incident started' },
  { at: 0.01, type: 'milestone', text: 'Incident declared' },
  { at: 0.02, type: 'communication', text: 'We are investigating an outage.' },
  { at: 0.05, type: 'milestone', text: 'Root cause identified' },
  { at: 0.1, type: 'milestone', text: 'Restores started' },
  ...[0.2, 0.4, 0.6, 0.8].map((at) => ({ at, type: 'communication' as const, text: 'Restores are progressing.' })),
  { at: 0.5, type: 'milestone', text: 'Restore throughput doubled' },
]
const SALT = { lost: 1, restore: 2, flap: 3, jitter: 4, kind: 5, channel: 6, flapLost: 7, flapUp: 8, tier: 9, region: 10, seats: 13 } as const
const TIERS = [['free', 0.3], ['standard', 0.4], ['premium', 0.2], ['enterprise', 0.1]] as const
const REGIONS = [['us', 0.45], ['eu', 0.35], ['apac', 0.2]] as const
const CHANNELS = [['email', 0.6], ['ticket', 0.25], ['chat', 0.1], ['phone', 0.05]] as const

export function synthetic(opts: SyntheticOptions = {}): Scenario {
  const seed = opts.seed ?? 1
  const incidentId = opts.incidentId ?? 'synthetic'
  const n = opts.tenants ?? 1000
  const perTenant = opts.eventsPerTenant ?? 10
  const flapRate = opts.flapRate ?? 0.05
  const durationMs = opts.durationMs ?? 48 * 3_600_000
  const startMs = opts.startMs ?? DEFAULT_START_MS
  if (!Number.isInteger(n) || n < 1) throw new RangeError('tenants must be a positive integer')
  if (!Number.isInteger(perTenant) || perTenant < MIN_EVENTS_PER_TENANT) throw new RangeError(`events per tenant must be an integer ≥ ${MIN_EVENTS_PER_TENANT}`)
  if (!(flapRate >= 0 && flapRate <= 1)) throw new RangeError('flap rate must be between 0 and 1')
  if (!(durationMs > 0)) throw new RangeError('duration must be positive')
  const endMs = startMs + durationMs
  const width = Math.max(6, String(n).length)
  const tenantId = (t: number) => `t${String(t + 1).padStart(width, '0')}`
  const prefix = `syn-${seed}`
  // Flapping needs two events of the budget; tenants with fewer than 6 never flap.
  const flaps = (t: number) => perTenant >= 6 && unit(seed, t, SALT.flap) < flapRate
  const lostAt = (t: number) => startMs + unit(seed, t, SALT.lost) ** 2 * 0.05 * durationMs
  /** End of the first outage: anywhere up to 90 % of the window, later more likely than not. */
  const restoredAt = (t: number, lost: number) => lost + (0.03 + 0.87 * unit(seed, t, SALT.restore) ** 0.8) * (startMs + 0.9 * durationMs - lost)

  /** Time (ms) of tenant t's k-th event; non-decreasing in k by construction. */
  const timeOf = (t: number, k: number): number => {
    const lost = lostAt(t)
    const up = restoredAt(t, lost)
    const core = flaps(t) ? perTenant - 2 : perTenant
    if (k === 0) return Math.floor(lost)
    if (k === core - 1) return Math.floor(up)
    if (k < core - 1) {
      // Middle events sit in disjoint sub-intervals of (lost, up), so they stay ordered.
      const slot = (k - 1 + 0.1 + 0.8 * unit(seed, t, k, SALT.jitter)) / (core - 2)
      return Math.floor(lost + slot * (up - lost))
    }
    const rest = endMs - up
    return Math.floor(k === core ? up + (0.1 + 0.3 * unit(seed, t, SALT.flapLost)) * rest : up + (0.5 + 0.45 * unit(seed, t, SALT.flapUp)) * rest)
  }

  const eventOf = (t: number, k: number, ms: number): WireEvent => {
    const core = flaps(t) ? perTenant - 2 : perTenant
    const base = { event_id: `${prefix}-${t}-${k}`, incident_id: incidentId, occurred_at: new Date(ms).toISOString(), tenant_id: tenantId(t) }
    if (k === 0 || k === core) return { ...base, type: 'access_lost' }
    if (k === core - 1 || k === core + 1) return { ...base, type: 'access_restored' }
    if (k === 1) return { ...base, type: 'restore_started' }
    if (k === core - 2) return { ...base, type: 'restore_completed' }
    if (unit(seed, t, k, SALT.kind) < 0.5) {
      return { ...base, type: 'communication', channel: pickWeighted(unit(seed, t, k, SALT.channel), CHANNELS), message: 'Update on your restore.' }
    }
    return { ...base, type: 'restore_progress', progress: Math.round(((k - 1) / (core - 2)) * 1000) / 1000 }
  }

  const incidentEvent = (i: number): WireEvent => {
    const e = INCIDENT_EVENTS[i]!
    const base = { event_id: `${prefix}-incident-${i}`, incident_id: incidentId, occurred_at: new Date(Math.floor(startMs + e.at * durationMs)).toISOString() }
    return e.type === 'milestone' ? { ...base, type: 'milestone', label: e.text } : { ...base, type: 'communication', channel: 'status_page', message: e.text }
  }
  const incidentOrder = INCIDENT_EVENTS.map((e, i) => [e.at, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i)

  function* bulk(): Generator<WireEvent> {
    for (const i of incidentOrder) yield incidentEvent(i)
    for (let t = 0; t < n; t++) for (let k = 0; k < perTenant; k++) yield eventOf(t, k, timeOf(t, k))
  }

  function* merged(): Generator<WireEvent> {
    // Cursor n is the incident-wide sequence; cursors 0..n−1 are the tenants.
    const cursors = n + 1
    const nextMs = new Float64Array(cursors)
    const nextK = new Int32Array(cursors)
    const heap = new Int32Array(cursors)
    const incidentMs = (j: number) => Math.floor(startMs + INCIDENT_EVENTS[incidentOrder[j]!]!.at * durationMs)
    const less = (a: number, b: number) => nextMs[a]! < nextMs[b]! || (nextMs[a] === nextMs[b] && a < b)
    let size = 0
    const siftDown = (i: number) => {
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < size && less(heap[l]!, heap[m]!)) m = l
        if (r < size && less(heap[r]!, heap[m]!)) m = r
        if (m === i) return
        const tmp = heap[i]!
        heap[i] = heap[m]!
        heap[m] = tmp
        i = m
      }
    }
    for (let c = 0; c < cursors; c++) {
      nextMs[c] = c === n ? incidentMs(0) : timeOf(c, 0)
      heap[size++] = c
    }
    for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(i)
    while (size > 0) {
      const c = heap[0]!
      const k = nextK[c]!
      const ms = nextMs[c]!
      yield c === n ? incidentEvent(incidentOrder[k]!) : eventOf(c, k, ms)
      const last = c === n ? INCIDENT_EVENTS.length : perTenant
      if (k + 1 < last) {
        nextK[c] = k + 1
        nextMs[c] = c === n ? incidentMs(k + 1) : timeOf(c, k + 1)
      } else {
        heap[0] = heap[--size]!
      }
      siftDown(0)
    }
  }

  function* tenants(): Generator<TenantMeta> {
    for (let t = 0; t < n; t++) {
      yield {
        tenant_id: tenantId(t),
        name: companyName(seed, t),
        attributes: {
          tier: pickWeighted(unit(seed, t, SALT.tier), TIERS),
          region: pickWeighted(unit(seed, t, SALT.region), REGIONS),
          seats: logUniformInt(unit(seed, t, SALT.seats), 5, 5000),
        },
      }
    }
  }

  const incident: IncidentMeta = {
    incident_id: incidentId,
    title: opts.title ?? `Synthetic outage (${n.toLocaleString('en-US')} tenants)`,
    description: `Generated: ${n} tenants, ${perTenant} events each, flap rate ${flapRate}, seed ${seed}.`,
    severity: 'major',
    status: opts.status ?? 'resolved',
  }
  return {
    incident,
    eventCount: n * perTenant + INCIDENT_EVENTS.length,
    tenantCount: n,
    startMs,
    endMs,
    tenants,
    events: ({ ordered = true } = {}) => (ordered ? merged() : bulk()),
  }
}
