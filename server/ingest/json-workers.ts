import { Worker } from 'node:worker_threads'
import type { ValidatedEvents } from './events.js'
import { fromPlain, validateJsonEvents, type JsonEventsFormat, type PlainBadInput } from './json-events.js'

/** Bodies up to this size are decoded on the event loop (a few ms); larger ones on a worker thread. */
export const INLINE_JSON_BYTES = 256 * 1024

type Reply = { ok?: ValidatedEvents; badInput?: PlainBadInput; failure?: string }
interface Thread {
  worker: Worker
  current: { resolve(v: ValidatedEvents): void; reject(e: unknown): void } | null
  dead: boolean
}

/**
 * Worker threads that decode and validate large JSON events bodies, so a 16 MiB body never
 * holds the event loop (/healthz, acknowledgements, every other request) for the hundreds of
 * milliseconds its parsing and validation take. One body per thread at a time; as many threads
 * as large bodies are decoded at once (AFTERMATH_LARGE_BODIES permits, taken before a body gets
 * here); started on first use, replaced if one dies.
 */
export class JsonWorkers {
  private readonly idle: Thread[] = []
  private readonly all = new Set<Thread>()

  async validate(buf: Buffer, format: JsonEventsFormat, nowMs: number): Promise<ValidatedEvents> {
    if (buf.length <= INLINE_JSON_BYTES) return validateJsonEvents(buf, format, nowMs)
    const thread = this.idle.pop() ?? this.start()
    try {
      return await new Promise<ValidatedEvents>((resolve, reject) => {
        thread.current = { resolve, reject }
        // Handed over without a copy when the body owns its memory (a large Buffer.concat does);
        // otherwise a copy, since the memory is shared with others.
        const owned = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer
        const bytes = owned ? new Uint8Array(buf.buffer) : new Uint8Array(buf)
        thread.worker.postMessage({ buf: bytes, format, nowMs }, [bytes.buffer as ArrayBuffer])
      })
    } finally {
      thread.current = null
      if (!thread.dead) this.idle.push(thread)
    }
  }

  async close(): Promise<void> {
    const threads = [...this.all]
    this.all.clear()
    this.idle.length = 0
    await Promise.allSettled(threads.map((t) => t.worker.terminate()))
  }

  private start(): Thread {
    const thread: Thread = { worker: new Worker(new URL('./json-worker-boot.mjs', import.meta.url)), current: null, dead: false }
    this.all.add(thread)
    thread.worker.unref()
    thread.worker.on('message', (r: Reply) => {
      if (r.ok) thread.current?.resolve(r.ok)
      else if (r.badInput) thread.current?.reject(fromPlain(r.badInput))
      else thread.current?.reject(new Error(`JSON body worker failed: ${r.failure}`))
    })
    const die = (err: unknown) => {
      // What it was decoding fails (an internal error); the next body gets a new thread.
      thread.dead = true
      this.all.delete(thread)
      thread.current?.reject(err instanceof Error ? err : new Error(`JSON body worker exited (${String(err)})`))
    }
    thread.worker.on('error', die)
    thread.worker.on('exit', die)
    return thread
  }
}
