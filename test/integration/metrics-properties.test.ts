import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventType } from '../../server/domain/events.js'
import type { EventRow } from '../../server/ingest/types.js'
import { event, insertEvents, insertTenants, rowTime, type TenantMeta } from '../helpers/factories.js'
import { ms, quantile, referencePctReached, referenceSummary, referenceTenants, visibleEvents, type RefOptions } from '../helpers/reference.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * Every endpoint's numbers against the plain reference implementation (test/helpers/reference.ts),
 * on random incidents: re-sent events, shuffled arrival in chunks, ties at equal timestamps,
 * flapping, stray restores, broadcasts, progress, events after as_of and in other incidents.
 */
const BASE = Date.parse('2022-04-05T07:00:00Z')
const MIN = 60_000
const RUNS = 30

interface Scenario {
  incidentId: string
  /** The events the reference sees: with known_at, those received by then. */
  events: EventRow[]
  /** Every event inserted, each with its received_at and seq (arrival order). */
  arrivals: ArrivedEvent[]
  /** known_at (SPEC §7) asked for, or null. */
  knownAtMs: number | null
  tenants: TenantMeta[]
  asOfMs: number
  includeBroadcast: boolean
  staleAfterMin: number
  filterTier: string | null
  chunk: number
  seed: number
  /** Ask for figures weighted by seats (computed per request in ClickHouse) or not. */
  weighted: boolean
  /** off: every figure computed in ClickHouse; always: the default view from the incident log. */
  logMode: 'off' | 'always'
  /** SPEC §6, set through PUT /incidents; null: the defaults (4 h, 24 h). */
  policy: { firstContactWithinMs: number; updateEveryMs: number } | null
}

type ArrivedEvent = EventRow & { received_at: string; seq: number }

/** Arrival delays in minutes: most events arrive at once, some late, a few hours late. */
const LAGS = [0, 0, 0, 0, 7, 95, 600]

const TYPES: EventType[] = ['access_lost', 'access_lost', 'access_restored', 'access_restored', 'restore_started', 'restore_progress', 'restore_completed', 'communication']

let runNo = 0
const scenarioArb = fc
  .record({
    tenantCount: fc.integer({ min: 1, max: 6 }),
    raw: fc.array(
      fc.record({
        tenant: fc.integer({ min: 0, max: 5 }),
        type: fc.constantFrom(...TYPES),
        // Minutes on a coarse grid so that ties are frequent; sometimes a millisecond offset.
        minute: fc.integer({ min: 0, max: 240 }),
        offsetMs: fc.constantFrom(0, 0, 0, 1, 999),
        broadcast: fc.boolean(),
        progress: fc.double({ min: 0, max: 1, noNaN: true }),
        dup: fc.constantFrom(false, false, false, true),
      }),
      { minLength: 1, maxLength: 40 },
    ),
    milestoneMinute: fc.integer({ min: 0, max: 240 }),
    asOfMinute: fc.integer({ min: 0, max: 260 }),
    includeBroadcast: fc.boolean(),
    staleAfterMin: fc.constantFrom(15, 60, 1440),
    filterTier: fc.constantFrom(null, null, 'gold'),
    chunk: fc.integer({ min: 1, max: 7 }),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    weighted: fc.boolean(),
    // Half the runs ask for the dashboard's default view (no weight, segment, broadcasts or other
    // stale_after): the figures the incident log serves when logMode is always.
    defaultView: fc.boolean(),
    logMode: fc.constantFrom('off' as const, 'always' as const),
    tiers: fc.array(fc.constantFrom('gold', 'free', null), { minLength: 6, maxLength: 6 }),
    policy: fc.option(fc.record({ fcwMin: fc.constantFrom(1, 10, 30, 240), ueMin: fc.constantFrom(5, 20, 60, 1440) }), { nil: null }),
    seats: fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 6, maxLength: 6 }),
    // What was known when: half the runs ask for the figures as known at a moment.
    knownAtMinute: fc.option(fc.integer({ min: 0, max: 700 }), { nil: null }),
    lagSeed: fc.integer({ min: 1, max: 1_000_000 }),
  })
  .map((r): Scenario => {
    const run = ++runNo
    const incidentId = `prop-${run}`
    // Tenant ids: unicode and per run (tenant metadata is global, not per incident).
    const tid = (i: number) => `r${run}-tenänt ${i}`
    const events: EventRow[] = []
    for (const e of r.raw) {
      const at = BASE + e.minute * MIN + e.offsetMs
      const tenant = e.type === 'communication' && e.broadcast ? '' : tid(e.tenant % r.tenantCount)
      const row = event(e.type, at, { incident_id: incidentId, tenant_id: tenant, progress: e.type === 'restore_progress' ? e.progress : null })
      events.push(row)
      if (e.dup) events.push({ ...row })
    }
    events.push(event('milestone', BASE + r.milestoneMinute * MIN, { incident_id: incidentId, label: 'milestone' }))
    // Noise in another incident with the same tenants.
    events.push(event('access_lost', BASE, { incident_id: `${incidentId}-other`, tenant_id: tid(0) }))
    const tenants: TenantMeta[] = []
    for (let i = 0; i < r.tenantCount; i++) {
      if (r.tiers[i] === null) continue
      tenants.push({ tenant_id: tid(i), name: `Tenant ${i}`, attributes: { tier: r.tiers[i]!, seats: r.seats[i]! } })
    }
    // Each row arrives a random delay after it occurred (a re-sent copy after its original, so the
    // first accepted copy is the first received); seq in arrival order, as the server stamps them.
    let lagState = r.lagSeed
    const arrivalMs = events.map((e, i) => {
      lagState = (lagState * 1103515245 + 12345) % 2147483648
      return Date.parse(e.occurred_at.replace(' ', 'T') + 'Z') + LAGS[lagState % LAGS.length]! * MIN + i
    })
    for (let i = 1; i < events.length; i++) {
      if (events[i]!.event_id === events[i - 1]!.event_id) arrivalMs[i] = Math.max(arrivalMs[i]!, arrivalMs[i - 1]! + 1)
    }
    const order = events.map((_, i) => i).sort((a, b) => arrivalMs[a]! - arrivalMs[b]!)
    const seqOf = new Map(order.map((i, k) => [i, k + 1]))
    const arrivals = events.map((e, i) => ({ ...e, received_at: rowTime(arrivalMs[i]!), seq: seqOf.get(i)! }))
    const knownAtMs = r.knownAtMinute === null ? null : BASE + r.knownAtMinute * MIN
    return {
      incidentId,
      events: knownAtMs === null ? events : events.filter((_, i) => arrivalMs[i]! <= knownAtMs),
      arrivals,
      knownAtMs,
      tenants,
      asOfMs: BASE + r.asOfMinute * MIN,
      includeBroadcast: r.defaultView ? false : r.includeBroadcast,
      staleAfterMin: r.defaultView ? 1440 : r.staleAfterMin,
      filterTier: r.defaultView ? null : r.filterTier,
      chunk: r.chunk,
      seed: r.seed,
      weighted: r.defaultView ? false : r.weighted,
      logMode: r.logMode,
      policy: r.policy ? { firstContactWithinMs: r.policy.fcwMin * MIN, updateEveryMs: r.policy.ueMin * MIN } : null,
    }
  })

/** Deterministic shuffle (arrival order) from the scenario's seed. */
function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Numbers within 1e-6 (relative); everything else equal. */
function approx(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const tol = 1e-6 * Math.max(1, Math.abs(expected))
    if (Math.abs(actual - expected) > tol) throw new Error(`${path}: expected ${expected}, got ${actual}`)
    return
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') throw new Error(`${path}: expected object, got ${JSON.stringify(actual)}`)
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual as object)])
    for (const k of keys) approx((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`)
    return
  }
  if (actual !== expected) throw new Error(`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())

describe('metrics agree with the reference implementation on random incidents', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startTestServer()
  })
  afterAll(async () => srv?.stop())

  const load = async (s: Scenario) => {
    srv.config.incidentLog = s.logMode
    await insertEvents(srv.store, shuffled(s.arrivals, s.seed), s.chunk)
    await insertTenants(srv.store, s.tenants)
    if (s.policy) {
      const res = await srv.api(`/api/v1/incidents/${s.incidentId}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ comm_policy: { first_contact_within: `${s.policy.firstContactWithinMs / MIN}m`, update_every: `${s.policy.updateEveryMs / MIN}m` } }),
      })
      expect(res.status).toBe(200)
    }
  }
  const get = async (path: string) => {
    const res = await srv.api(path)
    const text = await res.text()
    if (res.status !== 200) throw new Error(`${path} → ${res.status} ${text}`)
    return JSON.parse(text)
  }
  const common = (s: Scenario) =>
    `as_of=${iso(s.asOfMs)}&include_broadcast=${s.includeBroadcast}${s.filterTier ? `&attr.tier=${s.filterTier}` : ''}${s.knownAtMs === null ? '' : `&known_at=${iso(s.knownAtMs)}`}`
  const refOpts = (s: Scenario): RefOptions => ({
    incidentId: s.incidentId,
    asOfMs: s.asOfMs,
    includeBroadcast: s.includeBroadcast,
    staleAfterMs: s.staleAfterMin * MIN,
    filters: s.filterTier ? { tier: [s.filterTier] } : undefined,
    weight: 'seats',
    policy: s.policy ?? undefined,
  })

  it('summary and tenants rows', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        await load(s)
        const o = refOpts(s)
        const body = await get(`/api/v1/incidents/${s.incidentId}/summary?${common(s)}${s.weighted ? '&weight=seats' : ''}&stale_after=${s.staleAfterMin}m`)
        const ref = referenceSummary(s.events, s.tenants, o)
        approx(
          {
            affected: body.affected,
            restored: body.restored,
            down: body.down,
            recovery_pct: body.recovery_pct,
            weighted: body.weighted,
            downtime_s: body.downtime_s,
            first_contact_latency_s: body.first_contact_latency_s,
            waiting_first_contact: body.waiting_first_contact,
            stale: body.stale,
            overdue: body.overdue,
            first_contact_on_time_pct: body.first_contact_on_time_pct,
            stages: body.stages,
            first_impact_at: body.milestones.first_impact_at,
            pct: [body.milestones.pct50_at, body.milestones.pct90_at, body.milestones.pct100_at],
          },
          {
            affected: ref.affected,
            restored: ref.restored,
            down: ref.down,
            recovery_pct: ref.recovery_pct,
            weighted: s.weighted
              ? {
                  weight: 'seats',
                  affected: ref.weighted_affected,
                  restored: ref.weighted_restored,
                  recovery_pct: ref.weighted_affected > 0 ? (100 * ref.weighted_restored) / ref.weighted_affected : null,
                }
              : null,
            downtime_s: ref.downtime_s,
            first_contact_latency_s: ref.first_contact_latency_s,
            waiting_first_contact: ref.waiting_first_contact,
            stale: ref.stale,
            overdue: ref.overdue,
            first_contact_on_time_pct: ref.first_contact_on_time_pct,
            stages: ref.stages,
            first_impact_at: iso(ref.first_impact_ms),
            pct: [50, 90, 100].map((p) => iso(referencePctReached(s.events, s.tenants, o, p))),
          },
        )
        const milestones = visibleEvents(s.events, s.incidentId, s.asOfMs).filter((e) => e.type === 'milestone')
        expect(body.milestones.events).toEqual(milestones.map((e) => ({ at: iso(ms(e.occurred_at)), label: e.label })))
        const comms = visibleEvents(s.events, s.incidentId, s.asOfMs)
          .filter((e) => e.type === 'communication' && ref.first_impact_ms !== null && ms(e.occurred_at) >= ref.first_impact_ms)
          .map((e) => ms(e.occurred_at))
        expect(body.milestones.first_contact_at).toBe(comms.length ? iso(Math.min(...comms)) : null)
        // ETA: restores (interval ends) in the trailing 24 h, extrapolated over the tenants still down.
        const restores = [...referenceTenants(s.events, s.tenants, o).values()]
          .flatMap((r) => r.intervals)
          .filter((iv) => iv.end !== null && iv.end > s.asOfMs - 86_400_000).length
        const windowMs = ref.first_impact_ms === null ? 0 : Math.min(86_400_000, s.asOfMs - ref.first_impact_ms)
        if (ref.down === 0 || restores === 0 || windowMs <= 0) expect(body.eta).toBeNull()
        else expect(body.eta.at).toBe(iso(Math.round(s.asOfMs + (ref.down * windowMs) / restores)))

        const page = await get(`/api/v1/incidents/${s.incidentId}/tenants?${common(s)}&sort=tenant_id&order=asc&limit=1000`)
        const rows = [...referenceTenants(s.events, s.tenants, o).values()].sort((a, b) => Buffer.compare(Buffer.from(a.tenant_id), Buffer.from(b.tenant_id)))
        approx(page, {
          total: rows.length,
          rows: rows.map((r) => ({
            tenant_id: r.tenant_id,
            name: r.name,
            attributes: r.attributes,
            state: r.state,
            first_lost_at: iso(r.first_lost_ms),
            last_restored_at: iso(r.last_restored_ms),
            downtime_s: r.downtime_ms / 1000,
            outages: r.outages,
            restore_stage: r.restore_stage,
            restore_progress: r.restore_progress,
            first_contact_at: iso(r.first_contact_ms),
            first_contact_latency_s: r.first_contact_ms === null ? null : (r.first_contact_ms - r.first_lost_ms) / 1000,
            communications: r.communications,
            max_comm_gap_s: r.max_gap_ms / 1000,
          })),
        })
        // Who to contact now: every overdue tenant, most overdue first (then by tenant_id).
        const overdue = await get(`/api/v1/incidents/${s.incidentId}/overdue?${common(s)}&limit=1000`)
        const refOverdue = rows
          .filter((r) => r.overdue)
          .sort((a, b) => a.overdue_due_ms! - b.overdue_due_ms! || Buffer.compare(Buffer.from(a.tenant_id), Buffer.from(b.tenant_id)))
        approx(overdue, {
          total: refOverdue.length,
          rows: refOverdue.map((r) => ({
            tenant_id: r.tenant_id,
            name: r.name,
            kind: r.overdue_kind,
            due_at: iso(r.overdue_due_ms),
            overdue_s: (s.asOfMs - r.overdue_due_ms!) / 1000,
            last_contact_at: iso(r.last_contact_ms),
          })),
        })
        // Each tenant's timeline carries the same row, and null for a tenant not affected at T
        // (or outside the segment).
        const tenantIds = [...new Set(s.events.filter((e) => e.incident_id === s.incidentId && e.tenant_id !== '').map((e) => e.tenant_id))]
        for (const id of tenantIds) {
          const tl = await get(`/api/v1/incidents/${s.incidentId}/tenants/${encodeURIComponent(id)}/timeline?${common(s)}`)
          expect(tl.row).toEqual(page.rows.find((r: { tenant_id: string }) => r.tenant_id === id) ?? null)
        }
        // With known_at, a tenant of the incident none of whose events had arrived: no row, none of its events.
        const known = new Set(tenantIds)
        for (const id of new Set(s.arrivals.filter((e) => e.incident_id === s.incidentId && e.tenant_id !== '' && !known.has(e.tenant_id)).map((e) => e.tenant_id))) {
          const tl = await get(`/api/v1/incidents/${s.incidentId}/tenants/${encodeURIComponent(id)}/timeline?${common(s)}`)
          expect(tl.row).toBeNull()
          expect(tl.events.filter((e: { direct: boolean }) => e.direct)).toEqual([])
        }
      }),
      { numRuns: RUNS },
    )
  })

  it('recovery and communications series, point by point', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.constantFrom('5m', '17m', '1h', 'auto'), async (s, bucket) => {
        await load(s)
        const o = refOpts(s)
        const from = iso(BASE - 10 * MIN)
        const rec = await get(`/api/v1/incidents/${s.incidentId}/recovery?${common(s)}${s.weighted ? '&weight=seats' : ''}&bucket=${bucket}&from=${from}`)
        const com = await get(
          `/api/v1/incidents/${s.incidentId}/communications?${common(s)}&bucket=${bucket}&from=${from}&stale_after=${s.staleAfterMin}m`,
        )
        const bucketMs = rec.bucket_s * 1000
        const times: number[] = rec.series[0].points.map((p: { t: string }) => Date.parse(p.t))
        expect(times.at(-1)).toBe(s.asOfMs)
        for (let k = 1; k < times.length - 1; k++) expect(times[k]! - times[k - 1]!).toBe(bucketMs)
        expect(com.points.map((p: { t: string }) => Date.parse(p.t))).toEqual(times)

        const final = referenceTenants(s.events, s.tenants, o)
        const visible = visibleEvents(s.events, s.incidentId, s.asOfMs)
        const inSegment = (tenant: string) =>
          !s.filterTier || s.tenants.some((t) => t.tenant_id === tenant && t.attributes?.tier === s.filterTier)
        times.forEach((t, k) => {
          const prev = k === 0 ? t - bucketMs : times[k - 1]!
          const at = referenceTenants(s.events, s.tenants, { ...o, asOfMs: t })
          const rows = [...at.values()]
          const up = rows.filter((r) => r.state === 'up')
          const w = rows.reduce((a, r) => a + r.weight, 0)
          const wUp = up.reduce((a, r) => a + r.weight, 0)
          approx(rec.series[0].points[k], {
            t: iso(t),
            affected: rows.length,
            restored: up.length,
            recovery_pct: rows.length ? (100 * up.length) / rows.length : null,
            ...(s.weighted ? { weighted_recovery_pct: w > 0 ? (100 * wUp) / w : null } : {}),
            not_started: rows.filter((r) => r.restore_stage === 'not_started').length,
            in_progress: rows.filter((r) => r.restore_stage === 'in_progress').length,
            completed: rows.filter((r) => r.restore_stage === 'completed').length,
          })
          const inBucket = (x: number) => x > prev && x <= t
          const comms = visible.filter((e) => e.type === 'communication' && inBucket(ms(e.occurred_at)))
          const firstContacted = [...final.values()].filter((r) => r.first_contact_ms !== null && inBucket(r.first_contact_ms))
          approx(com.points[k], {
            t: iso(t),
            sent_direct: comms.filter((e) => e.tenant_id !== '' && inSegment(e.tenant_id)).length,
            sent_broadcast: comms.filter((e) => e.tenant_id === '').length,
            waiting_first_contact: rows.filter((r) => r.first_contact_ms === null).length,
            stale: rows.filter((r) => r.stale).length,
            overdue: rows.filter((r) => r.overdue).length,
            median_first_contact_latency_s: quantile(
              firstContacted.map((r) => (r.first_contact_ms! - r.first_lost_ms) / 1000),
              0.5,
            ),
          })
        })
      }),
      { numRuns: RUNS },
    )
  })

  it('downtime histogram', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.integer({ min: 1, max: 30 }), async (s, bins) => {
        await load(s)
        const body = await get(`/api/v1/incidents/${s.incidentId}/downtime-histogram?${common(s)}&bins=${bins}`)
        const downtimes = [...referenceTenants(s.events, s.tenants, refOpts(s)).values()].map((r) => r.downtime_ms / 1000)
        if (downtimes.length === 0) {
          expect(body.bins).toEqual([])
          return
        }
        const max = Math.max(...downtimes)
        expect(body.bins.length).toBeLessThanOrEqual(bins)
        expect(body.bins[0].from_s).toBe(0)
        expect(body.bins.at(-1).to_s).toBeGreaterThanOrEqual(max)
        body.bins.forEach((b: { from_s: number; to_s: number; tenants: number }, i: number) => {
          const last = i === body.bins.length - 1
          const n = downtimes.filter((d) => d >= b.from_s && (d < b.to_s || (last && d === b.to_s))).length
          expect([i, b.tenants]).toEqual([i, n])
        })
      }),
      { numRuns: RUNS },
    )
  })

  it('ETA history: each point is the ETA the summary showed then, from the events that had arrived', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.constantFrom('10m', '30m', '1h'), async (s, bucket) => {
        await load(s)
        const o = refOpts(s)
        const from = iso(BASE - 10 * MIN)
        const body = await get(`/api/v1/incidents/${s.incidentId}/eta-history?as_of=${iso(s.asOfMs)}&bucket=${bucket}&from=${from}${s.filterTier ? `&attr.tier=${s.filterTier}` : ''}`)
        // The reference at (t, known at t): the events received by t, as of t.
        const etaAt = (t: number): string | null => {
          const events = s.arrivals.filter((e) => ms(e.received_at) <= t)
          const at = { ...o, asOfMs: t }
          const ref = referenceSummary(events, s.tenants, at)
          const restores = [...referenceTenants(events, s.tenants, at).values()]
            .flatMap((r) => r.intervals)
            .filter((iv) => iv.end !== null && iv.end > t - 86_400_000).length
          const windowMs = ref.first_impact_ms === null ? 0 : Math.min(86_400_000, t - ref.first_impact_ms)
          if (ref.down === 0 || restores === 0 || windowMs <= 0) return null
          return iso(Math.round(t + (ref.down * windowMs) / restores))
        }
        const actual = referencePctReached(s.arrivals, s.tenants, o, 100)
        expect(body.actual_full_recovery_at).toBe(iso(actual))
        const times: number[] = body.points.map((p: { t: string }) => Date.parse(p.t))
        expect(times.at(-1)).toBe(s.asOfMs)
        for (const [k, t] of times.entries()) {
          const expected = etaAt(t)
          expect({ t: iso(t), eta_at: body.points[k].eta_at }).toEqual({ t: iso(t), eta_at: expected })
          expect(body.points[k].error_s).toBe(expected === null || actual === null ? null : (Date.parse(expected) - actual) / 1000)
        }
      }),
      { numRuns: RUNS },
    )
  })
})
