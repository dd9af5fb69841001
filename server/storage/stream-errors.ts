import { extractErrorAtTheEndOfChunk } from '@clickhouse/client'
import { Transform, type Readable } from 'node:stream'

/**
 * Bytes held back from a result stream: enough for the exception block a server appends when a
 * statement fails after its first bytes were sent (`\r\n__exception__\r\n<tag>\r\n<message>\n<length>
 * <tag>\r\n__exception__\r\n`, ClickHouse 25.11+; the message is at most a few KB).
 */
const HOLD_BYTES = 64 * 1024

/**
 * A server that fails mid-stream has already answered 200, so the failure arrives as text at the
 * end of the body, announced by the `X-ClickHouse-Exception-Tag` header (a random tag). Passed on
 * as is, a CSV export would end with that text and a binary result would be garbled: this stream
 * holds back the last HOLD_BYTES and, when the body ends with the tagged block, fails with the
 * server's error instead of passing it on. Binary data may contain `\r\n` anywhere; only the
 * random tag right before the final marker is taken as an exception.
 */
export function failOnTrailingException(body: Readable, tag: string): Readable {
  const ending = Buffer.from(` ${tag}\r\n__exception__\r\n`)
  let held: Buffer = Buffer.alloc(0)
  const guard = new Transform({
    transform(chunk: Buffer, _enc, done) {
      held = held.length ? Buffer.concat([held, chunk]) : chunk
      if (held.length > HOLD_BYTES) {
        this.push(held.subarray(0, held.length - HOLD_BYTES))
        held = Buffer.from(held.subarray(held.length - HOLD_BYTES))
      }
      done()
    },
    flush(done) {
      if (held.length >= ending.length && held.subarray(held.length - ending.length).equals(ending)) return done(extractErrorAtTheEndOfChunk(held, tag))
      done(null, held)
    },
  })
  body.on('error', (err) => guard.destroy(err))
  return body.pipe(guard)
}
