import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * Admission control for ClickHouse statements ("every request has a bounded cost", SPEC §4).
 *
 * Every statement runs in a lane, taken from the async context of the work that issues it:
 *   cheap     reads the dashboard opens with (default views, a page, a timeline): small and
 *             frequent; they wait at most `cheapQueueMs` for the engine, else QueryRefused(busy)
 *   heavy     reads whose cost grows with their parameters (group_by, include_broadcast, exports,
 *             the report): admitted a few requests at a time (HeavyAdmission), each statement
 *             queued at most `heavyQueueMs`
 *   internal  the server's own work (deriving tenant_state, building incident logs, migrations,
 *             metadata writes): never refused; the default outside a request
 * Each lane has its own engine limits (time with cancellation inside ClickHouse, memory, result
 * size: see storage/store.ts), so an overrun is stopped by the engine, not only abandoned by a
 * JS timer.
 *
 * The embedded engine runs statements with bound parameters one at a time across the process
 * (chdb serializes them; a rejected promise does not stop the statement underneath). So the gate
 * hands the engine one such statement at a time itself, choosing the next by lane: a cheap
 * statement gets ahead of a heavy one that has waited less than CHEAP_HEAD_START_MS longer, so
 * cheap reads do not queue behind expensive ones, and nothing waits forever.
 */
export type Lane = 'cheap' | 'heavy' | 'internal'
export const LANES: readonly Lane[] = ['cheap', 'heavy', 'internal']

/** Why a statement or request was not run. Storage speaks no HTTP: routes and errors.ts map it. */
export type RefusalReason = 'busy' | 'token_busy' | 'time' | 'memory' | 'result'

export class QueryRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
    /** Seconds after which the same request may succeed. */
    readonly retryAfterS: number,
  ) {
    super(message)
  }
}

const context = new AsyncLocalStorage<Lane>()

/** Run `fn` with every statement it issues (directly or through awaited helpers) in `lane`. */
export function withLane<T>(lane: Lane, fn: () => T): T {
  return context.run(lane, fn)
}

/** The lane of the calling async context; the server's own work outside a request is internal. */
export function currentLane(): Lane {
  return context.getStore() ?? 'internal'
}

/** A cheap statement is preferred to a waiting heavy or internal one unless that one has waited this much longer (ms). */
const HEAD_START_MS: Record<Lane, number> = { cheap: 1000, internal: 500, heavy: 0 }

export interface GateOptions {
  /** Statements with bound parameters run at once (embedded: 1, as chdb runs them anyway). */
  slots: number
  /** Longest wait for the engine, per lane (ms); Infinity = no limit. */
  queueMs: Record<Lane, number>
}

interface Waiter {
  lane: Lane
  since: number
  start(): void
  refuse(err: QueryRefused): void
}

export interface GateStats {
  running: number
  /** Statements running, per lane. */
  runningByLane: Record<Lane, number>
  queued: Record<Lane, number>
  /** How long the oldest waiting statement of each lane has waited (ms; 0 when none waits). */
  oldestWaitMs: Record<Lane, number>
}

/** Hands statements to the engine a few at a time, the next chosen by lane and waiting time. */
export class EngineGate {
  private running = 0
  private readonly runningByLane: Record<Lane, number> = { cheap: 0, heavy: 0, internal: 0 }
  private readonly queues: Record<Lane, Waiter[]> = { cheap: [], heavy: [], internal: [] }

  constructor(private readonly opts: GateOptions) {}

  /** Run `fn` once the engine has room for it, in the current lane. */
  async run<T>(fn: () => Promise<T>, lane: Lane = currentLane()): Promise<T> {
    return this.runHeld(() => {
      const result = fn()
      return { result, settled: result.then(() => {}, () => {}) }
    }, lane)
  }

  /**
   * Like run, for an operation whose caller may be answered (a deadline) before the engine is
   * done with it: its place is kept until `settled`, so the next statement never runs beside
   * one the engine is still executing (chdb would queue it behind, outside of our lanes).
   */
  async runHeld<T>(fn: () => { result: Promise<T>; settled: Promise<unknown> }, lane: Lane = currentLane()): Promise<T> {
    await this.acquire(lane)
    this.runningByLane[lane]++
    let op: { result: Promise<T>; settled: Promise<unknown> }
    try {
      op = fn()
    } catch (err) {
      this.release(lane)
      throw err
    }
    void op.settled.finally(() => this.release(lane))
    return op.result
  }

  private release(lane: Lane) {
    this.runningByLane[lane]--
    this.running--
    this.next()
  }

  stats(): GateStats {
    const now = performance.now()
    const queued = { cheap: 0, heavy: 0, internal: 0 }
    const oldestWaitMs = { cheap: 0, heavy: 0, internal: 0 }
    for (const lane of LANES) {
      queued[lane] = this.queues[lane].length
      const head = this.queues[lane][0]
      oldestWaitMs[lane] = head ? Math.round(now - head.since) : 0
    }
    return { running: this.running, runningByLane: { ...this.runningByLane }, queued, oldestWaitMs }
  }

  private acquire(lane: Lane): Promise<void> {
    if (this.running < this.opts.slots && LANES.every((l) => this.queues[l].length === 0)) {
      this.running++
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const limit = this.opts.queueMs[lane]
      let timer: NodeJS.Timeout | undefined
      const w: Waiter = {
        lane,
        since: performance.now(),
        start: () => {
          clearTimeout(timer)
          resolve()
        },
        refuse: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      }
      if (Number.isFinite(limit)) {
        timer = setTimeout(() => {
          const q = this.queues[lane]
          const i = q.indexOf(w)
          if (i < 0) return
          q.splice(i, 1)
          w.refuse(new QueryRefused('busy', `the query engine is busy: this ${lane} read waited ${Math.round(limit)} ms for it; retry shortly`, 1))
        }, limit)
        timer.unref()
      }
      this.queues[lane].push(w)
      this.next()
    })
  }

  private next() {
    while (this.running < this.opts.slots) {
      const now = performance.now()
      let pick: Lane | null = null
      let best = -Infinity
      for (const lane of LANES) {
        const head = this.queues[lane][0]
        if (!head) continue
        const score = now - head.since + HEAD_START_MS[lane]
        if (score > best) {
          best = score
          pick = lane
        }
      }
      if (!pick) return
      this.running++
      this.queues[pick].shift()!.start()
    }
  }
}

/**
 * Heavy requests admitted at once, in total and per token: the rest are refused at once
 * (QueryRefused busy → 503, token_busy → 429), so a crowd of expensive readers cannot fill the
 * engine's queue and memory.
 */
export class HeavyAdmission {
  private total = 0
  private readonly perOwner = new Map<string, number>()

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerOwner: number,
  ) {}

  /** Take a permit for `owner` (a token's digest) or throw QueryRefused; call the returned release once done. */
  admit(owner: string): () => void {
    const mine = this.perOwner.get(owner) ?? 0
    if (mine >= this.maxPerOwner) {
      throw new QueryRefused('token_busy', `this token already runs ${mine} expensive read(s) (group_by, include_broadcast, exports, report); at most ${this.maxPerOwner} at once`, 1)
    }
    if (this.total >= this.maxTotal) {
      throw new QueryRefused('busy', `${this.total} expensive reads are running; at most ${this.maxTotal} at once: retry shortly`, 2)
    }
    this.total++
    this.perOwner.set(owner, mine + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const n = (this.perOwner.get(owner) ?? 1) - 1
      if (n <= 0) this.perOwner.delete(owner)
      else this.perOwner.set(owner, n)
    }
  }

  get running(): number {
    return this.total
  }
}
