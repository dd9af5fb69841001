import { describe, expect, it } from 'vitest'
import { atlassian2022 } from '../../server/scenarios/atlassian-2022.js'
import type { WireEvent } from '../../server/scenarios/types.js'

// Figures from Atlassian's public post-incident review: % of affected users restored at the
// end of each UTC day. Written out here, not imported, so the test does not share the
// generator's calibration table.
const PUBLISHED = [
  ['2022-04-12', 35],
  ['2022-04-13', 45],
  ['2022-04-14', 55],
  ['2022-04-15', 78],
  ['2022-04-16', 99],
] as const

const scenario = atlassian2022({ seed: 1 })
const events = [...scenario.events()]
const tenants = [...scenario.tenants()]

/** SPEC §3 access state, computed the simple way: per tenant, replay sorted access events up to T. */
function weightedRecoveryPct(evs: WireEvent[], seats: Map<string, number>, atMs: number): number {
  const byTenant = new Map<string, WireEvent[]>()
  for (const e of evs) {
    if ((e.type !== 'access_lost' && e.type !== 'access_restored') || Date.parse(e.occurred_at) > atMs) continue
    const list = byTenant.get(e.tenant_id!) ?? []
    list.push(e)
    byTenant.set(e.tenant_id!, list)
  }
  let affected = 0
  let restored = 0
  for (const [tenant, list] of byTenant) {
    list.sort(
      (a, b) =>
        Date.parse(a.occurred_at) - Date.parse(b.occurred_at) ||
        (a.type === b.type ? 0 : a.type === 'access_lost' ? -1 : 1) ||
        a.event_id.localeCompare(b.event_id),
    )
    let down = false
    let everLost = false
    for (const e of list) {
      if (e.type === 'access_lost') {
        down = true
        everLost = true
      } else if (down) down = false
    }
    if (!everLost) continue
    const w = seats.get(tenant) ?? 0
    affected += w
    if (!down) restored += w
  }
  return (100 * restored) / affected
}

const endOfDayMs = (day: string) => Date.parse(`${day}T23:59:59.999Z`)

describe('atlassian-2022 scenario', () => {
  const seats = new Map(tenants.map((t) => [t.tenant_id, Number(t.attributes.seats)]))

  it.each(PUBLISHED)('reaches the published user-weighted recovery on %s (%i %) within one point', (day, pct) => {
    expect(Math.abs(weightedRecoveryPct(events, seats, endOfDayMs(day)) - pct)).toBeLessThanOrEqual(1)
  })

  it('has 775 customers with 883 sites, 150–4,000 seats, and known tiers and regions', () => {
    expect(tenants).toHaveLength(775)
    expect(new Set(tenants.map((t) => t.tenant_id)).size).toBe(775)
    expect(tenants.reduce((s, t) => s + Number(t.attributes.sites), 0)).toBe(883)
    for (const t of tenants) {
      expect(Number(t.attributes.seats)).toBeGreaterThanOrEqual(150)
      expect(Number(t.attributes.seats)).toBeLessThanOrEqual(4000)
      expect(['free', 'standard', 'premium', 'enterprise']).toContain(t.attributes.tier)
      expect(['us', 'eu', 'apac']).toContain(t.attributes.region)
    }
  })

  it('deletes every customer once between 07:38 and 08:01 UTC on April 5', () => {
    const lost = events.filter((e) => e.type === 'access_lost')
    expect(new Set(lost.map((e) => e.tenant_id)).size).toBe(775)
    expect(lost).toHaveLength(775)
    for (const e of lost) {
      expect(e.occurred_at >= '2022-04-05T07:38:00.000Z' && e.occurred_at <= '2022-04-05T08:01:00.000Z').toBe(true)
    }
  })

  it('brings the first customers back on April 8 and the last one at 2022-04-18 23:57 UTC', () => {
    const restored = events.filter((e) => e.type === 'access_restored').map((e) => e.occurred_at).sort()
    expect(restored).toHaveLength(775)
    expect(restored[0]!.slice(0, 10)).toBe('2022-04-08')
    expect(restored.at(-1)).toBe('2022-04-18T23:57:00.000Z')
    expect(weightedRecoveryPct(events, seats, Date.parse('2022-04-18T23:56:59.999Z'))).toBeLessThan(100)
    expect(weightedRecoveryPct(events, seats, Date.parse('2022-04-18T23:57:00.000Z'))).toBe(100)
  })

  it('orders each customer restore_started ≤ progress ≤ completed ≤ access_restored, progress rising', () => {
    const perTenant = new Map<string, WireEvent[]>()
    for (const e of events) if (e.tenant_id) perTenant.set(e.tenant_id, [...(perTenant.get(e.tenant_id) ?? []), e])
    for (const list of perTenant.values()) {
      const restore = list.filter((e) => e.type.startsWith('restore_') || e.type === 'access_restored')
      expect(restore.map((e) => e.type)).toEqual(['restore_started', 'restore_progress', 'restore_progress', 'restore_progress', 'restore_completed', 'access_restored'])
      const progress = restore.filter((e) => e.type === 'restore_progress').map((e) => e.progress)
      expect(progress).toEqual([0.25, 0.5, 0.75])
      const lostAt = list.find((e) => e.type === 'access_lost')!.occurred_at
      expect(restore[0]!.occurred_at >= lostAt).toBe(true)
    }
  })

  it('restores in batches of up to 60 sites: days per site with v1, about 12 h per site with v2 from April 14', () => {
    const started = events.filter((e) => e.type === 'restore_started')
    const completedAt = new Map(events.filter((e) => e.type === 'restore_completed').map((e) => [e.tenant_id!, Date.parse(e.occurred_at)]))
    const sites = new Map(tenants.map((t) => [t.tenant_id, Number(t.attributes.sites)]))
    const perBatch = new Map<string, number>()
    const HOUR_MS = 3_600_000
    for (const e of started) {
      const m = /^restore started: (batch \d+ of \d+) \((v1|v2) process\)$/.exec(e.message ?? '')
      expect(m, e.message).not.toBeNull()
      perBatch.set(m![1]!, (perBatch.get(m![1]!) ?? 0) + 1)
      if (m![2] === 'v2') expect(e.occurred_at >= '2022-04-14T00:00:00.000Z').toBe(true)
      // Per-site duration, read on single-site customers (a multi-site one starts with its earliest site).
      if (sites.get(e.tenant_id!) !== 1) continue
      const hours = (completedAt.get(e.tenant_id!)! - Date.parse(e.occurred_at)) / HOUR_MS
      if (m![2] === 'v2') {
        expect(hours).toBeGreaterThanOrEqual(12)
        expect(hours).toBeLessThanOrEqual(18)
      } else {
        expect(hours).toBeGreaterThanOrEqual(48)
        expect(hours).toBeLessThanOrEqual(4 * 24)
      }
    }
    // 883 sites in batches of ≤ 60: at least 15 batches; customers per batch ≤ sites per batch.
    expect(perBatch.size).toBeGreaterThanOrEqual(15)
    for (const n of perBatch.values()) expect(n).toBeLessThanOrEqual(60)
    expect(started.some((e) => e.message!.includes('v1'))).toBe(true)
    expect(started.some((e) => e.message!.includes('v2'))).toBe(true)
  })

  it('sends one status-page broadcast on April 7, first direct e-mails on April 11, everyone contacted by April 16', () => {
    const broadcasts = events.filter((e) => e.type === 'communication' && !e.tenant_id)
    expect(broadcasts).toHaveLength(1)
    expect(broadcasts[0]!.channel).toBe('status_page')
    expect(broadcasts[0]!.occurred_at.slice(0, 10)).toBe('2022-04-07')
    const firstDirect = new Map<string, string>()
    for (const e of events) if (e.type === 'communication' && e.tenant_id && !firstDirect.has(e.tenant_id)) firstDirect.set(e.tenant_id, e.occurred_at)
    expect(firstDirect.size).toBe(775)
    const sorted = [...firstDirect.values()].sort()
    expect(sorted[0]!.slice(0, 10)).toBe('2022-04-11')
    expect(sorted.at(-1)! <= '2022-04-16T23:59:59.999Z').toBe(true)
  })

  it('puts the incident milestones on the timeline', () => {
    const labels = events.filter((e) => e.type === 'milestone').map((e) => e.label)
    expect(labels).toEqual(expect.arrayContaining(['Sites deleted by maintenance script', 'Root cause identified', 'Restore v2 (faster process) rolled out', 'All customers restored']))
    for (const e of events.filter((x) => x.type === 'milestone')) expect(e.tenant_id).toBeUndefined()
  })

  it('yields events in occurred_at order with unique event ids and the incident metadata', () => {
    const times = events.map((e) => e.occurred_at)
    expect(times).toEqual([...times].sort())
    expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length)
    expect(events.length).toBe(scenario.eventCount)
    expect(new Set(events.map((e) => e.incident_id))).toEqual(new Set(['atlassian-2022-04']))
    expect(scenario.incident).toMatchObject({ incident_id: 'atlassian-2022-04', title: 'Atlassian cloud sites deleted (April 2022)', status: 'resolved' })
  })

  it('is deterministic for a seed and differs between seeds', () => {
    const again = atlassian2022({ seed: 1 })
    expect([...again.events()]).toEqual(events)
    expect([...again.tenants()]).toEqual(tenants)
    const other = [...atlassian2022({ seed: 2 }).events()]
    expect(other.map((e) => e.occurred_at)).not.toEqual(events.map((e) => e.occurred_at))
  })

  it('meets the published figures for other seeds as well', () => {
    for (const seed of [2, 3, 42]) {
      const s = atlassian2022({ seed })
      const evs = [...s.events()]
      const w = new Map([...s.tenants()].map((t) => [t.tenant_id, Number(t.attributes.seats)]))
      for (const [day, pct] of PUBLISHED) expect(Math.abs(weightedRecoveryPct(evs, w, endOfDayMs(day)) - pct)).toBeLessThanOrEqual(1)
    }
  })
})
