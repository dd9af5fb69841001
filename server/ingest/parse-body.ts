import type { IncomingMessage } from 'node:http'
import { createGunzip, createInflate } from 'node:zlib'
import { HttpError } from '../errors.js'

/**
 * The request body as a byte stream, decompressed when `Content-Encoding` is gzip or deflate
 * (limits apply to the decompressed bytes). Other encodings → 415.
 */
export function bodyStream(req: IncomingMessage): AsyncIterable<Buffer> {
  const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim()
  if (enc === 'identity' || enc === '') return req
  if (enc === 'gzip' || enc === 'x-gzip') return req.pipe(createGunzip())
  if (enc === 'deflate') return req.pipe(createInflate())
  throw new HttpError(415, 'unsupported_encoding', `Content-Encoding "${enc}" is not supported (use gzip, deflate or none)`)
}

/** Read a whole (small) body, at most `limitBytes` bytes after decompression, else 413. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limitBytes && !req.headers['content-encoding']) throw tooLarge(limitBytes)
  const chunks: Buffer[] = []
  let total = 0
  try {
    for await (const chunk of bodyStream(req)) {
      total += chunk.length
      if (total > limitBytes) throw tooLarge(limitBytes)
      chunks.push(chunk)
    }
  } catch (err) {
    if (err instanceof HttpError) throw err
    // zlib errors (corrupt gzip) and aborted uploads are the client's fault.
    throw new HttpError(400, 'bad_body', `could not read the request body: ${(err as Error).message.slice(0, 200)}`)
  }
  return Buffer.concat(chunks, total)
}

const tooLarge = (limitBytes: number) =>
  new HttpError(413, 'too_large', `request body exceeds ${limitBytes} bytes; split it, or send NDJSON (application/x-ndjson), which is streamed`, {
    Connection: 'close',
  })

/** Parse JSON text (UTF-8, optional BOM) or fail with a clear 400. */
export function parseJsonBody(buf: Buffer): unknown {
  let text = buf.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  if (text.trim() === '') throw new HttpError(400, 'malformed_json', 'request body is empty; expected JSON')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new HttpError(400, 'malformed_json', `malformed JSON: ${(err as Error).message.slice(0, 200)}`)
  }
}
