import { gzipSync } from 'node:zlib'

/**
 * A corpus of malformed requests, generated from tables: broken JSON and NDJSON, wrong types,
 * missing and extra fields, huge strings and numbers, deep nesting, invalid UTF-8, control
 * characters, timestamps out of range, unknown types, content types and encodings, gigantic
 * bodies, malformed CloudEvents, tenants, incident metadata and query parameters.
 *
 * Each case says what the server must answer: the status, the error code (whole-request
 * errors) or the index and field of the first per-event error, and which event ids sent
 * alongside the bad ones must be kept. The server under test runs with the limits below and
 * its clock pinned at NOW.
 */
export const NOW_MS = Date.parse('2026-01-01T00:00:00Z')
export const CORPUS_LIMITS = { maxJsonBytes: 1024 * 1024, maxNdjsonBytes: 4 * 1024 * 1024 } as const
export const INCIDENT = 'inc-bad'

export interface BadRequest {
  name: string
  method: 'GET' | 'POST' | 'PUT'
  path: string
  headers: Record<string, string>
  body?: Buffer
  expect: {
    status: number
    /** error.code of a whole-request error (non-200). */
    code?: string
    /** The message (of the request error, or of the first per-event error) must match. */
    message?: RegExp
    accepted?: number
    rejected?: number
    /** index and field of the first listed per-event error. */
    errorAt?: { index: number; field: string }
  }
  /**
   * Event ids sent in this request that must be stored afterwards. (The lines of an NDJSON body
   * read before it crossed its size limit are processed, as the 413 says: id 'over-limit'.)
   */
  kept: string[]
}

type Ev = Record<string, unknown>
const AT = '2025-12-31T23:00:00.000Z'
let seq = 0
const nextId = () => `c${++seq}`

const lost = (id: string): Ev => ({ event_id: id, incident_id: INCIDENT, type: 'access_lost', occurred_at: AT, tenant_id: 'acme' })
const base: Record<string, (id: string) => Ev> = {
  access_lost: lost,
  restore_progress: (id) => ({ ...lost(id), type: 'restore_progress', progress: 0.5 }),
  communication: (id) => ({ ...lost(id), type: 'communication', channel: 'email', message: 'update' }),
  milestone: (id) => ({ event_id: id, incident_id: INCIDENT, type: 'milestone', occurred_at: AT, label: 'root cause found' }),
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v))
const H_JSON = { 'content-type': 'application/json' }
const H_NDJSON = { 'content-type': 'application/x-ndjson' }
const EVENTS = '/api/v1/events'

/** One invalid event, described by what to change in a valid one and which field must be named. */
interface FieldCase {
  name: string
  kind?: keyof typeof base
  change: (e: Ev) => void
  field: string
  message: RegExp
}

const set = (k: string, v: unknown) => (e: Ev) => void (e[k] = v)
const drop = (k: string) => (e: Ev) => void delete e[k]

function fieldCases(): FieldCase[] {
  const out: FieldCase[] = []
  const wrong: [string, unknown][] = [
    ['number', 123],
    ['boolean', true],
    ['array', ['x']],
    ['object', { a: 1 }],
    ['float', 1.5],
  ]
  for (const field of ['event_id', 'incident_id', 'tenant_id', 'message']) {
    for (const [what, v] of wrong) out.push({ name: `${field} is a ${what}`, change: set(field, v), field, message: /must be a string/ })
  }
  for (const [what, v] of wrong) out.push({ name: `label is a ${what}`, kind: 'milestone', change: set('label', v), field: 'label', message: /must be a string/ })
  for (const [what, v] of [['a string', '0.5'], ['a boolean', true], ['an array', [0.5]], ['an object', {}]] as const) {
    out.push({ name: `progress is ${what}`, kind: 'restore_progress', change: set('progress', v), field: 'progress', message: /must be a number from 0 to 1/ })
  }
  for (const v of [-0.1, 1.01, 1e308, -1e308, 2]) {
    out.push({ name: `progress ${v} out of range`, kind: 'restore_progress', change: set('progress', v), field: 'progress', message: /must be from 0 to 1/ })
  }
  for (const v of [5, 'fax', 'EMAIL', '', 'email ']) {
    out.push({ name: `channel ${JSON.stringify(v)}`, kind: 'communication', change: set('channel', v), field: 'channel', message: /must be one of email, ticket/ })
  }
  for (const v of ['ACCESS_LOST', 'unknown', '', 5, 'access_lost ', 'com.example.access_lost']) {
    out.push({ name: `type ${JSON.stringify(v)}`, change: set('type', v), field: 'type', message: /must be one of access_lost, access_restored/ })
  }
  const badTime: [string, RegExp][] = [
    ['2022-04-05T07:38:00', /RFC 3339/],
    ['2022-04-05', /RFC 3339/],
    ['2022-04-05 07:38', /RFC 3339/],
    ['now', /RFC 3339/],
    ['', /RFC 3339/],
    ['2022-04-05T07:38:00Z ', /RFC 3339/],
    [' 2022-04-05T07:38:00Z', /RFC 3339/],
    ['２０２２-04-05T07:38:00Z', /RFC 3339/],
    ['2022-04-05T07:38:00.1234567890Z', /RFC 3339/],
    ['2022-04-05T07:38:00.Z', /RFC 3339/],
    ['2022-04-05T07:38:00+0530', /RFC 3339/],
    ['2022-13-05T07:38:00Z', /invalid month 13/],
    ['2022-00-05T07:38:00Z', /invalid month 00/],
    ['2022-02-30T07:38:00Z', /invalid day 30 for month 02/],
    ['2023-02-29T07:38:00Z', /invalid day 29 for month 02/],
    ['2022-04-05T24:00:00Z', /invalid hour 24/],
    ['2022-04-05T07:60:00Z', /invalid minute 60/],
    ['2022-04-05T23:59:60Z', /invalid second 60/],
    ['2022-04-05T07:38:00+25:00', /invalid offset \+25:00/],
    ['9999-12-31T23:59:59Z', /more than 5 minutes in the future/],
    ['2026-01-01T00:05:00.001Z', /more than 5 minutes in the future/],
    ['2026-01-01T02:00:00+01:00', /more than 5 minutes in the future/],
    ['1969-12-31T23:59:59.999Z', /before 1970/],
    ['0000-01-01T00:00:00Z', /before 1970/],
    ['1970-01-01T00:30:00+01:00', /before 1970/],
  ]
  for (const [v, m] of badTime) out.push({ name: `occurred_at ${JSON.stringify(v)}`, change: set('occurred_at', v), field: 'occurred_at', message: m })
  out.push({ name: 'occurred_at as epoch milliseconds', change: set('occurred_at', 1649144280000), field: 'occurred_at', message: /must be an RFC 3339 timestamp string \(got number\)/ })
  out.push({ name: 'occurred_at as an object', change: set('occurred_at', { $date: AT }), field: 'occurred_at', message: /got object/ })
  for (const f of ['event_id', 'incident_id', 'type', 'occurred_at']) {
    out.push({ name: `missing ${f}`, change: drop(f), field: f, message: /is required/ })
    out.push({ name: `${f} null`, change: set(f, null), field: f, message: /is required/ })
  }
  for (const t of ['access_lost', 'access_restored', 'restore_started', 'restore_progress', 'restore_completed']) {
    out.push({ name: `${t} without tenant_id`, kind: t === 'restore_progress' ? 'restore_progress' : 'access_lost', change: (e) => ((e.type = t), delete e.tenant_id), field: 'tenant_id', message: new RegExp(`is required for ${t} events`) })
  }
  out.push({ name: 'restore_progress without progress', kind: 'restore_progress', change: drop('progress'), field: 'progress', message: /is required for restore_progress/ })
  out.push({ name: 'milestone with a tenant_id', kind: 'milestone', change: set('tenant_id', 'acme'), field: 'tenant_id', message: /must be absent for milestone/ })
  out.push({ name: 'progress on access_lost', change: set('progress', 0.5), field: 'progress', message: /only allowed for restore_progress/ })
  out.push({ name: 'channel on access_lost', change: set('channel', 'email'), field: 'channel', message: /only allowed for communication/ })
  out.push({ name: 'label on access_lost', change: set('label', 'x'), field: 'label', message: /only allowed for milestone/ })
  for (const k of ['foo', 'eventId', 'Event_id', 'data', 'tenant', 'constructor']) {
    out.push({ name: `extra field ${k}`, change: set(k, 'x'), field: k, message: /unknown field/ })
  }
  const long: [string, number, string][] = [
    ['event_id', 129, 'x'],
    ['incident_id', 129, 'x'],
    ['tenant_id', 257, 'x'],
    ['tenant_id', 257, '💥'],
    ['message', 4097, 'm'],
    ['message', 100_000, 'm'],
  ]
  for (const [f, n, ch] of long) out.push({ name: `${f} of ${n} ${ch === 'x' || ch === 'm' ? 'ASCII' : 'emoji'} characters`, change: set(f, ch.repeat(n)), field: f, message: /must be at most \d+ characters/ })
  out.push({ name: 'label of 257 characters', kind: 'milestone', change: set('label', 'l'.repeat(257)), field: 'label', message: /must be at most 256 characters \(got 257\)/ })
  for (const f of ['event_id', 'incident_id', 'tenant_id']) out.push({ name: `empty ${f}`, change: set(f, ''), field: f, message: /must not be empty/ })
  for (const v of ['a b', 'a/b', 'ünï', 'a\u0000b', "x'; --", 'a\nb']) {
    out.push({ name: `incident_id ${JSON.stringify(v)} outside the charset`, change: set('incident_id', v), field: 'incident_id', message: /may only contain letters, digits/ })
  }
  for (const f of ['tenant_id', 'message', 'event_id']) out.push({ name: `${f} with a lone surrogate`, change: set(f, 'a\ud800b'), field: f, message: /lone surrogate/ })
  out.push({ name: 'message nested 1,000 deep', change: set('message', nested(1_000)), field: 'message', message: /must be a string \(got array\)/ })
  return out
}

/** [[[…]]] `depth` deep, as a value. */
function nested(depth: number): unknown {
  let v: unknown = []
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

/** JSON texts that do not parse. */
const BROKEN_JSON: string[] = [
  '{',
  '{"event_id": "x"',
  '{"event_id": "x",}',
  "{'event_id': 'x'}",
  '{event_id: "x"}',
  '{"a": NaN}',
  '{"a": Infinity}',
  '{"a": 01}',
  '{"a": .5}',
  '{"a": 1e}',
  '{"a": "x" /* comment */}',
  '{"a": "unterminated}',
  '{"a": "bad escape \\q"}',
  '{"a": "\\u12"}',
  '{"a": "raw\u0001control"}',
  '{"a": "raw\u0000nul"}',
  '{"a": "tab\there"}',
  '[1, 2',
  '{}}',
  'undefined',
  'event_id=x&type=access_lost',
  '<event id="x"/>',
  '\u0000\u0001\u0002',
  '{"a":1}{"b":2}',
]

function corpus(): BadRequest[] {
  const out: BadRequest[] = []
  const add = (c: Omit<BadRequest, 'kept'> & { kept?: string[] }) => out.push({ kept: [], ...c })

  // Per-event errors: the bad event between two good ones, as a JSON array and as NDJSON lines.
  for (const fc of fieldCases()) {
    for (const form of ['json', 'ndjson'] as const) {
      const [a, b, c] = [nextId(), nextId(), nextId()]
      const bad = (base[fc.kind ?? 'access_lost'] ?? lost)(`${c}-bad`)
      fc.change(bad)
      const events = [lost(a), bad, lost(b)]
      const body = form === 'json' ? json(events) : Buffer.from(events.map((e) => JSON.stringify(e)).join('\n') + '\n')
      add({
        name: `${form}: ${fc.name}`,
        method: 'POST',
        path: EVENTS,
        headers: form === 'json' ? H_JSON : H_NDJSON,
        body,
        expect: { status: 200, accepted: 2, rejected: 1, errorAt: { index: 1, field: fc.field }, message: fc.message },
        kept: [a, b],
      })
    }
  }

  // Non-objects where an event should be.
  for (const v of [5, 'str', null, [], true, [lost('nested-bad')]]) {
    const [a, b] = [nextId(), nextId()]
    add({
      name: `json: event is ${JSON.stringify(v)}`,
      method: 'POST',
      path: EVENTS,
      headers: H_JSON,
      body: json([lost(a), v, lost(b)]),
      expect: { status: 200, accepted: 2, rejected: 1, errorAt: { index: 1, field: '' }, message: /event must be a JSON object/ },
      kept: [a, b],
    })
  }

  // Broken JSON: a whole JSON body → 400; the same text as one NDJSON line → a per-line error.
  for (const text of BROKEN_JSON) {
    add({ name: `json body ${JSON.stringify(text).slice(0, 40)}`, method: 'POST', path: EVENTS, headers: H_JSON, body: Buffer.from(text), expect: { status: 400, code: 'malformed_json', message: /malformed JSON/ } })
    const [a, b] = [nextId(), nextId()]
    const lines = [JSON.stringify(lost(a)), '', text.replace(/\n/g, ' '), JSON.stringify(lost(b))].join('\n')
    add({
      name: `ndjson line ${JSON.stringify(text).slice(0, 40)}`,
      method: 'POST',
      path: EVENTS,
      headers: H_NDJSON,
      body: Buffer.from(lines),
      expect: { status: 200, accepted: 2, rejected: 1, errorAt: { index: 2, field: '' }, message: /malformed JSON|event must be a JSON object/ },
      kept: [a, b],
    })
  }
  for (const text of ['', '   ', '\ufeff', '\n\n']) {
    add({ name: `json body blank ${JSON.stringify(text)}`, method: 'POST', path: EVENTS, headers: H_JSON, body: Buffer.from(text), expect: { status: 400, code: 'malformed_json', message: /empty/ } })
  }
  for (const text of ['5', '"x"', 'null', 'true']) {
    add({ name: `json body is ${text}`, method: 'POST', path: EVENTS, headers: H_JSON, body: Buffer.from(text), expect: { status: 400, code: 'bad_request', message: /event object or an array/ } })
  }
  add({ name: 'json body is an empty array', method: 'POST', path: EVENTS, headers: H_JSON, body: Buffer.from('[]'), expect: { status: 200, accepted: 0, rejected: 0 } })
  add({ name: 'ndjson body is empty', method: 'POST', path: EVENTS, headers: H_NDJSON, body: Buffer.alloc(0), expect: { status: 200, accepted: 0, rejected: 0 } })

  // Deep nesting of the whole body.
  for (const depth of [1_000, 100_000]) {
    add({ name: `json body nested ${depth} deep`, method: 'POST', path: EVENTS, headers: H_JSON, body: Buffer.from('['.repeat(depth) + ']'.repeat(depth)), expect: { status: 200, accepted: 0, rejected: 1, errorAt: { index: 0, field: '' } } })
    add({ name: `json object nested ${depth} deep`, method: 'POST', path: EVENTS, headers: H_JSON, body: Buffer.from('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)), expect: { status: 200, accepted: 0, rejected: 1, errorAt: { index: 0, field: 'a' }, message: /unknown field/ } })
  }
  {
    const [a] = [nextId()]
    add({ name: 'ndjson line nested 100,000 deep', method: 'POST', path: EVENTS, headers: H_NDJSON, body: Buffer.from(['['.repeat(100_000) + ']'.repeat(100_000), JSON.stringify(lost(a))].join('\n')), expect: { status: 200, accepted: 1, rejected: 1, errorAt: { index: 0, field: '' } }, kept: [a] })
  }

  // Huge numbers.
  for (const n of ['1e400', '-1e400', '123456789012345678901234567890', '1e-400']) {
    const [a] = [nextId()]
    const text = `[${JSON.stringify(lost(a))}, ${JSON.stringify(base.restore_progress!(`${nextId()}-bad`)).replace('0.5', n)}]`
    const ok = n === '1e-400' // underflows to 0: a valid progress
    add({
      name: `progress ${n}`,
      method: 'POST',
      path: EVENTS,
      headers: H_JSON,
      body: Buffer.from(ok ? `[${JSON.stringify(lost(a))}]` : text),
      expect: ok ? { status: 200, accepted: 1, rejected: 0 } : { status: 200, accepted: 1, rejected: 1, errorAt: { index: 1, field: 'progress' } },
      kept: [a],
    })
  }

  // Invalid UTF-8 and control characters.
  const invalidUtf8: [string, Buffer][] = [
    ['0xff byte', Buffer.from([0xff])],
    ['overlong slash', Buffer.from([0xc0, 0xaf])],
    ['truncated euro sign', Buffer.from([0xe2, 0x82])],
    ['CESU surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ['code point above U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
    ['lone continuation byte', Buffer.from([0x80])],
  ]
  for (const [what, bytes] of invalidUtf8) {
    const [a, b, c] = [nextId(), nextId(), nextId()]
    const [pre, post] = JSON.stringify({ ...lost(`${c}-bad`), tenant_id: 'X' }).split('"X"')
    const badLine = Buffer.concat([Buffer.from(`${pre}"a`), bytes, Buffer.from(`b"${post}`)])
    add({
      name: `ndjson line with invalid UTF-8 (${what})`,
      method: 'POST',
      path: EVENTS,
      headers: H_NDJSON,
      body: Buffer.concat([Buffer.from(JSON.stringify(lost(a)) + '\n'), badLine, Buffer.from('\n' + JSON.stringify(lost(b)) + '\n')]),
      expect: { status: 200, accepted: 2, rejected: 1, errorAt: { index: 1, field: '' }, message: /not valid UTF-8/ },
      kept: [a, b],
    })
    add({
      name: `json body with invalid UTF-8 (${what})`,
      method: 'POST',
      path: EVENTS,
      headers: H_JSON,
      body: Buffer.concat([Buffer.from(`[${JSON.stringify(lost(`${nextId()}-dropped-bad`))},`), badLine, Buffer.from(']')]),
      expect: { status: 400, code: 'invalid_utf8', message: /not valid UTF-8 at byte \d+/ },
    })
  }
  {
    // Escaped control characters are text: stored as sent.
    const [a] = [nextId()]
    add({ name: 'escaped control characters in message and tenant_id are kept', method: 'POST', path: EVENTS, headers: H_JSON, body: json([{ ...lost(a), tenant_id: 'nul\u0000bell\u0007esc\u001b', message: '\u0000\u0001\u001f\u007f\u2028' }]), expect: { status: 200, accepted: 1, rejected: 0 }, kept: [a] })
  }

  // Content types, charsets and encodings.
  const good = () => {
    const id = nextId()
    return { id, body: json(lost(id)) }
  }
  for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'text/json', 'application/octet-stream', 'application/json-seq', 'application/vnd.api+json']) {
    add({ name: `content type ${type}`, method: 'POST', path: EVENTS, headers: { 'content-type': type }, body: good().body, expect: { status: 415, code: 'unsupported_media_type', message: /is not supported; send one of application\/json/ } })
  }
  add({ name: 'no content type', method: 'POST', path: EVENTS, headers: {}, body: good().body, expect: { status: 415, code: 'unsupported_media_type', message: /\(missing\)/ } })
  for (const cs of ['latin1', 'utf-16', 'iso-8859-1']) {
    add({ name: `charset ${cs}`, method: 'POST', path: EVENTS, headers: { 'content-type': `application/json; charset=${cs}` }, body: good().body, expect: { status: 415, code: 'unsupported_charset', message: new RegExp(`charset "${cs}" is not supported`) } })
  }
  for (const type of ['Application/JSON; charset="utf-8"', 'application/json;charset=UTF-8', 'application/jsonl']) {
    const g = good()
    add({ name: `accepted content type ${type}`, method: 'POST', path: EVENTS, headers: { 'content-type': type }, body: g.body, expect: { status: 200, accepted: 1, rejected: 0 }, kept: [g.id] })
  }
  for (const enc of ['br', 'compress', 'zstd']) {
    add({ name: `content encoding ${enc}`, method: 'POST', path: EVENTS, headers: { ...H_JSON, 'content-encoding': enc }, body: good().body, expect: { status: 415, code: 'unsupported_encoding' } })
  }
  for (const [type, path] of [['application/json', EVENTS], ['application/x-ndjson', EVENTS], ['application/x-ndjson', '/api/v1/tenants'], ['application/json', '/api/v1/tenants']] as const) {
    for (const enc of ['gzip', 'deflate']) {
      add({ name: `${enc} garbage as ${type} to ${path}`, method: 'POST', path, headers: { 'content-type': type, 'content-encoding': enc }, body: Buffer.from('this is not compressed'), expect: { status: 400, code: 'bad_body', message: /could not read the request body/ } })
    }
    add({ name: `truncated gzip as ${type} to ${path}`, method: 'POST', path, headers: { 'content-type': type, 'content-encoding': 'gzip' }, body: gzipSync(json([lost(`${nextId()}-bad`)])).subarray(0, 20), expect: { status: 400, code: 'bad_body' } })
  }

  // Gigantic bodies.
  const over = CORPUS_LIMITS.maxJsonBytes + 1
  add({ name: 'json body over the limit', method: 'POST', path: EVENTS, headers: H_JSON, body: Buffer.from(`["${'x'.repeat(over)}"]`), expect: { status: 413, code: 'too_large' } })
  add({ name: 'gzip bomb over the JSON limit', method: 'POST', path: EVENTS, headers: { ...H_JSON, 'content-encoding': 'gzip' }, body: gzipSync(Buffer.from(`["${' '.repeat(over * 4)}"]`)), expect: { status: 413, code: 'too_large' } })
  add({ name: 'tenants body over the limit', method: 'POST', path: '/api/v1/tenants', headers: H_JSON, body: Buffer.from(`["${'x'.repeat(over)}"]`), expect: { status: 413, code: 'too_large' } })
  add({ name: 'incident body over its limit', method: 'PUT', path: `/api/v1/incidents/${INCIDENT}`, headers: H_JSON, body: json({ title: 'x'.repeat(70_000) }), expect: { status: 413, code: 'too_large' } })
  add({ name: 'ndjson body over the limit', method: 'POST', path: EVENTS, headers: H_NDJSON, body: Buffer.from((JSON.stringify(lost('over-limit')) + '\n').repeat(Math.ceil((CORPUS_LIMITS.maxNdjsonBytes + 1) / 120))), expect: { status: 413, code: 'too_large', message: /NDJSON body exceeds/ } })
  {
    const [a, b] = [nextId(), nextId()]
    add({ name: 'ndjson line over 128 KiB between good lines', method: 'POST', path: EVENTS, headers: H_NDJSON, body: Buffer.from([JSON.stringify(lost(a)), JSON.stringify({ ...lost('long-bad'), message: 'm'.repeat(200_000) }), JSON.stringify(lost(b))].join('\n')), expect: { status: 200, accepted: 2, rejected: 1, errorAt: { index: 1, field: '' }, message: /line is longer than 131072 bytes/ }, kept: [a, b] })
  }
  add({ name: '50,000 invalid events: all counted, 100 listed', method: 'POST', path: EVENTS, headers: H_JSON, body: json(Array.from({ length: 50_000 }, () => ({}))), expect: { status: 200, accepted: 0, rejected: 50_000, errorAt: { index: 0, field: 'event_id' } } })

  // Query parameter atomic.
  for (const v of ['maybe', 'yes', '2']) add({ name: `atomic=${v}`, method: 'POST', path: `${EVENTS}?atomic=${v}`, headers: H_JSON, body: good().body, expect: { status: 400, code: 'bad_parameter', message: /atomic must be true or false/ } })

  // CloudEvents.
  const ce = (id: string, over: Ev = {}): Ev => ({ specversion: '1.0', id, source: 'test', type: 'com.example.outage.access_lost', time: AT, subject: 'acme', data: { incident_id: INCIDENT }, ...over })
  const ceCases: [string, (e: Ev) => void, string][] = [
    ['specversion 0.3', set('specversion', '0.3'), 'specversion'],
    ['missing specversion', drop('specversion'), 'specversion'],
    ['data a string', set('data', 'x'), 'data'],
    ['data an array', set('data', []), 'data'],
    ['data_base64', set('data_base64', 'eA=='), 'data_base64'],
    ['datacontenttype text/plain', set('datacontenttype', 'text/plain'), 'datacontenttype'],
    ['event_id inside data', (e) => void ((e.data as Ev).event_id = 'x'), 'data.event_id'],
    ['id a number', set('id', 5), 'id'],
    ['missing time', drop('time'), 'time'],
    ['unknown type', set('type', 'com.example.outage.exploded'), 'type'],
    ['subject on a milestone', set('type', 'com.example.milestone'), 'subject'],
  ]
  for (const [what, change, field] of ceCases) {
    const [a, b] = [nextId(), nextId()]
    const bad = ce(`${nextId()}-bad`)
    change(bad)
    add({ name: `cloudevents batch: ${what}`, method: 'POST', path: EVENTS, headers: { 'content-type': 'application/cloudevents-batch+json' }, body: json([ce(a), bad, ce(b)]), expect: { status: 200, accepted: 2, rejected: 1, errorAt: { index: 1, field } }, kept: [a, b] })
  }
  add({ name: 'cloudevents batch that is an object', method: 'POST', path: EVENTS, headers: { 'content-type': 'application/cloudevents-batch+json' }, body: json(ce('ce-obj-bad')), expect: { status: 400 } })
  add({ name: 'cloudevent that is an array', method: 'POST', path: EVENTS, headers: { 'content-type': 'application/cloudevents+json' }, body: json([ce('ce-arr-bad')]), expect: { status: 400 } })
  add({ name: 'binary cloudevent without ce-id', method: 'POST', path: EVENTS, headers: { ...H_JSON, 'ce-specversion': '1.0', 'ce-type': 'access_lost', 'ce-source': 'x', 'ce-time': AT, 'ce-subject': 'acme' }, body: json({ incident_id: INCIDENT }), expect: { status: 200, accepted: 0, rejected: 1, errorAt: { index: 0, field: 'id' } } })
  add({ name: 'binary cloudevent with a text body', method: 'POST', path: EVENTS, headers: { 'content-type': 'text/plain', 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 'access_lost', 'ce-source': 'x' }, body: Buffer.from('hello'), expect: { status: 415 } })

  // Tenants.
  const TENANTS = '/api/v1/tenants'
  const tenantCases: [string, unknown, string][] = [
    ['no tenant_id', { name: 'x' }, 'tenant_id'],
    ['numeric tenant_id', { tenant_id: 5 }, 'tenant_id'],
    ['empty tenant_id', { tenant_id: '' }, 'tenant_id'],
    ['tenant_id of 257 characters', { tenant_id: 't'.repeat(257) }, 'tenant_id'],
    ['name of 257 characters', { tenant_id: 'a', name: 'n'.repeat(257) }, 'name'],
    ['name a number', { tenant_id: 'a', name: 5 }, 'name'],
    ['attributes an array', { tenant_id: 'a', attributes: [] }, 'attributes'],
    ['attribute value an object', { tenant_id: 'a', attributes: { tier: { x: 1 } } }, 'attributes.tier'],
    ['attribute value a boolean', { tenant_id: 'a', attributes: { tier: true } }, 'attributes.tier'],
    ['attribute key with a space', { tenant_id: 'a', attributes: { 'my tier': 'x' } }, 'attributes.my tier'],
    ['attribute value of 257 characters', { tenant_id: 'a', attributes: { tier: 'v'.repeat(257) } }, 'attributes.tier'],
    ['65 attributes', { tenant_id: 'a', attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) }, 'attributes'],
    ['extra field', { tenant_id: 'a', tier: 'gold' }, ''],
    ['a string', 'acme', ''],
    ['null', null, ''],
  ]
  for (const [what, v, field] of tenantCases) {
    for (const form of ['json', 'ndjson'] as const) {
      const items = [{ tenant_id: `ok-${nextId()}` }, v, { tenant_id: `ok-${nextId()}` }]
      add({
        name: `tenants ${form}: ${what}`,
        method: 'POST',
        path: TENANTS,
        headers: form === 'json' ? H_JSON : H_NDJSON,
        body: form === 'json' ? json(items) : Buffer.from(items.map((i) => JSON.stringify(i)).join('\n')),
        expect: { status: 200, accepted: 2, rejected: 1, errorAt: { index: 1, field } },
      })
    }
  }
  add({ name: 'tenants broken JSON', method: 'POST', path: TENANTS, headers: H_JSON, body: Buffer.from('[{"tenant_id": "a"'), expect: { status: 400, code: 'malformed_json' } })
  add({ name: 'tenants as text/csv', method: 'POST', path: TENANTS, headers: { 'content-type': 'text/csv' }, body: Buffer.from('tenant_id\na'), expect: { status: 415, code: 'unsupported_media_type' } })

  // Incident metadata.
  const inc = (id: string) => `/api/v1/incidents/${id}`
  const incidentCases: [string, string, string | Buffer, number][] = [
    ['status unknown', inc(INCIDENT), JSON.stringify({ status: 'exploded' }), 400],
    ['title a number', inc(INCIDENT), JSON.stringify({ title: 5 }), 400],
    ['extra field', inc(INCIDENT), JSON.stringify({ owner: 'x' }), 400],
    ['body an array', inc(INCIDENT), JSON.stringify([{ title: 'x' }]), 400],
    ['body null (no change)', inc(INCIDENT), 'null', 200],
    ['broken JSON', inc(INCIDENT), '{"title": ', 400],
    ['title of 60,000 characters', inc(INCIDENT), JSON.stringify({ title: 't'.repeat(60_000) }), 400],
    ['id with a space', inc('a%20b'), JSON.stringify({ title: 'x' }), 400],
    ['id with a slash', inc('a%2Fb'), JSON.stringify({ title: 'x' }), 400],
    ['id of 129 characters', inc('i'.repeat(129)), JSON.stringify({ title: 'x' }), 400],
    ['id with a quote', inc("a'b"), JSON.stringify({ title: 'x' }), 400],
  ]
  for (const [what, path, body, status] of incidentCases) add({ name: `incident PUT: ${what}`, method: 'PUT', path, headers: H_JSON, body: Buffer.from(body), expect: { status } })
  add({ name: 'incident PUT as text/plain', method: 'PUT', path: inc(INCIDENT), headers: { 'content-type': 'text/plain' }, body: Buffer.from('{}'), expect: { status: 415 } })

  // Query parameters.
  const q = (p: string) => `/api/v1/incidents/${INCIDENT}${p}`
  const queryCases: [string, string][] = [
    ['as_of not a time', q('/summary?as_of=yesterday')],
    ['as_of year 99999', q('/summary?as_of=99999-01-01T00:00:00Z')],
    ['as_of twice', q('/summary?as_of=2022-04-05T00:00:00Z&as_of=2022-04-06T00:00:00Z')],
    ['stale_after not a duration', q('/summary?stale_after=forever')],
    ['include_broadcast maybe', q('/summary?include_broadcast=maybe')],
    ['bucket bogus', q('/recovery?bucket=sometimes')],
    ['bucket zero', q('/recovery?bucket=0s')],
    ['from after to', q('/recovery?from=2022-04-06T00:00:00Z&to=2022-04-05T00:00:00Z')],
    ['limit -1', q('/tenants?limit=-1')],
    ['limit 1001', q('/tenants?limit=1001')],
    ['limit not a number', q('/tenants?limit=ten')],
    ['offset huge', q('/tenants?offset=1e99')],
    ['sort unknown', q('/tenants?sort=name;DROP')],
    ['order sideways', q('/tenants?order=sideways')],
    ['state zombie', q('/tenants?state=zombie')],
    ['q of 257 characters', q(`/tenants?q=${'q'.repeat(257)}`)],
    ['bins 0', q('/downtime-histogram?bins=0')],
    ['bins 100000', q('/downtime-histogram?bins=100000')],
    ['attr with an empty name', q('/summary?attr.=x')],
    ['attr as a nested object', q('/summary?attr[tier][x]=1')],
    ['tenant id of 257 characters', q(`/tenants/${'t'.repeat(257)}/timeline`)],
  ]
  for (const [what, path] of queryCases) add({ name: `query: ${what}`, method: 'GET', path, headers: {}, expect: { status: 400 } })
  return out
}

export const BAD_REQUESTS: readonly BadRequest[] = corpus()
