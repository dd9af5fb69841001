import { setPriority } from 'node:os'
import { parentPort } from 'node:worker_threads'
import { BadInput } from '../errors.js'
import { toPlain, validateJsonEvents, type JsonEventsFormat } from './json-events.js'

/** Worker thread: decodes and validates large JSON events bodies off the event loop (json-workers.ts). */

// This thread only (on Linux a thread's nice value is its own): a client's large body yields the
// CPU to the event loop and the engine rather than competing with them.
try {
  setPriority(19)
} catch {
  // not permitted: runs at normal priority
}

parentPort!.on('message', async (m: { buf: Uint8Array; format: JsonEventsFormat; nowMs: number }) => {
  try {
    const v = await validateJsonEvents(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength), m.format, m.nowMs)
    parentPort!.postMessage({ ok: v })
  } catch (err) {
    if (err instanceof BadInput) parentPort!.postMessage({ badInput: toPlain(err) })
    else parentPort!.postMessage({ failure: err instanceof Error ? err.message : String(err) })
  }
})
