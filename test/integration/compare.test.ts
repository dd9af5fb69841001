import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventRow } from '../../server/ingest/types.js'
import { insertEvents, lost, restored } from '../helpers/factories.js'
import { referencePctReached, referenceSummary, referenceTenants, type RefOptions } from '../helpers/reference.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * GET /api/v1/compare (SPEC §7): incidents side by side on the time since each one's first impact,
 * every point and headline figure against the reference implementation.
 */
const MIN = 60_000
const H = 60 * MIN
const A0 = Date.parse('2022-04-05T07:38:00Z')
const B0 = Date.parse('2024-07-19T04:09:00Z')
const inA = (e: EventRow): EventRow => ({ ...e, incident_id: 'cmp-a' })
const inB = (e: EventRow): EventRow => ({ ...e, incident_id: 'cmp-b' })
const events: EventRow[] = [
  ...['a1', 'a2', 'a3', 'a4'].map((t, i) => inA(lost(t, A0 + i * MIN))),
  inA(restored('a1', A0 + H)),
  inA(restored('a2', A0 + 2 * H)),
  inA(restored('a3', A0 + 3 * H)),
  inB(lost('b1', B0)),
  inB(lost('b2', B0 + 5 * MIN)),
  inB(restored('b1', B0 + 30 * MIN)),
  inB(restored('b2', B0 + 90 * MIN)),
]
const AS_OF = Date.parse('2025-01-01T00:00:00Z')
const iso = (t: number) => new Date(t).toISOString()

describe('compare incidents', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startTestServer()
    await insertEvents(srv.store, events)
  })
  afterAll(async () => srv?.stop())

  it('lays each incident on the time since its first impact, every point and figure as the reference has them', async () => {
    const res = await srv.api(`/api/v1/compare?incidents=cmp-a,cmp-b&as_of=${iso(AS_OF)}&bucket=30m`)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.bucket_s).toBe(1800)
    expect(body.incidents.map((i: { incident_id: string }) => i.incident_id)).toEqual(['cmp-a', 'cmp-b'])
    for (const [inc, first] of [
      ['cmp-a', A0],
      ['cmp-b', B0],
    ] as const) {
      const c = body.incidents.find((i: { incident_id: string }) => i.incident_id === inc)
      const o: RefOptions = { incidentId: inc, asOfMs: AS_OF, includeBroadcast: false, staleAfterMs: 86_400_000 }
      const ref = referenceSummary(events, [], o)
      expect(c.first_impact_at).toBe(iso(first))
      expect({ affected: c.affected, restored: c.restored, recovery_pct: c.recovery_pct, downtime_s: c.downtime_s }).toEqual({
        affected: ref.affected,
        restored: ref.restored,
        recovery_pct: ref.recovery_pct,
        downtime_s: ref.downtime_s,
      })
      const since = (p: number) => {
        const at = referencePctReached(events, [], o, p)
        return at === null ? null : (at - first) / 1000
      }
      expect([c.to_pct50_s, c.to_pct90_s, c.to_pct100_s]).toEqual([since(50), since(90), since(100)])
      // Points: from within one bucket of the first impact to the incident's last event, each the recovery then.
      const last = Math.max(...events.filter((e) => e.incident_id === inc).map((e) => Date.parse(e.occurred_at.replace(' ', 'T') + 'Z')))
      expect(c.points[0].since_s).toBeGreaterThanOrEqual(0)
      expect(c.points[0].since_s).toBeLessThan(1800)
      expect(c.points.at(-1).since_s).toBe((last - first) / 1000)
      for (const p of c.points) {
        const rows = [...referenceTenants(events, [], { ...o, asOfMs: first + p.since_s * 1000 }).values()]
        const up = rows.filter((r) => r.state === 'up').length
        expect(p).toEqual({ since_s: p.since_s, affected: rows.length, restored: up, recovery_pct: rows.length ? (100 * up) / rows.length : null })
      }
    }
    // The incidents' shapes as the reference says: b fully recovered 90 min after impact, a never by as_of.
    expect(body.incidents[1].to_pct100_s).toBe(90 * 60)
    expect(body.incidents[0].to_pct100_s).toBeNull()
  })

  it('refuses a missing list, more than four incidents and an unknown one', async () => {
    expect((await srv.api('/api/v1/compare')).status).toBe(400)
    expect((await srv.api('/api/v1/compare?incidents=a,b,c,d,e')).status).toBe(400)
    expect((await srv.api('/api/v1/compare?incidents=cmp-a,not/valid')).status).toBe(400)
    const unknown = await srv.api('/api/v1/compare?incidents=cmp-a,cmp-none')
    expect(unknown.status).toBe(404)
    expect((await unknown.json()).error.code).toBe('not_found')
  })
})
