import { describe, expect, it } from 'vitest'
import { synthetic } from '../../server/scenarios/synthetic.js'
import type { WireEvent } from '../../server/scenarios/types.js'

describe('synthetic scenario', () => {
  const opts = { seed: 7, tenants: 300, eventsPerTenant: 9, flapRate: 0.2, durationMs: 6 * 3_600_000, startMs: Date.UTC(2026, 1, 1) }

  it('yields exactly tenants × events-per-tenant tenant events plus the incident-wide ones, all in the window', () => {
    const s = synthetic(opts)
    const evs = [...s.events()]
    expect(evs).toHaveLength(s.eventCount)
    expect(evs.filter((e) => e.tenant_id)).toHaveLength(300 * 9)
    for (const e of evs) {
      const ms = Date.parse(e.occurred_at)
      expect(ms).toBeGreaterThanOrEqual(opts.startMs)
      expect(ms).toBeLessThanOrEqual(opts.startMs + opts.durationMs)
    }
    expect(new Set(evs.map((e) => e.event_id)).size).toBe(evs.length)
  })

  it('yields time order that is a permutation of the bulk order', () => {
    const s = synthetic(opts)
    const ordered = [...s.events({ ordered: true })]
    const bulk = [...s.events({ ordered: false })]
    const times = ordered.map((e) => Date.parse(e.occurred_at))
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]!)
    const key = (e: WireEvent) => JSON.stringify(e)
    expect(ordered.map(key).sort()).toEqual(bulk.map(key).sort())
  })

  it('gives every tenant a valid outage: lost, restore started → completed, restored; flappers go down once more', () => {
    const s = synthetic(opts)
    const perTenant = new Map<string, WireEvent[]>()
    for (const e of s.events()) if (e.tenant_id) perTenant.set(e.tenant_id, [...(perTenant.get(e.tenant_id) ?? []), e])
    expect(perTenant.size).toBe(300)
    let flappers = 0
    for (const list of perTenant.values()) {
      const access = list.filter((e) => e.type === 'access_lost' || e.type === 'access_restored').map((e) => e.type)
      if (access.length === 4) flappers++
      expect(access).toEqual(access.length === 4 ? ['access_lost', 'access_restored', 'access_lost', 'access_restored'] : ['access_lost', 'access_restored'])
      const types = list.map((e) => e.type)
      expect(types.indexOf('restore_started')).toBeLessThan(types.indexOf('restore_completed'))
      expect(types.indexOf('restore_completed')).toBeLessThan(types.indexOf('access_restored'))
      const progress = list.filter((e) => e.type === 'restore_progress').map((e) => e.progress!)
      expect(progress).toEqual([...progress].sort((a, b) => a - b))
    }
    // 20 % flap rate over 300 tenants: expect about 60.
    expect(flappers).toBeGreaterThan(35)
    expect(flappers).toBeLessThan(90)
  })

  it('gives tenants tier, region and seats attributes', () => {
    const tenants = [...synthetic(opts).tenants()]
    expect(tenants).toHaveLength(300)
    for (const t of tenants) {
      expect(['free', 'standard', 'premium', 'enterprise']).toContain(t.attributes.tier)
      expect(['us', 'eu', 'apac']).toContain(t.attributes.region)
      expect(Number.isInteger(t.attributes.seats)).toBe(true)
    }
  })

  it('is deterministic for a seed and differs between seeds', () => {
    expect([...synthetic(opts).events()]).toEqual([...synthetic(opts).events()])
    expect([...synthetic(opts).tenants()]).toEqual([...synthetic(opts).tenants()])
    const a = [...synthetic(opts).events()].map((e) => e.occurred_at)
    const b = [...synthetic({ ...opts, seed: 8 }).events()].map((e) => e.occurred_at)
    expect(a).not.toEqual(b)
  })

  it('rejects impossible options', () => {
    expect(() => synthetic({ eventsPerTenant: 3 })).toThrow(RangeError)
    expect(() => synthetic({ tenants: 0 })).toThrow(RangeError)
    expect(() => synthetic({ flapRate: 2 })).toThrow(RangeError)
  })

  // ~5 s each on an idle 2-core machine; generous timeout for a loaded CI box.
  it.each([true, false])('streams 1M events (ordered: %s) with the heap staying bounded', { timeout: 120_000 }, (ordered) => {
    // 10,000 tenants × 100 events. Holding 1M event objects would take several hundred MB;
    // the stream keeps only per-tenant cursors, so the heap stays within a small bound.
    const s = synthetic({ seed: 3, tenants: 10_000, eventsPerTenant: 100 })
    const baseline = process.memoryUsage().heapUsed
    let maxHeap = baseline
    let n = 0
    let prevMs = 0
    let outOfOrder = 0
    for (const e of s.events({ ordered })) {
      n++
      const ms = Date.parse(e.occurred_at)
      if (ms < prevMs) outOfOrder++
      prevMs = ms
      if (n % 50_000 === 0) maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed)
    }
    expect(n).toBe(s.eventCount)
    expect(n).toBeGreaterThanOrEqual(1_000_000)
    if (ordered) expect(outOfOrder).toBe(0)
    expect(maxHeap - baseline).toBeLessThan(96 * 1024 * 1024)
  })
})
