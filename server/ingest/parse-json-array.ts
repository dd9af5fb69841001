import { isUtf8 } from 'node:buffer'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { BadInput } from '../errors.js'
import { parseJsonBody } from './parse-body.js'

/** Elements decoded between two turns of the event loop. */
export const JSON_CHUNK_ELEMENTS = 1000
/**
 * Most elements in one JSON array body: a 16 MiB body of real events holds ~80,000; one of `{}`
 * holds 5.6M, whose validation alone would take seconds of CPU. Bulk loads go as NDJSON.
 */
export const MAX_JSON_ELEMENTS = 100_000

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
  // Not an array (or empty, or not UTF-8): the whole-body parser gives the value or the clear refusal.
  if (buf[at] !== 0x5b) return { kind: 'value', value: parseJsonBody(buf) }
  // Invalid UTF-8 gets the whole-body parser's refusal, which says at which byte.
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
  // A chunk is parsed in one JSON.parse call over the bytes of its elements (with their commas),
  // wrapped in brackets: one call per 2,000 elements instead of one per element.
  let chunkStart = at
  let chunkFirst = 0
  for (;;) {
    at = skipSpace(buf, at)
    const end = valueEnd(buf, at, index)
    if (end <= at) throw malformed(`element ${index} is empty (byte ${at})`)
    index++
    if (index > MAX_JSON_ELEMENTS) {
      throw new BadInput('too_large', 'too_many_elements', `a JSON body holds at most ${MAX_JSON_ELEMENTS.toLocaleString('en')} events; send more as NDJSON (application/x-ndjson), which is streamed`, true)
    }
    at = skipSpace(buf, end)
    const c = buf[at]
    if (c !== 0x2c && c !== 0x5d) throw malformed(`expected , or ] after element ${index - 1} at byte ${at}`)
    if (c === 0x5d || index - chunkFirst >= chunkElements) {
      yield parseChunk(buf, chunkStart, end, chunkFirst)
      chunkStart = at + 1
      chunkFirst = index
      if (c === 0x5d) {
        expectEnd(buf, at + 1)
        return
      }
      at++
      await yieldToLoop()
    } else at++
  }
}

/** The elements between `start` and `end` (their bytes, commas included) in one parse. */
function parseChunk(buf: Buffer, start: number, end: number, firstIndex: number): unknown[] {
  try {
    return JSON.parse(`[${buf.toString('utf8', start, end)}]`) as unknown[]
  } catch (err) {
    // Which element: parse them one by one (the error path only).
    let at = start
    for (let index = firstIndex; at < end; index++) {
      at = skipSpace(buf, at)
      const e = valueEnd(buf, at, index)
      parseElement(buf, at, e, index)
      at = skipSpace(buf, e) + 1
    }
    throw malformed(`${(err as Error).message.slice(0, 160)}`)
  }
}

const malformed = (message: string) => new BadInput('malformed', 'malformed_json', `malformed JSON: ${message}`)

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
