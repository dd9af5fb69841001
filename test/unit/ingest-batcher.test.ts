import { describe, expect, it } from 'vitest'
import { Batcher, deserializeEvents, serializeEvents, type Batch } from '../../server/ingest/batcher.js'
import type { EventRow } from '../../server/ingest/types.js'

const row = (id: string, incident = 'inc-1'): EventRow => ({
  incident_id: incident,
  tenant_id: 't',
  event_id: id,
  type: 'access_lost',
  occurred_at: '2022-04-05 07:38:00.000',
  progress: null,
  channel: '',
  label: '',
  message: '',
})
const ids = (b: Batch) => deserializeEvents(b.body).map((e) => e.event_id)

describe('Batcher (group commit)', () => {
  it('writes at once when nothing is being written; submissions arriving meanwhile share the next write', async () => {
    const writes: Batch[] = []
    const b = new Batcher({
      flushMaxEvents: 1000,
      flushIntervalMs: 10_000,
      write: async (batch) => {
        writes.push(batch)
        await new Promise((r) => setTimeout(r, 10))
      },
    })
    const first = b.submit([row('a')])
    await new Promise((r) => setTimeout(r, 1))
    expect(writes.map(ids)).toEqual([['a']]) // not held for the 10 s interval
    await Promise.all([first, b.submit([row('b'), row('c')]), b.submit([row('d', 'inc-2')])])
    expect(writes.map(ids)).toEqual([['a'], ['b', 'c', 'd']])
    expect(writes[1]!.rows).toBe(3)
    expect([...writes[1]!.incidents]).toEqual(['inc-1', 'inc-2'])
  })

  it('with a write in flight and a second slot free, waits for the interval before using it', async () => {
    const started: number[] = []
    const t0 = performance.now()
    const b = new Batcher({
      flushMaxEvents: 1000,
      flushIntervalMs: 40,
      maxConcurrentWrites: 2,
      write: async () => {
        started.push(performance.now() - t0)
        await new Promise((r) => setTimeout(r, 200))
      },
    })
    await Promise.all([b.submit([row('a')]), b.submit([row('b')])])
    expect(started).toHaveLength(2)
    expect(started[0]).toBeLessThan(20)
    expect(started[1]).toBeGreaterThanOrEqual(38)
    expect(started[1]).toBeLessThan(190) // not after the first write ended
  })

  it('cuts a batch at flushMaxEvents without splitting a submission, and queues while a write runs', async () => {
    const writes: string[][] = []
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const b = new Batcher({
      flushMaxEvents: 3,
      flushIntervalMs: 10_000,
      write: async (batch) => {
        writes.push(ids(batch))
        if (writes.length === 1) await gate
      },
    })
    const p1 = b.submit([row('a'), row('b'), row('c')]) // full: written at once
    const p2 = b.submit([row('d'), row('e')])
    const p3 = b.submit([row('f'), row('g')]) // would exceed 3 with d,e: next batch
    const p4 = b.submit([row('h'), row('i'), row('j'), row('k')]) // larger than the limit: alone
    await new Promise((r) => setTimeout(r, 20))
    expect(writes).toEqual([['a', 'b', 'c']]) // one write in flight; the rest wait
    release()
    await Promise.all([p1, p2, p3, p4])
    expect(writes).toEqual([['a', 'b', 'c'], ['d', 'e'], ['f', 'g'], ['h', 'i', 'j', 'k']])
  })

  it('runs up to maxConcurrentWrites writes at once and queues the rest', async () => {
    let running = 0
    let peak = 0
    const writes: string[][] = []
    const b = new Batcher({
      flushMaxEvents: 1,
      flushIntervalMs: 0,
      maxConcurrentWrites: 2,
      write: async (batch) => {
        running++
        peak = Math.max(peak, running)
        writes.push(ids(batch))
        await new Promise((r) => setTimeout(r, 10))
        running--
      },
    })
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => b.submit([row(id)])))
    expect(peak).toBe(2)
    expect(writes).toEqual([['a'], ['b'], ['c'], ['d'], ['e']])
  })

  it('rejects every submission of a failed write, and later ones still go through', async () => {
    let fail = true
    const b = new Batcher({
      flushMaxEvents: 100,
      flushIntervalMs: 5,
      write: async () => {
        if (fail) throw new Error('boom')
      },
    })
    const results = await Promise.allSettled([b.submit([row('a')]), b.submit([row('b')])])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    fail = false
    await expect(b.submit([row('c')])).resolves.toBeUndefined()
  })

  it('flushes everything queued on close, then refuses new submissions with 503', async () => {
    const writes: string[][] = []
    const b = new Batcher({ flushMaxEvents: 1000, flushIntervalMs: 60_000, write: async (batch) => void writes.push(ids(batch)) })
    const p = b.submit([row('a')])
    await b.close()
    await p
    expect(writes).toEqual([['a']])
    await expect(b.submit([row('b')])).rejects.toMatchObject({ status: 503 })
  })
})

describe('serializeEvents', () => {
  it('serializes rows as one JSON array per line that reads back to the same rows, escaping text', () => {
    const rows = [row('x'), { ...row('"quoted"\n🏢'), type: 'restore_progress' as const, progress: 0.125, message: 'a\\b\u2028' }]
    const received = Date.UTC(2026, 0, 2, 3, 4, 5, 6)
    const body = serializeEvents(rows, received)
    const lines = body.toString('utf8').split('\n')
    expect(lines.at(-1)).toBe('')
    expect(lines.slice(0, -1).map((l: string) => Array.isArray(JSON.parse(l)))).toEqual([true, true])
    // Each row stamped as accepted at `received`, with consecutive seqs in row order (the first copy wins by them).
    const back = deserializeEvents(body)
    expect(back.map(({ received_at: _r, seq: _s, ...e }) => e)).toEqual(rows)
    expect(back.map((e) => e.received_at)).toEqual(['2026-01-02 03:04:05.006', '2026-01-02 03:04:05.006'])
    expect(back[1]!.seq).toBe(back[0]!.seq + 1)
    expect(back[0]!.seq).toBeGreaterThanOrEqual(received * 1000)
  })
})
