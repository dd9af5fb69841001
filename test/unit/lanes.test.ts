import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { StreamHub } from '../../server/routes/stream.js'
import { currentLane, EngineGate, HeavyAdmission, QueryRefused, withLane, type Lane } from '../../server/storage/lanes.js'

/** A statement that runs until released, recording when it started. */
function latch() {
  let release!: () => void
  const done = new Promise<void>((r) => (release = r))
  return { done, release }
}

describe('EngineGate', () => {
  it('hands the engine one statement at a time and lets a waiting cheap read ahead of heavy ones queued before it', async () => {
    const gate = new EngineGate({ slots: 1, queueMs: { cheap: 5000, heavy: 5000, internal: Infinity } })
    const started: string[] = []
    const first = latch()
    const run = (name: string, lane: Lane, until: Promise<void> = Promise.resolve()) =>
      gate.run(async () => {
        started.push(name)
        await until
        return name
      }, lane)
    const a = run('heavy-1', 'heavy', first.done)
    const b = run('heavy-2', 'heavy')
    const c = run('heavy-3', 'heavy')
    const d = run('cheap', 'cheap')
    await new Promise((r) => setTimeout(r, 10))
    expect(started).toEqual(['heavy-1'])
    expect(gate.stats().queued).toEqual({ cheap: 1, heavy: 2, internal: 0 })
    first.release()
    await Promise.all([a, b, c, d])
    expect(started).toEqual(['heavy-1', 'cheap', 'heavy-2', 'heavy-3'])
  })

  it('lets a heavy statement go first once it has waited longer than a cheap one by more than the head start', async () => {
    const gate = new EngineGate({ slots: 1, queueMs: { cheap: 5000, heavy: 5000, internal: Infinity } })
    const started: string[] = []
    const first = latch()
    const a = gate.run(async () => first.done, 'internal')
    const heavy = gate.run(async () => void started.push('heavy'), 'heavy')
    await new Promise((r) => setTimeout(r, 1100))
    const cheap = gate.run(async () => void started.push('cheap'), 'cheap')
    first.release()
    await Promise.all([a, heavy, cheap])
    expect(started).toEqual(['heavy', 'cheap'])
  })

  it('refuses a cheap read that waits longer than its limit, with a reason and a retry hint, and the engine serves the next one', async () => {
    const gate = new EngineGate({ slots: 1, queueMs: { cheap: 50, heavy: 5000, internal: Infinity } })
    const first = latch()
    const busy = gate.run(async () => first.done, 'heavy')
    const refused = await gate.run(async () => 'ran', 'cheap').catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(QueryRefused)
    expect([(refused as QueryRefused).reason, (refused as QueryRefused).retryAfterS]).toEqual(['busy', 1])
    expect(gate.stats().queued.cheap).toBe(0)
    first.release()
    await busy
    expect(await gate.run(async () => 'ran', 'cheap')).toBe('ran')
  })

  it('reports how long the oldest statement of each lane has waited', async () => {
    const gate = new EngineGate({ slots: 1, queueMs: { cheap: 5000, heavy: 5000, internal: Infinity } })
    const first = latch()
    const busy = gate.run(async () => first.done, 'internal')
    const waiting = gate.run(async () => undefined, 'cheap')
    await new Promise((r) => setTimeout(r, 60))
    const s = gate.stats()
    expect(s.running).toBe(1)
    expect(s.oldestWaitMs.cheap).toBeGreaterThanOrEqual(50)
    expect(s.oldestWaitMs.heavy).toBe(0)
    first.release()
    await Promise.all([busy, waiting])
    expect(gate.stats()).toEqual({ running: 0, runningByLane: { cheap: 0, heavy: 0, internal: 0 }, queued: { cheap: 0, heavy: 0, internal: 0 }, oldestWaitMs: { cheap: 0, heavy: 0, internal: 0 } })
  })

  it('takes the lane from the async context of the caller (internal outside a request)', async () => {
    expect(currentLane()).toBe('internal')
    const seen = await withLane('heavy', async () => {
      await new Promise((r) => setTimeout(r, 1))
      return [currentLane(), await withLane('cheap', async () => currentLane())]
    })
    expect(seen).toEqual(['heavy', 'cheap'])
  })
})

describe('HeavyAdmission', () => {
  it('admits a few expensive reads in all and per token; beyond, 429-worthy for the token, 503-worthy for everyone', () => {
    const heavy = new HeavyAdmission(2, 1)
    const a = heavy.admit('token-a')
    const again = (() => {
      try {
        heavy.admit('token-a')
      } catch (e) {
        return e as QueryRefused
      }
    })()
    expect(again?.reason).toBe('token_busy')
    const b = heavy.admit('token-b')
    const third = (() => {
      try {
        heavy.admit('token-c')
      } catch (e) {
        return e as QueryRefused
      }
    })()
    expect(third?.reason).toBe('busy')
    a()
    a() // releasing twice frees one permit only
    expect(heavy.running).toBe(1)
    heavy.admit('token-c')()
    b()
    expect(heavy.running).toBe(0)
  })
})

/** A response that records writes and never drains: its unread bytes grow like a client that does not read. */
class FakeResponse extends EventEmitter {
  writes: string[] = []
  writableLength = 0
  writableEnded = false
  destroyed = false
  status() {
    return this
  }
  set() {
    return this
  }
  flushHeaders() {}
  write(s: string) {
    this.writes.push(s)
    this.writableLength += Buffer.byteLength(s)
    return false
  }
  end() {
    this.writableEnded = true
  }
  destroy() {
    this.destroyed = true
    this.emit('close')
  }
}

describe('StreamHub', () => {
  const scope = { incidentId: 'inc', filters: [], includeBroadcast: false }
  const params = { staleAfterMs: 86_400_000 }
  function hub(limits = { total: 10, perToken: 3, bufferBytes: 1000 }) {
    let listener: (ids: Set<string>) => void = () => {}
    let computed = 0
    const h = new StreamHub({
      summary: async () => ({ n: ++computed, pad: 'x'.repeat(400) }),
      onChange: (l) => {
        listener = l
        return () => {}
      },
      now: () => new Date(),
      log: pino({ level: 'silent' }),
      limits,
    })
    return { h, change: (id: string) => listener(new Set([id])), computed: () => computed }
  }
  const open = (h: StreamHub, token: string) => {
    const req = new EventEmitter()
    const res = new FakeResponse()
    h.subscribe(req as never, res as never, token, scope, params)
    return res
  }
  const updates = (res: FakeResponse) => res.writes.filter((w) => w.startsWith('event: update'))

  it('computes a view once per change for every stream watching it', async () => {
    const { h, change, computed } = hub({ total: 10, perToken: 10, bufferBytes: 1 << 20 })
    const streams = Array.from({ length: 5 }, (_, i) => open(h, `t${i}`))
    await new Promise((r) => setTimeout(r, 20))
    expect(computed()).toBe(1)
    change('inc')
    change('other') // another incident: nothing
    await new Promise((r) => setTimeout(r, 1100))
    expect(computed()).toBe(2)
    for (const s of streams) expect(updates(s).map((u) => JSON.parse(u.split('data: ')[1]!).n)).toEqual([1, 2])
    h.close()
  })

  it('caps streams per token and in total, refusing before anything is written', () => {
    const { h } = hub({ total: 4, perToken: 2, bufferBytes: 1 << 20 })
    open(h, 'a')
    open(h, 'a')
    expect(() => open(h, 'a')).toThrow(expect.objectContaining({ reason: 'token_busy' }))
    open(h, 'b')
    open(h, 'c')
    expect(() => open(h, 'd')).toThrow(expect.objectContaining({ reason: 'busy' }))
    expect(h.streams).toBe(4)
    h.close()
  })

  it('drops a client that stops reading once its unread bytes pass the limit, and frees its place', async () => {
    const { h, change } = hub({ total: 10, perToken: 1, bufferBytes: 1000 })
    const res = open(h, 'a')
    for (let i = 0; i < 4 && !res.destroyed; i++) {
      change('inc')
      await new Promise((r) => setTimeout(r, 1050))
    }
    expect(res.destroyed).toBe(true)
    expect(h.dropped).toBe(1)
    expect(h.streams).toBe(0)
    open(h, 'a') // the token's place is free again
    h.close()
  })
})
