import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HttpError } from '../../server/errors.js'
import { parseJsonBody } from '../../server/ingest/parse-body.js'
import { decodeJsonBody } from '../../server/ingest/parse-json-array.js'
import { binaryCloudEventAttrs, cloudEventsFromBody, mapCloudEvent } from '../../server/ingest/parse-cloudevents.js'
import { eventsFromJson } from '../../server/ingest/parse-json.js'
import { ndjsonLines, type NdjsonLine } from '../../server/ingest/parse-ndjson.js'
import { validateTenant } from '../../server/ingest/tenants.js'
import { CHANNELS, EVENT_TYPES } from '../../server/domain/events.js'
import { formatRowTime, parseTimestamp } from '../../server/domain/time.js'
import { validateEvent } from '../../server/ingest/validate.js'
import { parseScope, parseWindow } from '../../server/metrics/filters.js'
import { parseBins } from '../../server/metrics/histogram.js'
import { parseSummaryParams } from '../../server/metrics/summary.js'
import { parseTenantPage } from '../../server/metrics/tenants.js'

/**
 * Property-based fuzzing of the parsers at the edge: arbitrary input never throws anything but
 * a 4xx HttpError, and valid events hidden among garbage lines all come through intact.
 */
const NOW_MS = Date.parse('2026-01-01T00:00:00Z')
const RUNS = { numRuns: 300 }

/** Only a 4xx HttpError is an allowed exception: anything else would be a 500. */
function clientErrorOrValue<T>(fn: () => T): T | HttpError {
  try {
    return fn()
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError)
    expect((err as HttpError).status).toBeGreaterThanOrEqual(400)
    expect((err as HttpError).status).toBeLessThan(500)
    expect((err as HttpError).message.length).toBeGreaterThan(5)
    return err as HttpError
  }
}

async function collect(chunks: Uint8Array[], maxLineBytes = 256, maxBodyBytes = 1 << 20): Promise<NdjsonLine[]> {
  async function* gen() {
    for (const c of chunks) yield Buffer.from(c)
  }
  const out: NdjsonLine[] = []
  for await (const lines of ndjsonLines(gen(), { maxLineBytes, maxBodyBytes })) out.push(...lines)
  return out
}

/** Cut `buf` at the given (sorted, deduplicated) offsets. */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const p of points) {
    out.push(buf.subarray(prev, p))
    prev = p
  }
  out.push(buf.subarray(prev))
  return out.filter((b) => b.length > 0)
}

// A valid event of any type, with field values drawn from the whole allowed range.
const text = (min: number, max: number) => fc.string({ minLength: min, maxLength: max, unit: 'grapheme' })
const incidentId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/)
const occurredAt = fc.integer({ min: 0, max: NOW_MS }).map((ms) => new Date(ms).toISOString())
const validEvent = fc
  .record({
    event_id: text(1, 40),
    incident_id: incidentId,
    type: fc.constantFrom(...EVENT_TYPES),
    occurred_at: occurredAt,
    tenant_id: text(1, 40),
    progress: fc.double({ min: 0, max: 1, noNaN: true }),
    channel: fc.constantFrom(...CHANNELS),
    label: text(0, 40),
    message: fc.option(text(0, 100), { nil: undefined }),
  })
  .map((r) => {
    const e: Record<string, unknown> = { event_id: r.event_id, incident_id: r.incident_id, type: r.type, occurred_at: r.occurred_at }
    if (r.type !== 'milestone' && r.type !== 'communication') e.tenant_id = r.tenant_id
    if (r.type === 'communication') e.channel = r.channel
    if (r.type === 'restore_progress') e.progress = r.progress
    if (r.type === 'milestone') e.label = r.label
    if (r.message !== undefined) e.message = r.message
    return e
  })
// A garbage line: arbitrary bytes without a newline.
const garbageLine = fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b.filter((x) => x !== 0x0a)))

describe('NDJSON splitter', () => {
  it('never throws on arbitrary bytes cut anywhere, numbers lines in order, and each line is a value or an error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(), { maxLength: 20 }), async (bytes, at) => {
        const lines = await collect(cut(Buffer.from(bytes), at))
        const newlines = bytes.filter((b) => b === 0x0a).length
        for (let i = 0; i < lines.length; i++) {
          const l = lines[i]!
          if (i > 0) expect(l.index).toBeGreaterThan(lines[i - 1]!.index)
          expect(l.index).toBeLessThanOrEqual(newlines)
          expect(l.error === undefined ? 'value' in l : typeof l.error === 'string').toBe(true)
        }
      }),
      RUNS,
    )
  })

  it('gives the same lines however the body is cut', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(garbageLine, validEvent.map((e) => Buffer.from(JSON.stringify(e)))), { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 30 }), async (lines, at) => {
        const body = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]))
        expect(await collect(cut(body, at), 4096)).toEqual(await collect([body], 4096))
      }),
      RUNS,
    )
  })

  it('fails only with 413 past the body limit, never with anything else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 500 }), fc.integer({ min: 1, max: 400 }), async (bytes, limit) => {
        try {
          await collect([bytes], 64, limit)
          expect(bytes.length).toBeLessThanOrEqual(limit)
        } catch (err) {
          expect(err).toBeInstanceOf(HttpError)
          expect((err as HttpError).status).toBe(413)
          expect(bytes.length).toBeGreaterThan(limit)
        }
      }),
      RUNS,
    )
  })
})

describe('valid events among garbage', () => {
  it('every valid event line is parsed and validated to the same row, wherever it sits among garbage lines', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(garbageLine.map((g) => ({ g })), validEvent.map((e) => ({ e }))), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (items, at) => {
          const body = Buffer.concat(items.flatMap((it) => ['e' in it ? Buffer.from(JSON.stringify(it.e)) : it.g, Buffer.from('\n')]))
          const byIndex = new Map((await collect(cut(body, at), 128 * 1024)).map((l) => [l.index, l]))
          items.forEach((it, i) => {
            if (!('e' in it)) return
            const line = byIndex.get(i)
            expect(line?.value).toEqual(it.e)
            const v = validateEvent(line!.value, NOW_MS)
            expect(v.ok, JSON.stringify(v)).toBe(true)
            if (!v.ok) return
            expect(v.row.event_id).toBe(it.e.event_id)
            expect(v.row.tenant_id).toBe(it.e.tenant_id ?? '')
            expect(v.row.message).toBe(it.e.message ?? '')
            expect(v.row.occurred_at).toBe(formatRowTime(Date.parse(it.e.occurred_at as string)))
          })
        },
      ),
      RUNS,
    )
  })
})

describe('JSON, CloudEvents and validation on arbitrary input', () => {
  it('parseJsonBody: arbitrary bytes parse or fail with a 400 that says why', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.json().map((s) => Buffer.from(s))), (buf) => {
        const r = clientErrorOrValue(() => parseJsonBody(buf))
        if (r instanceof HttpError) expect(r.status).toBe(400)
      }),
      RUNS,
    )
  })

  /** decodeJsonBody's elements, all chunks together, or the HttpError it threw at any point. */
  async function decoded(buf: Buffer, chunk: number): Promise<unknown[] | HttpError> {
    try {
      const body = decodeJsonBody(buf, chunk)
      if (body.kind === 'value') return [body.value]
      const out: unknown[] = []
      for await (const c of body.chunks) out.push(...c)
      return out
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      return err
    }
  }

  it('decodeJsonBody: an array decoded a chunk at a time equals JSON.parse, whatever the spacing and chunk size', async () => {
    const space = fc.constantFrom('', ' ', '\n', '\t ', '\r\n')
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue(), { maxLength: 30 }), fc.array(space, { minLength: 64, maxLength: 64 }), fc.integer({ min: 1, max: 7 }), async (values, sp, chunk) => {
        // The same array, with whitespace around every element and separator.
        const text = `${sp[0]}[${values.map((v, i) => `${sp[(2 * i + 1) % 64]}${JSON.stringify(v)}${sp[(2 * i + 2) % 64]}`).join(',')}${sp[63]}]${sp[62]}`
        expect(await decoded(Buffer.from(text), chunk)).toEqual(JSON.parse(text))
      }),
      RUNS,
    )
  })

  it('decodeJsonBody: arbitrary bytes decode as JSON.parse would, or fail with a 400', async () => {
    const arrayish = fc.tuple(fc.json(), fc.uint8Array({ maxLength: 20 }), fc.nat()).map(([j, junk, at]) => {
      const base = Buffer.from(`[${j},${j}]`)
      const cutAt = at % (base.length + 1)
      return Buffer.concat([base.subarray(0, cutAt), Buffer.from(junk), base.subarray(cutAt)])
    })
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), arrayish), fc.integer({ min: 1, max: 5 }), async (buf, chunk) => {
        const got = await decoded(buf, chunk)
        let want: unknown
        try {
          const v = parseJsonBody(buf)
          want = Array.isArray(v) ? v : [v]
        } catch {
          want = 'error'
        }
        if (got instanceof HttpError) {
          expect(got.status).toBe(400)
          expect(want).toBe('error')
        } else expect(got).toEqual(want)
      }),
      { numRuns: 1000 },
    )
  })

  it('validateEvent never throws: any JSON value gives a row or field errors with messages', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom('event_id', 'incident_id', 'type', 'occurred_at', 'tenant_id', 'progress', 'channel', 'label', 'message', 'x'), fc.jsonValue())), (v) => {
        const r = validateEvent(v, NOW_MS)
        if (!r.ok) {
          expect(r.errors.length).toBeGreaterThan(0)
          for (const e of r.errors) expect(typeof e.field === 'string' && e.message.length > 3).toBe(true)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('validateEvent accepts every generated valid event', () => {
    fc.assert(
      fc.property(validEvent, (e) => {
        expect(validateEvent(e, NOW_MS).ok).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })

  it('eventsFromJson, cloudEventsFromBody and mapCloudEvent: a list, or a 4xx', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (v, batch) => {
        clientErrorOrValue(() => eventsFromJson(v))
        const mapped = clientErrorOrValue(() => cloudEventsFromBody(v, batch))
        if (!(mapped instanceof HttpError)) for (const m of mapped) expect(m.event !== undefined || m.errors!.length > 0).toBe(true)
        clientErrorOrValue(() => mapCloudEvent({ specversion: '1.0', id: 'x', type: 'access_lost', time: '2022-04-05T07:38:00Z' }, v))
      }),
      RUNS,
    )
  })

  it('binaryCloudEventAttrs takes any headers', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.oneof(fc.constantFrom('ce-id', 'ce-type', 'ce-specversion', 'ce-time', 'ce-subject'), fc.string()), fc.oneof(fc.string(), fc.array(fc.string()))), (h) => {
        clientErrorOrValue(() => binaryCloudEventAttrs(h))
      }),
      RUNS,
    )
  })

  it('validateTenant never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ tenant_id: fc.jsonValue(), name: fc.jsonValue(), attributes: fc.jsonValue() }, { requiredKeys: [] })), (v) => {
        const r = validateTenant(v)
        if (!r.ok) expect(r.errors.length).toBeGreaterThan(0)
      }),
      RUNS,
    )
  })
})

describe('timestamps', () => {
  it('parseTimestamp: any string gives epoch ms or a message, never an exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 45 }), fc.stringMatching(/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,10})?([Zz]|[+-]\d{2}:\d{2})$/)), (s) => {
        const r = parseTimestamp(s)
        expect(typeof r === 'string' ? r.length > 5 : Number.isFinite(r)).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it('parseTimestamp agrees with Date.parse on every valid RFC 3339 time with any offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 0, 1) }), fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }), (ms, offsetMin) => {
        const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23)
        const sign = offsetMin < 0 ? '-' : '+'
        const a = Math.abs(offsetMin)
        const s = `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`
        expect(parseTimestamp(s)).toBe(ms)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('query parameters', () => {
  const value = fc.oneof(fc.string({ maxLength: 30 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })))
  const names = fc.constantFrom('as_of', 'from', 'to', 'bucket', 'limit', 'offset', 'sort', 'order', 'q', 'state', 'bins', 'stale_after', 'weight', 'include_broadcast', 'group_by', 'attr.tier', 'attr', 'attr.')
  const query = fc.dictionary(names, value)

  it('every parser of query parameters answers a value or a 400, whatever the query', () => {
    fc.assert(
      fc.property(query, fc.oneof(incidentId, fc.string({ maxLength: 200 })), (q, id) => {
        const now = new Date(NOW_MS)
        const scope = clientErrorOrValue(() => parseScope(id, q, now))
        if (!(scope instanceof HttpError)) clientErrorOrValue(() => parseWindow(q, scope.asOfMs, NOW_MS - 86_400_000))
        clientErrorOrValue(() => parseTenantPage(q))
        clientErrorOrValue(() => parseSummaryParams(q))
        clientErrorOrValue(() => parseBins(q))
      }),
      { numRuns: 2000 },
    )
  })
})
