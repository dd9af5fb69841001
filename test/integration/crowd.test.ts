import { statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateIncident } from '../../bench/lib/incident.js'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * Issue "hold up under a crowd": every way a hostile but authorised user stalled, crashed or
 * rewrote Aftermath, provoked through HTTP against the real engine, with the server still
 * serving (a /healthz and an ingest ack answered while the heavy request runs).
 */
const BASE_MS = Date.parse('2022-04-05T07:38:00.000Z')
const AS_OF = new Date(BASE_MS + 10 * 86_400_000).toISOString()
/** 2,000 tenants, 20k events, over 2,000 accounts; and 4,000 tenants with 9,000 broadcasts over 14 days (26M tenant × broadcast pairs up to AS_OF, 36M at the end). */
const CROWD = 'crowd'
const BCAST = 'crowd-bcast'

let srv: TestServer
const config = testConfig({
  queryMaxSeconds: 1,
  queryQueueMs: 400,
  heavyQueries: 2,
  heavyQueriesPerToken: 1,
  streamsPerToken: 3,
  bodyMinBytesPerS: 1000,
  bodyRateGraceMs: 500,
  authFailuresPerMin: 10,
  rateLimitRps: 0,
  queryRateLimitRps: 0,
})

const get = (path: string, token: string = TOKENS.read) => srv.api(path, { token })
const json = async (path: string, token: string = TOKENS.read) => {
  const res = await get(path, token)
  expect(res.status, await res.clone().text()).toBe(200)
  return res.json()
}
const postEvents = (body: string, type = 'application/json') =>
  srv.api('/api/v1/events', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': type }, body })
const readyz = async () => (await get('/readyz')).json() as Promise<{ status: string; queries: { running: Record<string, number>; heavy_requests: number } }>
async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const start = performance.now()
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

beforeAll(async () => {
  srv = await startTestServer(config)
  await generateIncident(srv.store, { incident: CROWD, tenants: 2000, baseMs: BASE_MS, accountValues: 2000, prefix: 'c-' })
  await generateIncident(srv.store, { incident: BCAST, tenants: 4000, baseMs: BASE_MS, broadcasts: 9000, prefix: 'b-' })
  // Derive both incidents before the tests time anything against each other.
  await json(`/api/v1/incidents/${CROWD}/summary?as_of=${AS_OF}`)
})

afterAll(async () => {
  await srv?.stop()
})

describe('bounded reads', () => {
  it('group_by over 2,000 values answers the 50 largest groups, each equal to a count from the events, and refuses more than 500 points per series', async () => {
    const body = await json(`/api/v1/incidents/${CROWD}/recovery?as_of=${AS_OF}&group_by=account`)
    expect(body.series).toHaveLength(50)
    // Independently: affected tenants per account at as_of, from the events and tenant metadata.
    const counts = await srv.store.rows<{ g: string; n: number }>(
      `SELECT t.attributes['account'] AS g, uniqExact(e.tenant_id) AS n
       FROM ${srv.store.db}.events AS e JOIN (SELECT tenant_id, attributes FROM ${srv.store.db}.tenants FINAL) AS t USING (tenant_id)
       WHERE e.incident_id = {i:String} AND e.type = 'access_lost' AND e.occurred_at <= {t:DateTime64(3, 'UTC')}
       GROUP BY g`,
      { i: CROWD, t: AS_OF.replace('T', ' ').replace('Z', '') },
    )
    const byGroup = new Map(counts.map((c) => [c.g, Number(c.n)]))
    const answered = body.series.map((s: { group: string; points: { affected: number }[] }) => [s.group, s.points.at(-1)!.affected])
    for (const [g, n] of answered) expect(n).toBe(byGroup.get(g))
    const smallest = Math.min(...answered.map(([, n]: [string, number]) => n))
    const left = [...byGroup].filter(([g]) => !answered.some(([a]: [string]) => a === g))
    expect(left.length).toBe(byGroup.size - 50)
    for (const [, n] of left) expect(n).toBeLessThanOrEqual(smallest)

    const fine = await get(`/api/v1/incidents/${CROWD}/recovery?as_of=${AS_OF}&group_by=account&bucket=1m`)
    expect(fine.status).toBe(400)
    expect((await fine.json()).error.message).toMatch(/more than 500 points/)
  })

  it('counts broadcasts for a 1,000-row page from one list (not a copy per row): each row equals its direct communications plus the broadcasts since its first loss', async () => {
    const page = await json(`/api/v1/incidents/${BCAST}/tenants?as_of=${AS_OF}&include_broadcast=true&limit=1000&sort=tenant_id`)
    expect(page.rows).toHaveLength(1000)
    // Independently, from the events: direct communications and broadcasts from the first loss to as_of.
    const ids = page.rows.slice(0, 20).map((r: { tenant_id: string }) => r.tenant_id)
    const t = AS_OF.replace('T', ' ').replace('Z', '')
    const [{ b }] = await srv.store.rows<{ b: number[] }>(
      `SELECT groupArray(toUnixTimestamp64Milli(occurred_at)) AS b FROM ${srv.store.db}.events WHERE incident_id = {i:String} AND tenant_id = '' AND type = 'communication' AND occurred_at <= {t:DateTime64(3, 'UTC')}`,
      { i: BCAST, t },
    )
    const perTenant = await srv.store.rows<{ tenant_id: string; fl: number; direct: number[] }>(
      `SELECT tenant_id, minIf(toUnixTimestamp64Milli(occurred_at), type = 'access_lost') AS fl, groupArrayIf(toUnixTimestamp64Milli(occurred_at), type = 'communication') AS direct
       FROM ${srv.store.db}.events WHERE incident_id = {i:String} AND tenant_id IN {ids:Array(String)} AND occurred_at <= {t:DateTime64(3, 'UTC')} GROUP BY tenant_id`,
      { i: BCAST, t, ids },
    )
    const want = new Map(perTenant.map((p) => [p.tenant_id, [...p.direct, ...b].filter((c) => Number(c) >= Number(p.fl)).length]))
    for (const r of page.rows.slice(0, 20)) expect(r.communications).toBe(want.get(r.tenant_id))
  })

  it('refuses with 400 naming the limit a broadcast view whose cost is tenants × broadcasts beyond the bound', async () => {
    // At the end of the incident: 4,000 tenants × 9,000 broadcasts = 36M pairs, over the 30M bound.
    const csv = await get(`/api/v1/incidents/${BCAST}/tenants.csv?include_broadcast=true`)
    const err = (await csv.json()).error
    expect([csv.status, err.code]).toEqual([400, 'too_expensive'])
    expect(err.message).toMatch(/36,000,000 pairs\); at most 30,000,000/)
  })
})

describe('an expensive read against the engine', () => {
  it('a statement over its lane\'s time limit is stopped by ClickHouse itself, not only given up on', async () => {
    const { withLane } = await import('../../server/storage/lanes.js')
    const started = performance.now()
    const err = await withLane('cheap', () => srv.store.rows(`SELECT count() FROM numbers(100000000000) WHERE number % {m:UInt64} = 3`, { m: 7 })).catch((e: unknown) => e)
    expect(err).toMatchObject({ reason: 'time', retryAfterS: 5 })
    // The engine's own error (code 159) came back: the statement is gone, not abandoned.
    expect(performance.now() - started).toBeLessThan(2500)
    const left = await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM system.processes WHERE query LIKE '%numbers(100000000000)%' AND query NOT LIKE '%system.processes%'`)
    expect(Number(left[0]!.n)).toBe(0)
  })

  it('is stopped by the engine\'s limits and refused with 503 + Retry-After, while /healthz, ingest acks and other reads are answered and a waiting cheap read gets 503 + Retry-After', async () => {
    const before = await json(`/api/v1/incidents/${CROWD}/summary?as_of=${AS_OF}`)
    // 4,000 tenants × ~6,400 long gaps between broadcasts (under the pairs bound): seconds of engine time, over the 1 s limit.
    const heavyPath = `/api/v1/incidents/${BCAST}/communications?as_of=${AS_OF}&include_broadcast=true&stale_after=1s`
    const heavy = get(heavyPath)
    // Its long statement is in the engine (a statement without bound parameters runs beside it).
    const runningHeavy = async () =>
      Number((await srv.store.rows<{ n: number }>(`SELECT count() AS n FROM system.processes WHERE query LIKE '%arrayZip(arrayPopBack(a)%' AND query NOT LIKE '%system.processes%'`))[0]!.n)
    await until(async () => (await runningHeavy()) === 1 && (await readyz()).queries.running.heavy === 1, 'the heavy statement to run')
    // A cheap read now waits for the engine: the lane reports it, and it is refused after its short wait.
    const cheap = get(`/api/v1/incidents/${CROWD}/summary?as_of=${AS_OF}&stale_after=2h`)
    let overloaded = false
    const watch = (async () => {
      for (let i = 0; i < 50 && !overloaded; i++) {
        overloaded = (await readyz()).status === 'overloaded'
        await new Promise((r) => setTimeout(r, 10))
      }
    })()
    const [health, secondHeavy] = await Promise.all([fetch(`${srv.url}/healthz`), get(`/api/v1/incidents/${CROWD}/recovery?as_of=${AS_OF}&group_by=tier`)])
    expect(health.status).toBe(200)
    // Same token, already running an expensive read: refused at once.
    expect([secondHeavy.status, (await secondHeavy.json()).error.code, secondHeavy.headers.get('retry-after')]).toEqual([429, 'too_many_concurrent', '1'])
    const refusedCheap = await cheap
    expect([refusedCheap.status, (await refusedCheap.json()).error.code, Number(refusedCheap.headers.get('retry-after'))]).toEqual([503, 'overloaded', 1])
    await watch
    expect(overloaded).toBe(true)
    // An ingest acknowledgement does not wait for the engine either.
    const ack = await postEvents(JSON.stringify({ event_id: 'during-heavy', incident_id: 'crowd-ack', type: 'access_lost', tenant_id: 'x', occurred_at: AS_OF }))
    expect([ack.status, (await ack.json()).accepted]).toEqual([200, 1])

    const res = await heavy
    const err = (await res.json()).error
    expect([res.status, err.code, Number(res.headers.get('retry-after')) > 0]).toEqual([503, 'query_too_expensive', true])
    expect(err.message).toMatch(/AFTERMATH_QUERY_MAX_SECONDS|AFTERMATH_QUERY_MAX_MEMORY_MB/)
    // The engine stops it (it checks its limits between blocks of work: an array-heavy statement
    // like this one is seen stopped 2-3 s past its limit); nothing of it keeps running.
    await until(async () => (await runningHeavy()) === 0, 'the engine to stop the heavy statement', 15_000)
    // And the next reads answer their own figures (a session that failed mid-query is not reused).
    expect(await json(`/api/v1/incidents/${CROWD}/summary?as_of=${AS_OF}`)).toEqual(before)
    expect((await readyz()).status).toBe('ready')
  })
})

describe('live streams', () => {
  const openStream = async (token: string) => {
    const controller = new AbortController()
    const res = await srv.api(`/api/v1/incidents/${CROWD}/stream`, { token, signal: controller.signal })
    return { res, controller }
  }
  const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await get('/metrics')).text())?.[1])

  it('caps streams per token, and computes one summary per change for every stream of a view', async () => {
    const streams = [...(await Promise.all([1, 2, 3].map(() => openStream(TOKENS.read)))), ...(await Promise.all([1, 2].map(() => openStream(TOKENS.admin))))]
    for (const s of streams) expect(s.res.status).toBe(200)
    const fourth = await get(`/api/v1/incidents/${CROWD}/stream`)
    expect([fourth.status, (await fourth.json()).error.code, fourth.headers.get('retry-after')]).toEqual([429, 'too_many_concurrent', '5'])

    const readUpdates = async (s: { res: Response }, count: number) => {
      const reader = s.res.body!.getReader()
      const decoder = new TextDecoder()
      let text = ''
      while ((text.match(/event: update/g) ?? []).length < count) text += decoder.decode((await reader.read()).value, { stream: true })
      reader.releaseLock()
    }
    await Promise.all(streams.map((s) => readUpdates(s, 1)))
    const computed = await metric('aftermath_stream_summaries_computed')
    const ack = await postEvents(JSON.stringify({ event_id: 'stream-1', incident_id: CROWD, type: 'communication', tenant_id: 'c-1', occurred_at: AS_OF }))
    expect(ack.status).toBe(200)
    await Promise.all(streams.map((s) => readUpdates(s, 1)))
    // Five streams, one change: one computation.
    expect((await metric('aftermath_stream_summaries_computed')) - computed).toBe(1)
    for (const s of streams) s.controller.abort()
    await until(async () => (await metric('aftermath_streams_open')) === 0, 'the streams to close')
  })
})

describe('ingest', () => {
  it('decodes a large array body a chunk at a time: a /healthz sent during it is answered first, memory stays bounded, and past 100,000 elements it is refused with 413', async () => {
    // 100,000 invalid events (the most one JSON body may hold), each rejected with its errors counted.
    const n = 100_000
    const body = `[${'{"x":[1,2,3],"y":{"z":"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"}},'.repeat(n - 1)}{}]`
    const rss0 = process.memoryUsage.rss()
    let peak = rss0
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10)
    let bigDone = false
    const big = postEvents(body).then(async (r) => {
      bigDone = true
      return [r.status, await r.json()] as const
    })
    await new Promise((r) => setTimeout(r, 150))
    const health = await fetch(`${srv.url}/healthz`)
    expect(health.status).toBe(200)
    expect(bigDone).toBe(false)
    const [status, out] = await big
    clearInterval(sampler)
    expect([status, out.accepted, out.rejected, out.errors.length]).toEqual([200, 0, n, 100])
    expect(out.errors.slice(0, 3)).toEqual([
      { index: 0, field: 'x', message: expect.stringMatching(/^unknown field/) },
      { index: 0, field: 'y', message: expect.stringMatching(/^unknown field/) },
      { index: 0, field: 'event_id', message: 'is required' },
    ])
    expect((peak - rss0) / 1024 / 1024).toBeLessThan(400)

    // Decoded on a worker thread (over 256 KiB), a malformed large body is the same clear 400.
    const broken = await postEvents(`[${'{"a":1},'.repeat(50_000)}{"a":}]`)
    expect([broken.status, (await broken.json()).error.code]).toEqual([400, 'malformed_json'])
    // 16 MiB of `{}`: 5.6M elements, refused once the 100,001st is reached, nothing kept.
    const huge = await postEvents(`[${'{},'.repeat(Math.floor((16 * 1024 * 1024 - 2) / 3) - 1)}{}]`)
    expect([huge.status, (await huge.json()).error.code]).toEqual([413, 'too_many_elements'])
  })

  it('cuts a body that trickles slower than the minimum rate with 408', async () => {
    const { request } = await import('node:http')
    const url = new URL(`${srv.url}/api/v1/events`)
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${TOKENS.ingest}`, 'content-type': 'application/x-ndjson' } },
        (res) => {
          let text = ''
          res.on('data', (d) => (text += d))
          res.on('end', () => resolve({ status: res.statusCode!, body: text }))
        },
      )
      req.on('error', reject)
      const line = JSON.stringify({ event_id: 'slow', incident_id: 'crowd-slow', type: 'access_lost', tenant_id: 't', occurred_at: AS_OF }) + '\n'
      let i = 0
      const timer = setInterval(() => {
        if (i < line.length && !req.destroyed) req.write(line[i++])
        else clearInterval(timer)
      }, 200)
      req.on('close', () => clearInterval(timer))
    })
    expect(status.status).toBe(408)
    expect(JSON.parse(status.body).error.message).toMatch(/slower than 1000 bytes\/s/)
  })

  it('keeps history: a re-sent event_id with other content changes no figure, and a bare tenant upsert keeps the weight', async () => {
    const incident = 'crowd-history'
    const ev = (id: string, type: string, at: number, extra: Record<string, unknown> = {}) => ({ event_id: id, incident_id: incident, type, tenant_id: 'h-1', occurred_at: new Date(at).toISOString(), ...extra })
    const t0 = BASE_MS
    await srv.api('/api/v1/tenants', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ tenant_id: 'h-1', name: 'History', attributes: { seats: 300, tier: 'gold' } }, { tenant_id: 'h-2', attributes: { seats: 100 } }]) })
    expect((await postEvents(JSON.stringify([ev('lost', 'access_lost', t0), ev('back', 'access_restored', t0 + 33 * 3600_000), { ...ev('lost-2', 'access_lost', t0), tenant_id: 'h-2' }]))).status).toBe(200)
    const asOf = new Date(t0 + 40 * 3600_000).toISOString()
    const view = async () => ({
      summary: await json(`/api/v1/incidents/${incident}/summary?as_of=${asOf}&weight=seats`),
      row: (await json(`/api/v1/incidents/${incident}/tenants/h-1/timeline?as_of=${asOf}`)).row,
    })
    const before = await view()
    expect(before.row.downtime_s).toBe(33 * 3600)
    expect(before.summary.weighted).toEqual({ weight: 'seats', affected: 400, restored: 300, recovery_pct: 75 })
    // The same event ids again, with other times and types: the first accepted copies stay.
    const resent = await postEvents(JSON.stringify([ev('back', 'access_restored', t0 + 61_000), ev('lost', 'communication', t0 + 1000, { channel: 'email' })]))
    expect([resent.status, (await resent.json()).accepted]).toEqual([200, 2])
    // A bare record of the weighted tenant.
    await srv.api('/api/v1/tenants', { method: 'POST', token: TOKENS.ingest, headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ tenant_id: 'h-1' }]) })
    expect(await view()).toEqual(before)
  })
})

describe('doors', () => {
  it('keeps the data directory and the spool private', () => {
    expect(statSync(config.dataDir).mode & 0o777).toBe(0o700)
    expect(statSync(join(config.dataDir, 'spool')).mode & 0o777).toBe(0o700)
  })

  it('refuses a timestamp that rolls over (as_of=2022-02-30) as event times are', async () => {
    const res = await get(`/api/v1/incidents/${CROWD}/summary?as_of=2022-02-30T00:00:00Z`)
    expect(res.status).toBe(400)
    expect((await res.json()).error.message).toMatch(/as_of has an invalid day 30 for month 02/)
  })

  // Last: it blocks every request with a token from this address for a while.
  it('throttles failed authentications per client address: 429 + Retry-After once they are used up, even for a valid token', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) statuses.push((await get(`/api/v1/incidents`, `wrong-token-${i}-${'x'.repeat(32)}`)).status)
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429])
    const valid = await get('/api/v1/incidents')
    expect([valid.status, (await valid.json()).error.code, Number(valid.headers.get('retry-after')) > 0]).toEqual([429, 'too_many_failed_auth', true])
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200)
  })
})
