import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ndjsonLines, type NdjsonLine } from '../../server/ingest/parse-ndjson.js'

async function collect(chunks: (string | Buffer)[], opts = { maxLineBytes: 64, maxBodyBytes: 1 << 20 }): Promise<NdjsonLine[]> {
  async function* gen() {
    for (const c of chunks) yield Buffer.isBuffer(c) ? c : Buffer.from(c)
  }
  const out: NdjsonLine[] = []
  for await (const lines of ndjsonLines(gen(), opts)) out.push(...lines)
  return out
}

describe('ndjsonLines', () => {
  it('numbers lines from 0 counting blank lines, and handles CRLF and a missing final newline', async () => {
    expect(await collect(['{"a":1}\r\n\n   \n{"a":2}\n{"a":3}'])).toEqual([
      { index: 0, value: { a: 1 } },
      { index: 3, value: { a: 2 } },
      { index: 4, value: { a: 3 } },
    ])
  })

  it('joins lines split across chunks, including inside a multi-byte character', async () => {
    const text = Buffer.from('{"t":"é🏢"}\n{"t":"x"}\n')
    const chunks = Array.from(text).map((b) => Buffer.from([b])) // one byte per chunk
    expect(await collect(chunks)).toEqual([
      { index: 0, value: { t: 'é🏢' } },
      { index: 1, value: { t: 'x' } },
    ])
  })

  it('reports a malformed line as a per-line error and goes on', async () => {
    const out = await collect(['{"a":1}\n{"a":\n{"a":3}\n'])
    expect(out[0]).toEqual({ index: 0, value: { a: 1 } })
    expect(out[1]!.index).toBe(1)
    expect(out[1]!.error).toMatch(/^malformed JSON: /)
    expect(out[2]).toEqual({ index: 2, value: { a: 3 } })
  })

  it('reports an over-long line without buffering it, in one chunk or across many', async () => {
    const long = `{"x":"${'a'.repeat(200)}"}`
    const expected = [
      { index: 0, error: 'line is longer than 64 bytes' },
      { index: 1, value: { ok: true } },
    ]
    expect(await collect([`${long}\n{"ok":true}\n`])).toEqual(expected)
    expect(await collect([long.slice(0, 50), long.slice(50, 120), long.slice(120), '\n{"ok":true}\n'])).toEqual(expected)
  })

  it('rejects invalid UTF-8 per line', async () => {
    expect(await collect([Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d, 0x0a])])).toEqual([{ index: 0, error: 'line is not valid UTF-8' }])
  })

  it('fails with 413 once the body exceeds its limit', async () => {
    await expect(collect(['{"a":1}\n'.repeat(10)], { maxLineBytes: 64, maxBodyBytes: 40 })).rejects.toMatchObject({ status: 413, code: 'too_large' })
  })
  it('reports an invalid UTF-8 line in the middle of a chunk and parses its neighbours', async () => {
    const body = Buffer.concat([Buffer.from('{"a":1}\n{"a":2}\n'), Buffer.from([0x22, 0xc3, 0x28, 0x22, 0x0a]), Buffer.from('{"a":4}\n{"a":5}\n')])
    expect(await collect([body])).toEqual([
      { index: 0, value: { a: 1 } },
      { index: 1, value: { a: 2 } },
      { index: 2, error: 'line is not valid UTF-8' },
      { index: 3, value: { a: 4 } },
      { index: 4, value: { a: 5 } },
    ])
  })

  it('measures the line limit in bytes, also for multi-byte text inside a chunk', async () => {
    const line = JSON.stringify({ t: '€'.repeat(30) }) // 38 characters, 98 bytes
    expect(await collect([`{"a":1}\n${line}\n{"a":3}\n`])).toEqual([
      { index: 0, value: { a: 1 } },
      { index: 1, error: 'line is longer than 64 bytes' },
      { index: 2, value: { a: 3 } },
    ])
  })

  it('gives the same lines however the body is cut into chunks', async () => {
    const line = fc.oneof(
      fc.record({ s: fc.string({ unit: 'grapheme', maxLength: 12 }) }).map((o) => JSON.stringify(o)),
      fc.constantFrom('', '  ', '{bad', '[1,2]', '"x"'),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }), async (lines, cuts) => {
        const body = Buffer.from(lines.join('\n') + '\n')
        const chunks: Buffer[] = []
        for (let at = 0, k = 0; at < body.length; k++) {
          const n = cuts[k % cuts.length]!
          chunks.push(body.subarray(at, at + n))
          at += n
        }
        const opts = { maxLineBytes: 1 << 16, maxBodyBytes: 1 << 20 }
        expect(await collect(chunks, opts)).toEqual(await collect([body], opts))
      }),
      { numRuns: 300 },
    )
  })
})
