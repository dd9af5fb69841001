import { isUtf8 } from 'node:buffer'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { HttpError } from '../errors.js'
import { parseJsonBody } from './parse-body.js'

/** Elements decoded between two turns of the event loop. */
export const JSON_CHUNK_ELEMENTS = 2000

/**
 * A JSON body, decoded so that no request holds the event loop for long: a top-level array is
 * cut into its elements by a byte scanner and parsed a chunk of elements at a time, yielding to
 * the event loop between chunks (a 16 MiB body of `[{},{},…]` is 2.8M objects: parsed whole and
 * then validated, it stalled every other request for seconds and took ~700 MB); anything else
 * is one value, parsed whole.
 */
export type JsonBody = { kind: 'array'; chunks: AsyncIterable<unknown[]> } | { kind: 'value'; value: unknown }

export function decodeJsonBody(buf: Buffer, chunkElements = JSON_CHUNK_ELEMENTS): JsonBody {
  let at = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0
  at = skipSpace(buf, at)
  // Not an array (or empty, or not UTF-8): the whole-body parser gives the value or the clear 400.
  if (buf[at] !== 0x5b) return { kind: 'value', value: parseJsonBody(buf) }
  // Invalid UTF-8 gets the whole-body parser's 400, which says at which byte.
  if (!isUtf8(buf)) parseJsonBody(buf)
  return { kind: 'array', chunks: arrayChunks(buf, at + 1, chunkElements) }
}

async function* arrayChunks(buf: Buffer, from: number, chunkElements: number): AsyncGenerator<unknown[]> {
  let at = skipSpace(buf, from)
  let index = 0
  if (buf[at] === 0x5d) {
    expectEnd(buf, at + 1)
    return
  }
  let chunk: unknown[] = []
  for (;;) {
    at = skipSpace(buf, at)
    const end = valueEnd(buf, at, index)
    chunk.push(parseElement(buf, at, end, index))
    index++
    at = skipSpace(buf, end)
    const c = buf[at]
    if (c === 0x2c) at++
    else if (c === 0x5d) {
      expectEnd(buf, at + 1)
      break
    } else throw malformed(`expected , or ] after element ${index - 1} at byte ${at}`)
    if (chunk.length >= chunkElements) {
      yield chunk
      chunk = []
      await yieldToLoop()
    }
  }
  if (chunk.length > 0) yield chunk
}

const malformed = (message: string) => new HttpError(400, 'malformed_json', `malformed JSON: ${message}`)

function skipSpace(buf: Buffer, at: number): number {
  while (at < buf.length) {
    const c = buf[at]!
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break
    at++
  }
  return at
}

function expectEnd(buf: Buffer, at: number) {
  if (skipSpace(buf, at) !== buf.length) throw malformed(`unexpected data after the array at byte ${at}`)
}

/**
 * The end (exclusive) of the JSON value starting at `at`: strings and nesting are followed, so a
 * `,` or `]` inside them does not end it; a scalar ends at the next `,`, `]` or space. The value
 * itself is checked by JSON.parse afterwards.
 */
function valueEnd(buf: Buffer, at: number, index: number): number {
  let depth = 0
  let i = at
  while (i < buf.length) {
    const c = buf[i]!
    if (c === 0x22) {
      // A string: up to the next unescaped quote.
      i++
      while (i < buf.length && buf[i] !== 0x22) i += buf[i] === 0x5c ? 2 : 1
      if (i >= buf.length) break
      i++
      if (depth === 0) return i
      continue
    }
    if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return i
      depth--
      if (depth === 0) return i + 1
    } else if (depth === 0 && (c === 0x2c || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) return i
    i++
  }
  throw malformed(`element ${index} is not closed before the end of the body`)
}

function parseElement(buf: Buffer, start: number, end: number, index: number): unknown {
  if (end <= start) throw malformed(`element ${index} is empty (byte ${start})`)
  try {
    return JSON.parse(buf.toString('utf8', start, end))
  } catch (err) {
    throw malformed(`element ${index} (bytes ${start}-${end}): ${(err as Error).message.slice(0, 160)}`)
  }
}
