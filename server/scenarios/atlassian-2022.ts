import { companyName, createRng, logUniformInt, pickWeighted, shuffle } from './random.js'
import type { IncidentMeta, Scenario, TenantMeta, WireEvent } from './types.js'

/**
 * The public shape of the April 2022 Atlassian outage: a maintenance script deleted the
 * sites of 775 customers (883 sites) on 2022-04-05 between 07:38 and 08:01 UTC; sites were
 * restored in batches of up to 60, first by a slow process (days per site), from about
 * April 14 by a faster one (about 12 h per site); the last customer was back on April 18
 * at 23:57 UTC. Atlassian reported recovery as the share of affected *users* restored; the
 * published figures are the calibration anchors below (value at the end of each UTC day).
 * Times not in the public record (incident declared, root cause, first broadcast hour) are
 * plausible placeholders.
 */

export const ATLASSIAN_CUSTOMERS = 775
export const ATLASSIAN_SITES = 883
export const ATLASSIAN_INCIDENT_ID = 'atlassian-2022-04'

const utc = (d: number, h = 0, m = 0, s = 0, ms = 0) => Date.UTC(2022, 3, d, h, m, s, ms)
const endOfDay = (d: number) => utc(d, 23, 59, 59, 999)
const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

export const DELETION_START_MS = utc(5, 7, 38)
export const DELETION_END_MS = utc(5, 8, 1)
export const LAST_RESTORE_MS = utc(18, 23, 57)
const RESTORE_V1_START_MS = utc(5, 16, 0)
const RESTORE_V2_ROLLOUT_MS = utc(14, 2, 0)
const BROADCAST_MS = utc(7, 1, 50)
const FIRST_DIRECT_EMAIL_MS = utc(11, 8, 0)
const LAST_FIRST_EMAIL_MS = utc(16, 20, 0)
const MAX_BATCH_SITES = 60

/** Published user-weighted recovery (fraction of seats restored), at the end of each UTC day. */
export const PUBLISHED_WEIGHTED_RECOVERY: readonly { day: string; atMs: number; pct: number }[] = [
  { day: '2022-04-12', atMs: endOfDay(12), pct: 35 },
  { day: '2022-04-13', atMs: endOfDay(13), pct: 45 },
  { day: '2022-04-14', atMs: endOfDay(14), pct: 55 },
  { day: '2022-04-15', atMs: endOfDay(15), pct: 78 },
  { day: '2022-04-16', atMs: endOfDay(16), pct: 99 },
]

/**
 * The target recovery curve (time, fraction of seats restored), piecewise linear. Before
 * April 12 the public record only says the first customers were back on April 8; the
 * values for April 8–11 are an even ramp up to the published 35 %.
 */
const RECOVERY_CURVE: readonly [number, number][] = [
  [utc(8, 6, 0), 0],
  [endOfDay(8), 0.05],
  [endOfDay(9), 0.12],
  [endOfDay(10), 0.2],
  [endOfDay(11), 0.27],
  ...PUBLISHED_WEIGHTED_RECOVERY.map((p) => [p.atMs, p.pct / 100] as [number, number]),
  [endOfDay(17), 0.996],
  [LAST_RESTORE_MS, 1],
]

/** The moment the curve reaches `fraction` (inverse of the piecewise-linear curve). */
function curveTime(fraction: number): number {
  for (let i = 1; i < RECOVERY_CURVE.length; i++) {
    const [t1, f1] = RECOVERY_CURVE[i]!
    if (fraction <= f1) {
      const [t0, f0] = RECOVERY_CURVE[i - 1]!
      return Math.floor(t0 + ((fraction - f0) / (f1 - f0)) * (t1 - t0))
    }
  }
  return LAST_RESTORE_MS
}

const TIERS = [
  ['free', 0.1, 150, 300],
  ['standard', 0.45, 150, 1200],
  ['premium', 0.3, 400, 2500],
  ['enterprise', 0.15, 1500, 4000],
] as const
const REGIONS = [['us', 0.5], ['eu', 0.35], ['apac', 0.15]] as const

interface Customer {
  meta: TenantMeta
  seats: number
  sites: number
  lostAtMs: number
  restoredAtMs: number
  completedAtMs: number
  startedAtMs: number
  /** The batch the restore started in (its earliest site's), e.g. "batch 3 of 17 (v1 process)". */
  batch: string
  firstEmailAtMs: number
}

export interface AtlassianOptions {
  seed?: number
  incidentId?: string
}

export function atlassian2022(opts: AtlassianOptions = {}): Scenario {
  const seed = opts.seed ?? 1
  const incidentId = opts.incidentId ?? ATLASSIAN_INCIDENT_ID
  const customers = buildCustomers(seed)
  const events = buildEvents(seed, incidentId, customers)
  const incident: IncidentMeta = {
    incident_id: incidentId,
    title: 'Atlassian cloud sites deleted (April 2022)',
    description:
      'A maintenance script deleted the cloud sites of 775 customers (883 sites) on 2022-04-05. ' +
      'Sites were restored in batches over up to 14 days; the last customer was back on 2022-04-18. ' +
      'Reconstructed from the public post-incident review (synthetic customers, published recovery shape).',
    severity: 'critical',
    status: 'resolved',
  }
  return {
    incident,
    eventCount: events.length,
    tenantCount: customers.length,
    startMs: Date.parse(events[0]!.occurred_at),
    endMs: Date.parse(events[events.length - 1]!.occurred_at),
    tenants: () => customers.map((c) => c.meta),
    // Already sorted: ordered and bulk output are the same.
    events: () => events.values(),
  }
}

function buildCustomers(seed: number): Customer[] {
  const rng = createRng(seed)
  const base = Array.from({ length: ATLASSIAN_CUSTOMERS }, (_, i) => {
    const [tier, , minSeats, maxSeats] = pickWeighted(rng(), TIERS.map((t) => [t, t[1]] as const))
    const region = pickWeighted(rng(), REGIONS)
    const seats = logUniformInt(rng(), minSeats, maxSeats)
    return { i, tier, region, seats, sites: 1 }
  })
  // 883 − 775 = 108 second/third sites, more likely at larger customers.
  for (let extra = ATLASSIAN_SITES - ATLASSIAN_CUSTOMERS; extra > 0; ) {
    const c = base[Math.floor(rng() * base.length)]!
    if (rng() < c.seats / 4000 && c.sites < 4) {
      c.sites++
      extra--
    }
  }
  // Restore order is random; each customer's restore time is where the cumulative seat share
  // up to and including it meets the target curve, so the weighted recovery at any moment
  // is within one customer's share (≤ 4000 / total seats) of the curve.
  const order = shuffle([...base], rng)
  const totalSeats = order.reduce((s, c) => s + c.seats, 0)
  let cumulative = 0
  const customers: Customer[] = []
  for (const c of order) {
    cumulative += c.seats
    const restoredAtMs = curveTime(cumulative / totalSeats)
    const id = `cust-${String(c.i + 1).padStart(4, '0')}`
    customers.push({
      meta: { tenant_id: id, name: companyName(seed, c.i), attributes: { tier: c.tier, region: c.region, seats: c.seats, sites: c.sites } },
      seats: c.seats,
      sites: c.sites,
      lostAtMs: DELETION_START_MS + Math.floor(rng() * (DELETION_END_MS - DELETION_START_MS)),
      restoredAtMs,
      // Data restored, then 1–4 h of verification before access is given back.
      completedAtMs: restoredAtMs - Math.floor((1 + 3 * rng()) * HOUR_MS),
      startedAtMs: 0,
      batch: '',
      // Direct e-mails started on April 11; everyone had one by April 16 (more early on).
      firstEmailAtMs: FIRST_DIRECT_EMAIL_MS + Math.floor(rng() ** 1.5 * (LAST_FIRST_EMAIL_MS - FIRST_DIRECT_EMAIL_MS)),
    })
  }
  assignBatches(customers, rng)
  return customers.sort((a, b) => a.meta.tenant_id.localeCompare(b.meta.tenant_id))
}

/**
 * Sites are restored in batches of up to 60. A customer's last site finishes when its data
 * is restored; its other sites finish up to a day and a half earlier (possibly in an earlier
 * batch). Sites are grouped into batches in finishing order; a batch starts one process
 * duration before its first site finishes: days with the first process, 12 h with the second.
 */
function assignBatches(customers: Customer[], rng: () => number) {
  const sites: { c: Customer; doneMs: number }[] = []
  for (const c of customers) {
    sites.push({ c, doneMs: c.completedAtMs })
    for (let s = 1; s < c.sites; s++) {
      sites.push({ c, doneMs: Math.max(utc(7, 12), c.completedAtMs - Math.floor(rng() * 36 * HOUR_MS)) })
    }
  }
  sites.sort((a, b) => a.doneMs - b.doneMs)
  for (const c of customers) c.startedAtMs = Number.POSITIVE_INFINITY
  const batches: { sites: typeof sites; startMs: number; v2: boolean }[] = []
  for (let i = 0; i < sites.length; ) {
    const firstDoneMs = sites[i]!.doneMs
    const v2 = firstDoneMs - 12 * HOUR_MS >= RESTORE_V2_ROLLOUT_MS
    // A batch holds up to 40–60 sites, and only sites finishing within half a process run of
    // its first one, so no site takes much longer than its process does.
    const size = Math.min(MAX_BATCH_SITES, 40 + Math.floor(rng() * 21))
    const maxSpanMs = v2 ? 6 * HOUR_MS : DAY_MS
    let end = i + 1
    while (end < sites.length && end - i < size && sites[end]!.doneMs - firstDoneMs <= maxSpanMs) end++
    const batch = sites.slice(i, end)
    i = end
    batches.push({ sites: batch, v2, startMs: v2 ? firstDoneMs - 12 * HOUR_MS : Math.max(RESTORE_V1_START_MS, firstDoneMs - 3 * DAY_MS) })
  }
  batches.forEach((b, i) => {
    for (const s of b.sites) {
      if (b.startMs >= s.c.startedAtMs) continue
      s.c.startedAtMs = b.startMs
      s.c.batch = `batch ${i + 1} of ${batches.length} (${b.v2 ? 'v2' : 'v1'} process)`
    }
  })
}

function buildEvents(seed: number, incidentId: string, customers: Customer[]): WireEvent[] {
  const rng = createRng(seed ^ 0x5eed)
  const out: { ms: number; seq: number; e: Omit<WireEvent, 'occurred_at'> }[] = []
  let seq = 0
  const prefix = `a22-${seed}`
  const add = (ms: number, e: Omit<WireEvent, 'occurred_at' | 'incident_id' | 'event_id'>, key: string) =>
    out.push({ ms, seq: seq++, e: { event_id: `${prefix}-${key}`, incident_id: incidentId, ...e } })

  const milestones: [number, string][] = [
    [DELETION_START_MS, 'Sites deleted by maintenance script'],
    [utc(5, 8, 17), 'Major incident declared'],
    [utc(5, 8, 53), 'Root cause identified'],
    [RESTORE_V1_START_MS, 'Restore v1 (per-site process) started'],
    [RESTORE_V2_ROLLOUT_MS, 'Restore v2 (faster process) rolled out'],
    [LAST_RESTORE_MS, 'All customers restored'],
  ]
  milestones.forEach(([ms, label], i) => add(ms, { type: 'milestone', label }, `m${i}`))
  add(BROADCAST_MS, { type: 'communication', channel: 'status_page', message: 'We are aware of an outage affecting some customers and are working on restoring their sites.' }, 'b0')

  for (const c of customers) {
    const t = c.meta.tenant_id
    const plural = c.sites > 1 ? `${c.sites} sites` : 'site'
    add(c.lostAtMs, { type: 'access_lost', tenant_id: t, message: `${plural} deleted` }, `${t}-lost`)
    add(c.startedAtMs, { type: 'restore_started', tenant_id: t, message: `restore started: ${c.batch}` }, `${t}-start`)
    for (const f of [0.25, 0.5, 0.75]) {
      add(c.startedAtMs + Math.floor(f * (c.completedAtMs - c.startedAtMs)), { type: 'restore_progress', tenant_id: t, progress: f }, `${t}-p${f * 100}`)
    }
    add(c.completedAtMs, { type: 'restore_completed', tenant_id: t }, `${t}-done`)
    add(c.restoredAtMs, { type: 'access_restored', tenant_id: t }, `${t}-up`)
    // First e-mail, then a daily update while still down, then a restoration notice.
    let n = 0
    add(c.firstEmailAtMs, { type: 'communication', tenant_id: t, channel: 'email', message: 'Your site is affected by the outage; we are restoring it.' }, `${t}-c${n++}`)
    for (let ms = c.firstEmailAtMs + DAY_MS + Math.floor((rng() - 0.5) * 6 * HOUR_MS); ms < c.restoredAtMs; ms += DAY_MS) {
      add(ms, { type: 'communication', tenant_id: t, channel: rng() < 0.8 ? 'email' : 'ticket', message: 'Restore update.' }, `${t}-c${n++}`)
    }
    const noticeMs = c.restoredAtMs + Math.floor((0.3 + rng()) * HOUR_MS)
    if (noticeMs > c.firstEmailAtMs) add(noticeMs, { type: 'communication', tenant_id: t, channel: 'email', message: 'Your site is restored.' }, `${t}-c${n++}`)
  }
  out.sort((a, b) => a.ms - b.ms || a.seq - b.seq)
  return out.map(({ ms, e }) => ({ ...e, occurred_at: new Date(ms).toISOString() }) as WireEvent)
}
