import { isUtf8 } from 'node:buffer'
import { HttpError } from '../errors.js'

/** One non-blank NDJSON line: its parsed value, or why it could not be parsed. */
export type NdjsonLine = { index: number; value: unknown; error?: undefined } | { index: number; error: string; value?: undefined }

export interface NdjsonOptions {
  /** A longer line is reported as a per-line error and skipped without being buffered. */
  maxLineBytes: number
  /** The whole body may not exceed this (413). */
  maxBodyBytes: number
  /** Appended to the 413 message (why the limit is what it is). */
  limitNote?: string
}

/** Per-line size limit: an event is at most ~5k characters of text, ~60 KiB with every character \u-escaped. */
export const NDJSON_MAX_LINE_BYTES = 128 * 1024

const NL = 0x0a

/**
 * Split a byte stream into NDJSON lines as it arrives, never holding more than one chunk plus
 * one partial line. Yields the parsed lines of each chunk as an array (one await per chunk,
 * not per line). `index` is the 0-based line number, blank lines counted (and skipped).
 * The consumer controls the pace: the next chunk is read only when it asks for more, so
 * backpressure reaches the socket.
 */
export async function* ndjsonLines(stream: AsyncIterable<Buffer>, opts: NdjsonOptions): AsyncGenerator<NdjsonLine[]> {
  let index = 0
  let total = 0
  let carry: Buffer[] = []
  let carryBytes = 0
  let oversize = false

  const finish = (line: Buffer, out: NdjsonLine[]) => {
    if (oversize) out.push({ index, error: `line is longer than ${opts.maxLineBytes} bytes` })
    else {
      const parsed = parseLine(line, index)
      if (parsed) out.push(parsed)
    }
    oversize = false
    index++
  }

  for await (const chunk of stream) {
    total += chunk.length
    if (total > opts.maxBodyBytes) {
      throw new HttpError(413, 'too_large', `NDJSON body exceeds ${opts.maxBodyBytes} bytes${opts.limitNote ?? ''}; the first ${index} lines were processed`, {
        Connection: 'close',
      })
    }
    const out: NdjsonLine[] = []
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(NL, start)
      if (nl < 0) break
      if (carryBytes > 0 || oversize) {
        if (!oversize && carryBytes + (nl - start) > opts.maxLineBytes) oversize = true
        const line = oversize ? EMPTY : Buffer.concat([...carry, chunk.subarray(start, nl)])
        carry = []
        carryBytes = 0
        finish(line, out)
      } else if (nl - start > opts.maxLineBytes) {
        oversize = true
        finish(EMPTY, out)
      } else finish(chunk.subarray(start, nl), out)
      start = nl + 1
    }
    if (start < chunk.length && !oversize) {
      const rest = chunk.length - start
      if (carryBytes + rest > opts.maxLineBytes) {
        oversize = true
        carry = []
        carryBytes = 0
      } else {
        // Copy: the stream may reuse chunk memory, and a subarray would pin the whole chunk.
        carry.push(Buffer.from(chunk.subarray(start)))
        carryBytes += rest
      }
    }
    if (out.length > 0) yield out
  }
  if (carryBytes > 0 || oversize) {
    const out: NdjsonLine[] = []
    finish(oversize ? EMPTY : Buffer.concat(carry), out)
    if (out.length > 0) yield out
  }
}

const EMPTY = Buffer.alloc(0)

function parseLine(line: Buffer, index: number): NdjsonLine | null {
  let end = line.length
  if (end > 0 && line[end - 1] === 0x0d) end-- // CRLF
  let start = 0
  if (index === 0 && end >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) start = 3 // UTF-8 BOM
  if (end <= start) return null
  const bytes = line.subarray(start, end)
  if (!isUtf8(bytes)) return { index, error: 'line is not valid UTF-8' }
  const text = bytes.toString('utf8')
  try {
    return { index, value: JSON.parse(text) }
  } catch (err) {
    if (text.trim() === '') return null
    return { index, error: `malformed JSON: ${(err as Error).message.slice(0, 200)}` }
  }
}
