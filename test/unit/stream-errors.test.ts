import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { failOnTrailingException } from '../../server/storage/stream-errors.js'

/** A server's mid-stream failure (ClickHouse 25.11+ format) must fail the stream, not end a CSV or binary result with its text. */
const TAG = 'kqjzrxwvbtmnplhs'
const block = (message: string) => Buffer.from(`\r\n__exception__\r\n${TAG}\r\n${message}\n${Buffer.byteLength(message) + 1} ${TAG}\r\n__exception__\r\n`)

/** Feed `bytes` in pieces of the given sizes; collect what comes out, or the error. */
async function through(bytes: Buffer, sizes: number[]): Promise<{ out: Buffer; err: Error | null }> {
  const pieces: Buffer[] = []
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!)
    pieces.push(bytes.subarray(i, i + n))
    i += n
  }
  const out: Buffer[] = []
  try {
    for await (const c of failOnTrailingException(Readable.from(pieces), TAG)) out.push(c as Buffer)
    return { out: Buffer.concat(out), err: null }
  } catch (err) {
    return { out: Buffer.concat(out), err: err as Error }
  }
}

describe('failOnTrailingException', () => {
  const csv = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `tenant-${i},"name, with comma",${i * 1.5}\r\n`).join(''))
  // Binary data with every byte value, \r\n and even the marker text inside (but not the tag before the end).
  const binary = Buffer.concat([Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256)), Buffer.from('\r\n__exception__\r\nnot-the-tag\r\n'), Buffer.from([0, 13, 10])])

  for (const [name, data] of [['CSV', csv], ['binary', binary]] as const) {
    for (const sizes of [[1 << 20], [4096], [1, 7, 65_536, 3], [100_000]]) {
      it(`passes a ${name} result through unchanged (pieces of ${sizes.join(', ')} bytes)`, async () => {
        const r = await through(data, sizes)
        expect(r.err).toBeNull()
        expect(r.out.equals(data)).toBe(true)
      })
      it(`fails a ${name} result that ends with the server's exception, passing none of its text on (pieces of ${sizes.join(', ')})`, async () => {
        const message = 'Code: 159. DB::Exception: Timeout exceeded: elapsed 5.1 seconds, maximum: 5. (TIMEOUT_EXCEEDED) (version 25.12.1.1)'
        const r = await through(Buffer.concat([data, block(message)]), sizes)
        expect(r.err).toMatchObject({ code: '159', type: 'TIMEOUT_EXCEEDED' })
        expect(r.err!.message).toMatch(/^Timeout exceeded: elapsed 5\.1 seconds/)
        // What was passed on is a prefix of the data (the consumer's stream then fails): never the exception text.
        expect(data.subarray(0, r.out.length).equals(r.out)).toBe(true)
        expect(r.out.includes('__exception__') && name === 'CSV').toBe(false)
      })
    }
  }

  it('fails an empty result that is only the exception', async () => {
    const r = await through(block('Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED) (version 25.12.1.1)'), [10])
    expect([r.err && (r.err as Error & { code?: string }).code, r.out.length]).toEqual(['241', 0])
  })
})
