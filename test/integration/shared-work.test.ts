import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStateSync, type StateSync } from '../../server/metrics/state-sync.js'
import type { Store } from '../../server/storage/client.js'
import { openLease } from '../../server/storage/lease.js'
import { openTestStore } from '../helpers/db.js'
import { insertEvents, lost, restored } from '../helpers/factories.js'

/**
 * SPEC §9 "derived state is computed once": the shared-work lease and the state sync of servers
 * that do not hold it, in one process (two syncs and two leases on one database stand for two
 * servers; test/remote runs real separate servers).
 */
const log = pino({ level: 'silent' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const BASE = Date.parse('2022-04-05T07:00:00Z')
const H = 3_600_000

describe('shared work across servers on one database', () => {
  let store: Store
  let cleanup: () => Promise<void>
  beforeAll(async () => {
    ;({ store, cleanup } = await openTestStore())
  })
  afterAll(async () => {
    await cleanup()
  })

  it('one lease holder at a time; a release hands over at once, a dead holder after its TTL', async () => {
    const opts = { ttlMs: 1500, renewMs: 300 }
    const kills = { a: new AbortController(), b: new AbortController(), c: new AbortController() }
    const a = await openLease(store, 'lease-test', log, { ...opts, holder: 'a', signal: kills.a.signal })
    const b = await openLease(store, 'lease-test', log, { ...opts, holder: 'b', signal: kills.b.signal })
    const c = await openLease(store, 'lease-test', log, { ...opts, holder: 'c', signal: kills.c.signal })
    expect([a.held, b.held, c.held]).toEqual([true, false, false])
    // Several renewal rounds later, still exactly one holder.
    await sleep(1000)
    expect([a.held, b.held, c.held].filter(Boolean)).toHaveLength(1)
    expect(a.held).toBe(true)

    // A clean stop gives the lease up: the next check of another server takes it.
    await a.close()
    expect(a.held).toBe(false)
    await Promise.all([b.check(), c.check()])
    expect([b.held, c.held].filter(Boolean)).toHaveLength(1)
    const [holder, other] = b.held ? [b, c] : [c, b]

    // A holder that stops renewing (a killed process) keeps the lease until its TTL runs out.
    kills[holder.holder as 'b' | 'c'].abort()
    const rows = await store.rows<{ holder: string; expires_ms: number }>(`SELECT holder, expires_ms FROM ${store.db}.leases FINAL WHERE name = 'lease-test'`)
    expect(rows[0]!.holder).toBe(holder.holder)
    await other.check()
    expect(other.held).toBe(false)
    const until = Number(rows[0]!.expires_ms)
    while (Date.now() <= until + 50) await sleep(100)
    expect(await other.check()).toBe(true)
    await other.close()
  }, 30_000)

  it('only the holder derives; another server waits for its derivation, hears of the change, and takes over when it dies', async () => {
    const opts = { ttlMs: 1500, renewMs: 300 }
    const killA = new AbortController()
    const leaseA = await openLease(store, 'shared-work', log, { ...opts, holder: 'server-a', signal: killA.signal })
    const leaseB = await openLease(store, 'shared-work', log, { ...opts, holder: 'server-b' })
    expect([leaseA.held, leaseB.held]).toEqual([true, false])
    const a: StateSync = await createStateSync({ store, log, lease: leaseA })
    const b: StateSync = await createStateSync({ store, log, lease: leaseB })
    const heardByB: string[] = []
    b.onChange((ids) => heardByB.push(...ids))

    const inc = 'shared-1'
    await insertEvents(store, [lost('t1', BASE, { incident_id: inc }), lost('t2', BASE + H, { incident_id: inc })])
    // B does not derive; its fresh() returns once A has (A looks every FOLLOW_MS).
    await b.fresh(inc)
    // Two tenants, derived once: two rows even before any merge (a second derivation would add two).
    const [rows] = await store.rows<{ n: number }>(`SELECT count() AS n FROM ${store.db}.tenant_state WHERE incident_id = {i:String}`, { i: inc })
    expect(Number(rows!.n)).toBe(2)
    expect(heardByB).toContain(inc)

    // Kill A (its sync and lease stop, nothing given up): B takes the lease after the TTL and derives.
    killA.abort()
    await a.close()
    const inc2 = 'shared-2'
    await insertEvents(store, [lost('t3', BASE, { incident_id: inc2 }), restored('t3', BASE + H, { incident_id: inc2 })])
    const deadline = Date.now() + 10_000
    while (!leaseB.held && Date.now() < deadline) await sleep(100)
    expect(leaseB.held).toBe(true)
    await b.fresh(inc2)
    // inc2 was written by other means than through B, so fresh() does not wait for it (such writes
    // are looked for at most every EXTERNAL_CHECK_MS, and a query does not wait for a running sync
    // that does not cover its incident): B derives it in its take-over sync or its next look.
    const derivedRows = async () =>
      Number((await store.rows<{ n: number }>(`SELECT count() AS n FROM ${store.db}.tenant_state FINAL WHERE incident_id = {i:String}`, { i: inc2 }))[0]!.n)
    await expect.poll(derivedRows, { timeout: 10_000 }).toBe(1)
    await b.close()
    await leaseB.close()
  }, 30_000)
})
