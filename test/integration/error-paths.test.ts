import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { boot, type Running } from '../../server/boot.js'
import { LOG_QUIET_MS } from '../../server/metrics/caches.js'
import type { Store } from '../../server/storage/client.js'
import { removeDataDir, testConfig, TOKENS } from '../helpers/db.js'
import { comm, insertEvents, lost, restored } from '../helpers/factories.js'

/**
 * Failures inside the server's own read paths, injected at the storage boundary: the incident
 * log's RowBinary read failing or arriving cut short, and a CSV export whose stream breaks
 * after its headers are out. None may leave a wrong figure behind or stop the server serving.
 */
const config = testConfig({ incidentLog: 'auto' })
const incident = 'faults-1'
const BASE = Date.parse('2022-04-05T07:00:00Z')
const H = 3_600_000
const asOf = new Date(BASE + 30 * H).toISOString()

type Fault = 'none' | 'log fails' | 'log truncated' | 'csv breaks'
let fault: Fault = 'none'
let running: Running
/** Incident log reads (RowBinary) by outcome. */
const logReads = { failed: 0, truncated: 0, whole: 0 }

/** The real store, except for the one read the current fault aims at. */
const wrapStore = (store: Store): Store => ({
  ...store,
  rows: (sql, params) => store.rows(sql, params),
  async stream(sql, params, format) {
    if (format === 'RowBinary' && fault === 'log fails') {
      logReads.failed++
      throw new Error('injected: the incident log read failed')
    }
    const real = await store.stream(sql, params, format)
    if (format === 'RowBinary' && fault === 'log truncated') {
      const chunks: Buffer[] = []
      for await (const c of real) chunks.push(c as Buffer)
      const whole = Buffer.concat(chunks)
      logReads.truncated++
      return Readable.from([whole.subarray(0, Math.floor(whole.length / 2))])
    }
    if (format === 'RowBinary') logReads.whole++
    if (format === 'CSVWithNames' && fault === 'csv breaks') {
      const first = (await real[Symbol.asyncIterator]().next()).value as Buffer
      return new Readable({
        read() {
          this.push(first.subarray(0, 200))
          this.destroy(new Error('injected: the CSV stream broke'))
        },
      })
    }
    return real
  },
})

async function get(path: string) {
  const res = await fetch(running.url + path, { headers: { authorization: `Bearer ${TOKENS.read}` } })
  return { status: res.status, body: await res.text() }
}
const recovery = () => get(`/api/v1/incidents/${incident}/recovery?as_of=${asOf}&bucket=1h`)
const quiet = () => new Promise((r) => setTimeout(r, LOG_QUIET_MS + 300))

beforeAll(async () => {
  running = await boot(config, { wrapStore })
  const events = []
  for (let t = 0; t < 300; t++) {
    events.push(lost(`t${t}`, BASE + t * 60_000), comm(`t${t}`, BASE + H + t * 30_000))
    if (t % 3) events.push(restored(`t${t}`, BASE + (2 + (t % 20)) * H))
  }
  await insertEvents(running.store, events.map((e) => ({ ...e, incident_id: incident })))
})
afterAll(async () => {
  await running.close()
  removeDataDir(config.dataDir)
})

describe('the incident log cannot be built', () => {
  it('auto: answers from ClickHouse with the figures the log gives once it can be built', async () => {
    fault = 'log fails'
    const computed = await recovery() // derives; the incident has just changed: computed in ClickHouse
    await quiet()
    const whileFailing = await recovery() // starts a build, which fails; this answer is computed
    await new Promise((r) => setTimeout(r, 200))
    const afterFailure = await recovery() // the failed build was not kept: computed again
    fault = 'none'
    await recovery() // starts a build that succeeds
    await new Promise((r) => setTimeout(r, 500))
    const fromLog = await recovery()
    for (const r of [computed, whileFailing, afterFailure, fromLog]) expect(r.status).toBe(200)
    // A build was tried and failed (not kept: it was tried again), then one succeeded.
    expect(logReads.failed).toBeGreaterThanOrEqual(2)
    expect(logReads.whole).toBe(1)
    expect(JSON.parse(computed.body).series[0].points.length).toBeGreaterThan(10)
    expect([whileFailing.body, afterFailure.body, fromLog.body]).toEqual([computed.body, computed.body, computed.body])
  })

  it('always: a log read cut short fails that request with a plain 500 (no stack, no partial figures), and the next one is served', async () => {
    config.incidentLog = 'always'
    try {
      const good = await recovery()
      // A change of the incident makes the next request build its log again, from a truncated read.
      await insertEvents(running.store, [{ ...comm('t1', BASE + 2 * H), incident_id: incident }])
      fault = 'log truncated'
      const cut = await recovery()
      expect(logReads.truncated).toBe(1)
      expect(cut.status).toBe(500)
      expect(JSON.parse(cut.body)).toEqual({ error: { code: 'internal', message: 'internal error' } })
      fault = 'none'
      const again = await recovery()
      expect(again.status).toBe(200)
      // The added communication changes no recovery figure: the same series as before.
      expect(again.body).toBe(good.body)
    } finally {
      config.incidentLog = 'auto'
      fault = 'none'
    }
  })
})

describe('a CSV export whose stream breaks after the headers are sent', () => {
  it('is cut short, never completed with wrong rows, and the server keeps serving', async () => {
    const whole = await get(`/api/v1/incidents/${incident}/tenants.csv?as_of=${asOf}`)
    expect(whole.status).toBe(200)
    expect(whole.body.trimEnd().split('\n')).toHaveLength(301)
    fault = 'csv breaks'
    // The connection is reset: the download fails (before or while reading the body) rather than ending as if complete.
    const outcome = await fetch(`${running.url}/api/v1/incidents/${incident}/tenants.csv?as_of=${asOf}`, {
      headers: { authorization: `Bearer ${TOKENS.read}` },
    })
      .then((res) => res.text())
      .then(
        () => 'completed',
        () => 'cut short',
      )
    expect(outcome).toBe('cut short')
    fault = 'none'
    expect((await get(`/api/v1/incidents/${incident}/summary?as_of=${asOf}`)).status).toBe(200)
  })
})
