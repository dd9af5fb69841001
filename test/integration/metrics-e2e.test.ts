import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventRow } from '../../server/ingest/types.js'
import { TOKENS } from '../helpers/db.js'
import { broadcast, comm, lost, progress, restored, started } from '../helpers/factories.js'
import { ms, referenceSummary, referenceTenants } from '../helpers/reference.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/** Events in through POST /api/v1/events (the real ingest path), figures out of the query API. */
const H = 3600_000
const t0 = Date.parse('2022-04-05T07:38:00Z')
const iso = (t: number) => new Date(t).toISOString()

/** An EventRow as the JSON a producer would send. */
function wire(e: EventRow): Record<string, unknown> {
  const out: Record<string, unknown> = { event_id: e.event_id, incident_id: e.incident_id, type: e.type, occurred_at: iso(ms(e.occurred_at)) }
  if (e.tenant_id) out.tenant_id = e.tenant_id
  if (e.progress !== null) out.progress = e.progress
  if (e.type === 'communication') out.channel = e.channel
  if (e.label) out.label = e.label
  return out
}

describe('metrics over events sent through the ingest API', () => {
  let srv: TestServer
  const incident = 'e2e-1'
  const events: EventRow[] = []
  const at = <T extends EventRow>(e: T) => ({ ...e, incident_id: incident })

  beforeAll(async () => {
    srv = await startTestServer()
    for (let i = 0; i < 40; i++) {
      const id = `cust-${i}`
      const lostAt = t0 + (i % 7) * 600_000
      events.push(at(lost(id, lostAt)), at(comm(id, lostAt + (i % 5) * H)))
      if (i % 3 === 0) events.push(at(started(id, lostAt + 2 * H)), at(progress(id, lostAt + 3 * H, 0.5)))
      if (i % 2 === 0) events.push(at(restored(id, lostAt + (5 + (i % 4)) * H)))
      if (i % 11 === 0) events.push(at(lost(id, lostAt + 20 * H)))
    }
    events.push(at(broadcast(t0 + 30 * 60_000)))
    const post = async (batch: EventRow[]) => {
      const res = await srv.api('/api/v1/events', {
        method: 'POST',
        token: TOKENS.ingest,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch.map(wire)),
      })
      expect(res.status).toBe(200)
      expect((await res.json()).accepted).toBe(batch.length)
    }
    // Newest first, in three requests, and the first request sent twice.
    const reversed = [...events].reverse()
    const third = Math.ceil(reversed.length / 3)
    for (const batch of [reversed.slice(0, third), reversed.slice(third, 2 * third), reversed.slice(2 * third), reversed.slice(0, third)]) await post(batch)
    const tenants = await srv.api('/api/v1/tenants', {
      method: 'POST',
      token: TOKENS.ingest,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ tenant_id: `cust-${i}`, name: `Customer ${i}`, attributes: { tier: i % 4 === 0 ? 'enterprise' : 'standard', seats: i * 10 } }))),
    })
    expect(tenants.status).toBe(200)
  })
  afterAll(async () => srv?.stop())

  const T = t0 + 24 * H

  it('summary and tenants rows equal the reference computed from the same events', async () => {
    const s = await (await srv.api(`/api/v1/incidents/${incident}/summary?as_of=${iso(T)}&include_broadcast=true`)).json()
    const ref = referenceSummary(events, [], { incidentId: incident, asOfMs: T, includeBroadcast: true })
    expect([s.affected, s.restored, s.waiting_first_contact, s.stale, s.stages]).toEqual([ref.affected, ref.restored, ref.waiting_first_contact, ref.stale, ref.stages])
    expect(s.downtime_s.total).toBeCloseTo(ref.downtime_s.total, 6)
    expect(s.first_contact_latency_s.median).toBeCloseTo(ref.first_contact_latency_s.median!, 6)

    const page = await (await srv.api(`/api/v1/incidents/${incident}/tenants?as_of=${iso(T)}&include_broadcast=true&sort=tenant_id&order=asc&limit=1000`)).json()
    const rows = referenceTenants(events, [], { incidentId: incident, asOfMs: T, includeBroadcast: true })
    expect(page.total).toBe(rows.size)
    for (const r of page.rows) {
      const e = rows.get(r.tenant_id)!
      expect([r.tenant_id, r.state, r.outages, r.downtime_s, r.communications, r.max_comm_gap_s]).toEqual([
        e.tenant_id,
        e.state,
        e.outages,
        e.downtime_ms / 1000,
        e.communications,
        e.max_gap_ms / 1000,
      ])
    }
    expect(page.rows[0].name).toBe('Customer 0')
  })

  it('filters by attributes sent through POST /tenants and weights by a numeric one', async () => {
    const s = await (await srv.api(`/api/v1/incidents/${incident}/summary?as_of=${iso(T)}&attr.tier=enterprise&weight=seats`)).json()
    const ids = new Set(Array.from({ length: 10 }, (_, k) => `cust-${k * 4}`))
    const ref = [...referenceTenants(events, [], { incidentId: incident, asOfMs: T }).values()].filter((r) => ids.has(r.tenant_id))
    const seats = (id: string) => Number(id.slice(5)) * 10
    expect([s.affected, s.restored]).toEqual([ref.length, ref.filter((r) => r.state === 'up').length])
    expect(s.weighted).toEqual({
      weight: 'seats',
      affected: ref.reduce((n, r) => n + seats(r.tenant_id), 0),
      restored: ref.filter((r) => r.state === 'up').reduce((n, r) => n + seats(r.tenant_id), 0),
      recovery_pct: expect.any(Number),
    })
  })

  it('streams an update at connect and after new events, at most once a second', async () => {
    const controller = new AbortController()
    const res = await srv.api(`/api/v1/incidents/${incident}/stream`, { signal: controller.signal, token: TOKENS.read })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = res.body!.getReader()
    const updates: { at: number; affected: number }[] = []
    let buffer = ''
    const pump = (async () => {
      const decoder = new TextDecoder()
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
        if (done) return
        buffer += decoder.decode(value, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          if (!block.includes('event: update')) continue
          const data = block.split('\n').find((l) => l.startsWith('data: '))!.slice(6)
          updates.push({ at: Date.now(), affected: JSON.parse(data).affected })
        }
      }
    })()
    const waitFor = async (cond: () => boolean) => {
      for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50))
    }
    await waitFor(() => updates.length >= 1)
    const before = updates[0]!.affected
    for (let i = 0; i < 3; i++) {
      const e = wire({ ...lost(`late-${i}`, t0 + 30 * H), incident_id: incident })
      const r = await srv.api('/api/v1/events', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: JSON.stringify(e) })
      expect(r.status).toBe(200)
    }
    await waitFor(() => updates.at(-1)!.affected === before + 3)
    await new Promise((r) => setTimeout(r, 1200))
    controller.abort()
    await pump
    expect(updates.at(-1)!.affected).toBe(before + 3)
    // Three commits in quick succession: coalesced, never two updates within a second.
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.at - updates[i - 1]!.at).toBeGreaterThanOrEqual(900)
    expect(updates.length).toBeLessThanOrEqual(3)
  })

  it('needs a read token for queries', async () => {
    expect((await srv.api(`/api/v1/incidents/${incident}/summary`, { token: null })).status).toBe(401)
    expect((await srv.api(`/api/v1/incidents/${incident}/summary`, { token: TOKENS.ingest })).status).toBe(403)
  })
})
