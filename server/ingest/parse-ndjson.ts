import { isUtf8 } from 'node:buffer'
import { BadInput } from '../errors.js'

/** One non-blank NDJSON line: its parsed value, or why it could not be parsed. */
export type NdjsonLine = { index: number; value: unknown; error?: undefined } | { index: number; error: string; value?: undefined }

export interface NdjsonOptions {
  /** A longer line is reported as a per-line error and skipped without being buffered. */
  maxLineBytes: number
  /** The whole body may not exceed this (else BadInput too_large). */
  maxBodyBytes: number
  /** Appended to the too-large message (why the limit is what it is). */
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
 *
 * Hot path: the complete lines of a chunk are checked for UTF-8 and decoded in one call each,
 * then split as a string; only the line that straddles two chunks is assembled from bytes.
 */
export async function* ndjsonLines(stream: AsyncIterable<Buffer>, opts: NdjsonOptions): AsyncGenerator<NdjsonLine[]> {
  const max = opts.maxLineBytes
  let index = 0
  let total = 0
  let carry: Buffer[] = []
  let carryBytes = 0
  let oversize = false

  for await (const chunk of stream) {
    total += chunk.length
    if (total > opts.maxBodyBytes) {
      throw new BadInput('too_large', 'too_large', `NDJSON body exceeds ${opts.maxBodyBytes} bytes${opts.limitNote ?? ''}; the first ${index} lines were processed`, true)
    }
    const out: NdjsonLine[] = []
    const first = chunk.indexOf(NL)
    if (first < 0) {
      // No line ends here: the whole chunk continues the current line.
      if (!oversize && carryBytes + chunk.length > max) {
        oversize = true
        carry = []
        carryBytes = 0
      } else if (!oversize) {
        carry.push(Buffer.from(chunk)) // copy: a subarray would pin the stream's chunk memory
        carryBytes += chunk.length
      }
      continue
    }
    // The line that started in earlier chunks (or at the start of this one) ends at `first`.
    if (oversize || carryBytes + first > max) out.push({ index, error: `line is longer than ${max} bytes` })
    else {
      const line = carryBytes > 0 ? Buffer.concat([...carry, chunk.subarray(0, first)]) : chunk.subarray(0, first)
      const parsed = parseBytes(line, index)
      if (parsed) out.push(parsed)
    }
    index++
    carry = []
    carryBytes = 0
    oversize = false

    // Whole lines between the first and the last newline of the chunk.
    const last = chunk.lastIndexOf(NL)
    if (last > first) {
      const region = chunk.subarray(first + 1, last)
      if (isUtf8(region)) index = parseText(region.toString('utf8'), index, max, out)
      else {
        let start = 0
        for (;;) {
          const nl = region.indexOf(NL, start)
          const end = nl < 0 ? region.length : nl
          if (end - start > max) out.push({ index, error: `line is longer than ${max} bytes` })
          else {
            const parsed = parseBytes(region.subarray(start, end), index)
            if (parsed) out.push(parsed)
          }
          index++
          if (nl < 0) break
          start = nl + 1
        }
      }
    }
    // The start of the next line.
    const rest = chunk.length - (last + 1)
    if (rest > max) oversize = true
    else if (rest > 0) {
      carry.push(Buffer.from(chunk.subarray(last + 1)))
      carryBytes = rest
    }
    if (out.length > 0) yield out
  }
  if (carryBytes > 0 || oversize) {
    const out: NdjsonLine[] = []
    if (oversize) out.push({ index, error: `line is longer than ${max} bytes` })
    else {
      const parsed = parseBytes(Buffer.concat(carry), index)
      if (parsed) out.push(parsed)
    }
    if (out.length > 0) yield out
  }
}

/** Parse the '\n'-separated lines of `text` (complete lines, valid UTF-8), numbering from `index`. Returns the next index. */
function parseText(text: string, index: number, max: number, out: NdjsonLine[]): number {
  let start = 0
  for (;;) {
    const nl = text.indexOf('\n', start)
    const end = nl < 0 ? text.length : nl
    // UTF-16 length ≤ UTF-8 length ≤ 3 × UTF-16 length: count bytes only when it can matter.
    if (end - start > max || ((end - start) * 3 > max && Buffer.byteLength(text.slice(start, end)) > max)) {
      out.push({ index, error: `line is longer than ${max} bytes` })
    } else {
      const parsed = parseString(text.slice(start, end), index)
      if (parsed) out.push(parsed)
    }
    index++
    if (nl < 0) return index
    start = nl + 1
  }
}

function parseBytes(line: Buffer, index: number): NdjsonLine | null {
  if (!isUtf8(line)) return { index, error: 'line is not valid UTF-8' }
  return parseString(line.toString('utf8'), index)
}

function parseString(line: string, index: number): NdjsonLine | null {
  let text = line
  if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1) // CRLF
  if (index === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1) // UTF-8 BOM
  if (text.length === 0) return null
  try {
    return { index, value: JSON.parse(text) }
  } catch (err) {
    if (text.trim() === '') return null
    return { index, error: `malformed JSON: ${(err as Error).message.slice(0, 200)}` }
  }
}
