import type { IncomingMessage } from 'node:http'
import { isUtf8 } from 'node:buffer'
import { createGunzip, createInflate } from 'node:zlib'
import { BadInput, Refusal, Unavailable } from '../errors.js'

/** A body that sends no bytes for this long while we wait for them is cut (slow-loris); see config.bodyIdleTimeoutMs. */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 30_000
/**
 * How fast a request body must arrive: no gap longer than idleTimeoutMs, and once it has been
 * waited for graceMs in all, at least minBytesPerS on average (0: no minimum).
 */
export interface BodyPace {
  idleTimeoutMs: number
  minBytesPerS: number
  graceMs: number
}
const DEFAULT_PACE: BodyPace = { idleTimeoutMs: DEFAULT_BODY_IDLE_TIMEOUT_MS, minBytesPerS: 0, graceMs: 10_000 }

/**
 * The request body as a byte stream, decompressed when `Content-Encoding` is gzip or deflate
 * (limits apply to the decompressed bytes); other encodings are refused as unsupported. A body
 * that stalls or trickles (BodyPace) is refused as too slow and the connection is closed.
 */
export function bodyStream(req: IncomingMessage, pace: BodyPace = DEFAULT_PACE): AsyncIterable<Buffer> {
  const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim()
  let src: AsyncIterable<Buffer>
  if (enc === 'identity' || enc === '') src = req
  else if (enc === 'gzip' || enc === 'x-gzip') src = req.pipe(createGunzip())
  else if (enc === 'deflate') src = req.pipe(createInflate())
  else throw new BadInput('unsupported', 'unsupported_encoding', `Content-Encoding "${enc}" is not supported (use gzip, deflate or none)`)
  return paced(src, req, pace)
}

/**
 * Chunks of `src`, failing as too slow when one takes longer than `idleTimeoutMs` to arrive, or
 * when, past `graceMs` of waiting in all, the bytes so far fall below minBytesPerS of
 * the time waited (one byte every few seconds would otherwise hold a connection forever). The
 * clock runs only while we wait for bytes: time the consumer spends on a chunk (backpressure
 * from a slow store) never counts, so long uploads that keep sending are never cut.
 */
async function* paced(src: AsyncIterable<Buffer>, req: IncomingMessage, pace: BodyPace): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]()
  let waitedMs = 0
  let bytes = 0
  for (;;) {
    const next = it.next()
    // The longest this wait may last: the idle limit, or until the average rate drops below the minimum.
    const rateLeftMs = pace.minBytesPerS > 0 ? Math.max(pace.graceMs, (bytes * 1000) / pace.minBytesPerS) - waitedMs : Infinity
    const limitMs = Math.max(0, Math.min(pace.idleTimeoutMs, rateLeftMs))
    const tooSlow = rateLeftMs < pace.idleTimeoutMs
    let timer: NodeJS.Timeout | undefined
    const started = performance.now()
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        next.catch(() => {}) // the read is abandoned; its rejection (on destroy) is expected
        const message = tooSlow
          ? `the request body arrived slower than ${pace.minBytesPerS} bytes/s (${bytes} bytes in ${Math.round((waitedMs + limitMs) / 1000)} s); the upload was cut: resend it (resent events are deduplicated)`
          : `no request body bytes for ${pace.idleTimeoutMs / 1000} s; the upload was cut: resend it (resent events are deduplicated)`
        reject(new BadInput('too_slow', 'body_timeout', message, true))
        // Cut a client that ignores the refusal and keeps the connection open.
        setTimeout(() => req.destroy(), 1000).unref()
      }, limitMs)
    })
    let r: IteratorResult<Buffer>
    try {
      r = await Promise.race([next, idle])
    } finally {
      clearTimeout(timer)
      waitedMs += performance.now() - started
    }
    if (r.done) return
    bytes += r.value.length
    yield r.value
  }
}

/** A body past this many bytes is large: it needs one of the few LargeBodies permits to be read on and decoded. */
export const LARGE_BODY_BYTES = 1024 * 1024
/** How long a large body waits for a permit before it is refused (retry later). */
const LARGE_BODY_WAIT_MS = 5000

/**
 * Permits for large bodies: a JSON body is held whole and decoded into objects (several times its
 * size in memory), so only a few large ones are read and decoded at once; the rest wait a
 * moment, then are refused as unavailable (memory stays bounded however many arrive).
 */
export class LargeBodies {
  private free: number
  private readonly waiting: (() => void)[] = []

  constructor(permits: number) {
    this.free = permits
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--
    else {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(grant), 1)
          reject(new Unavailable('busy', 'too many large request bodies are being decoded; retry shortly, or send NDJSON (application/x-ndjson), which is streamed', 2, true))
        }, LARGE_BODY_WAIT_MS)
        const grant = () => {
          clearTimeout(timer)
          resolve()
        }
        this.waiting.push(grant)
      })
    }
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiting.shift()
      if (next) next()
      else this.free++
    }
  }
}

/** A whole body and the release of its large-body permit (a no-op when it needed none); call it once done with the body. */
export interface ReadBody {
  buf: Buffer
  release(): void
}

/**
 * Read a whole body, at most `limitBytes` bytes after decompression, else too large. Past
 * LARGE_BODY_BYTES it takes a permit from `large` (when given) before reading on.
 */
export async function readBody(req: IncomingMessage, limitBytes: number, pace?: BodyPace, large?: LargeBodies): Promise<ReadBody> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limitBytes && !req.headers['content-encoding']) throw tooLarge(limitBytes)
  const chunks: Buffer[] = []
  let total = 0
  let release = () => {}
  try {
    if (large && Number.isFinite(declared) && declared > LARGE_BODY_BYTES) release = await large.acquire()
    for await (const chunk of bodyStream(req, pace)) {
      total += chunk.length
      if (total > limitBytes) throw tooLarge(limitBytes)
      if (large && total > LARGE_BODY_BYTES && total - chunk.length <= LARGE_BODY_BYTES && !(declared > LARGE_BODY_BYTES)) release = await large.acquire()
      chunks.push(chunk)
    }
  } catch (err) {
    release()
    if (err instanceof Refusal) throw err
    // zlib errors (corrupt gzip) and aborted uploads are the client's fault.
    throw new BadInput('malformed', 'bad_body', `could not read the request body: ${(err as Error).message.slice(0, 200)}`)
  }
  return { buf: Buffer.concat(chunks, total), release }
}

const tooLarge = (limitBytes: number) =>
  new BadInput('too_large', 'too_large', `request body exceeds ${limitBytes} bytes; split it, or send NDJSON (application/x-ndjson), which is streamed`, true)

/** Parse JSON text (UTF-8, optional BOM) or refuse it as malformed, saying why. */
export function parseJsonBody(buf: Buffer): unknown {
  // Decoding would silently turn invalid bytes into U+FFFD, changing ids and names: refuse them.
  if (!isUtf8(buf)) throw new BadInput('malformed', 'invalid_utf8', `request body is not valid UTF-8 at byte ${firstInvalidUtf8(buf)}; send UTF-8`)
  let text = buf.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  if (text.trim() === '') throw new BadInput('malformed', 'malformed_json', 'request body is empty; expected JSON')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new BadInput('malformed', 'malformed_json', `malformed JSON: ${(err as Error).message.slice(0, 200)}`)
  }
}

/** Byte offset of the first invalid UTF-8 sequence (error path only): the first U+FFFD that the bytes do not spell. */
function firstInvalidUtf8(buf: Buffer): number {
  const text = buf.toString('utf8')
  let bytes = 0
  let from = 0
  for (let i = text.indexOf('\ufffd'); i >= 0; i = text.indexOf('\ufffd', i + 1)) {
    bytes += Buffer.byteLength(text.slice(from, i))
    from = i
    if (!(buf[bytes] === 0xef && buf[bytes + 1] === 0xbf && buf[bytes + 2] === 0xbd)) return bytes
  }
  return bytes
}
