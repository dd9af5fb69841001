import { request as httpRequest } from 'node:http'
import { CloudEvent, HTTP, type Message } from 'cloudevents'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * Events written by the official CloudEvents SDK (the `cloudevents` package, v10) POSTed to a real
 * server over HTTP, in each content mode, then read back from storage; and the HTTP binding's
 * Content-Type rules (which mode a request is in) checked over the wire, each row citing its rule
 * (cloudevents/spec v1.0.2, bindings/http-protocol-binding.md and formats/json-format.md).
 */

let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer()
})
afterAll(async () => srv?.stop())

const AT = '2022-04-10T10:00:00Z'

function post(headers: Record<string, unknown>, body: string | Uint8Array, query = '') {
  const h: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) h[k] = String(v)
  return srv.api(`/api/v1/events${query}`, { method: 'POST', headers: h, body: typeof body === 'string' ? body : new Uint8Array(body), token: TOKENS.ingest })
}
const send = (m: Message) => post(m.headers, m.body as string | Uint8Array)

interface StoredEvent {
  tenant_id: string
  event_id: string
  type: string
  occurred_at: string
  progress: number | null
  channel: string
  label: string
  message: string
}
const stored = (incident: string) =>
  srv.store.rows<StoredEvent>(
    `SELECT tenant_id, event_id, type, occurred_at, progress, channel, label, message
     FROM ${srv.store.db}.events FINAL WHERE incident_id = {i:String} ORDER BY event_id`,
    { i: incident },
  )
const row = (over: Partial<StoredEvent>): StoredEvent => ({
  tenant_id: 'acme',
  event_id: '',
  type: 'access_lost',
  occurred_at: '2022-04-10T10:00:00.000Z',
  progress: null,
  channel: '',
  label: '',
  message: '',
  ...over,
})
const ok = (accepted: number) => ({ accepted, rejected: 0, errors: [] })

describe('events from the official CloudEvents SDK', () => {
  it('stores an event sent with HTTP.structured, extension attributes included', async () => {
    const ce = new CloudEvent({
      id: 'sdk-s1',
      source: 'https://example.com/restore-bot',
      type: 'com.example.outage.restore_progress',
      time: AT,
      subject: 'acme',
      dataschema: 'https://example.com/schemas/outage-event.json',
      data: { incident_id: 'inc-sdk-structured', progress: 0.5 },
      comexampleextension1: 'value',
      comexampleothervalue: 5,
      flag: true,
    })
    const message = HTTP.structured(ce)
    expect(message.headers).toEqual({ 'content-type': 'application/cloudevents+json; charset=utf-8' })
    const res = await send(message)
    expect([res.status, await res.json()]).toEqual([200, ok(1)])
    expect(await stored('inc-sdk-structured')).toEqual([row({ event_id: 'sdk-s1', type: 'restore_progress', progress: 0.5 })])
  })

  it('stores an event sent with HTTP.binary: extensions as ce- headers, data as the body', async () => {
    const ce = new CloudEvent({
      id: 'sdk-b1',
      source: '/comms',
      type: 'com.example.outage.communication',
      time: AT,
      subject: 'globex',
      data: { incident_id: 'inc-sdk-binary', channel: 'email', message: 'we are on it' },
      comexampleextension1: 'value',
      comexampleothervalue: 5,
      flag: true,
    })
    const message = HTTP.binary(ce)
    expect(message.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'ce-comexampleothervalue': 5, 'ce-flag': true })
    const res = await send(message)
    expect([res.status, await res.json()]).toEqual([200, ok(1)])
    expect(await stored('inc-sdk-binary')).toEqual([row({ event_id: 'sdk-b1', tenant_id: 'globex', type: 'communication', channel: 'email', message: 'we are on it' })])
  })

  it('takes optional attributes the SDK writes as null as absent (structured mode)', async () => {
    const ce = new CloudEvent({
      id: 'sdk-n1',
      source: '/comms',
      type: 'com.example.outage.communication',
      time: AT,
      subject: null,
      datacontenttype: null,
      dataschema: null,
      data: { incident_id: 'inc-sdk-null', channel: 'status_page' },
    } as never)
    const message = HTTP.structured(ce)
    expect(JSON.parse(message.body as string)).toMatchObject({ subject: null, datacontenttype: null, dataschema: null })
    const res = await send(message)
    expect([res.status, await res.json()]).toEqual([200, ok(1)])
    expect(await stored('inc-sdk-null')).toEqual([row({ event_id: 'sdk-n1', tenant_id: '', type: 'communication', channel: 'status_page' })])
  })

  it('decodes data_base64 holding JSON, from HTTP.structured and HTTP.binary', async () => {
    const data_base64 = Buffer.from(JSON.stringify({ incident_id: 'inc-sdk-base64', message: 'from bytes' })).toString('base64')
    const ce = (id: string) => new CloudEvent({ id, source: '/x', type: 'com.example.outage.access_lost', time: AT, subject: 'acme', datacontenttype: 'application/json', data_base64 })
    const structured = HTTP.structured(ce('sdk-64s'))
    expect(JSON.parse(structured.body as string)).toMatchObject({ data_base64, datacontenttype: 'application/json' })
    const binary = HTTP.binary(ce('sdk-64b'))
    expect(binary.body).toBeInstanceOf(Uint8Array)
    for (const m of [structured, binary]) {
      const res = await send(m)
      expect([res.status, await res.json()]).toEqual([200, ok(1)])
    }
    expect(await stored('inc-sdk-base64')).toEqual([row({ event_id: 'sdk-64b', message: 'from bytes' }), row({ event_id: 'sdk-64s', message: 'from bytes' })])
  })

  it('refuses data_base64 of a non-JSON datacontenttype with a per-event error', async () => {
    const ce = new CloudEvent({ id: 'sdk-png', source: '/x', type: 'com.example.outage.access_lost', time: AT, subject: 'acme', datacontenttype: 'image/png', data: new Uint8Array([0x89, 0x50, 0x4e, 0x47]) })
    const res = await send(HTTP.structured(ce))
    expect([res.status, await res.json()]).toEqual([
      200,
      {
        accepted: 0,
        rejected: 1,
        errors: [{ index: 0, field: 'datacontenttype', message: 'Aftermath reads event data as JSON: datacontenttype must be application/json or another */json or */*+json type (got "image/png")' }],
      },
    ])
  })

  it('keeps the good events of a batch of SDK events and names the attribute of each bad one', async () => {
    const base = { source: '/restore-bot', type: 'com.example.outage.access_lost', time: AT, subject: 'acme', data: { incident_id: 'inc-sdk-batch' } }
    // The SDK refuses a bad extension name unless told not to validate ("strict" false), as a careless producer might.
    expect(() => new CloudEvent({ ...base, id: 'x', Bad_Name: 1 })).toThrow(/invalid extension name: Bad_Name/)
    const events = [
      new CloudEvent({ ...base, id: 'sdk-batch-1', comexampleextension1: 'value' }),
      new CloudEvent({ ...base, id: 'sdk-batch-2', Bad_Name: 1 }, false),
      new CloudEvent({ ...base, id: 'sdk-batch-3', subject: 'globex', datacontenttype: null, dataschema: null } as never),
      // The SDK lets an object be an extension value; the type system does not (spec.md, Type System).
      new CloudEvent({ ...base, id: 'sdk-batch-4', comexampleobject: { a: 1 } }),
      new CloudEvent({ ...base, id: 'sdk-batch-5', dataschema: 'schemas/outage.json' }, false),
    ]
    const res = await post({ 'content-type': 'application/cloudevents-batch+json; charset=utf-8' }, JSON.stringify(events))
    expect([res.status, await res.json()]).toEqual([
      200,
      {
        accepted: 2,
        rejected: 3,
        errors: [
          { index: 1, field: 'Bad_Name', message: "CloudEvents 1.0: is not a valid attribute name: names consist of lower-case letters 'a' to 'z' and digits '0' to '9' only" },
          { index: 3, field: 'comexampleobject', message: 'CloudEvents 1.0: must be a string, a boolean or an integer (got object)' },
          { index: 4, field: 'dataschema', message: 'CloudEvents 1.0: must be an absolute URI (RFC 3986 §4.3): a scheme such as https:, and no #fragment' },
        ],
      },
    ])
    expect(await stored('inc-sdk-batch')).toEqual([row({ event_id: 'sdk-batch-1' }), row({ event_id: 'sdk-batch-3', tenant_id: 'globex' })])
  })

  it('an atomic batch with one bad SDK event keeps none', async () => {
    const base = { source: '/x', type: 'com.example.outage.access_lost', time: AT, subject: 'acme', data: { incident_id: 'inc-sdk-atomic' } }
    const events = [new CloudEvent({ ...base, id: 'sdk-atomic-1' }), new CloudEvent({ ...base, id: 'sdk-atomic-2', source: 'not a uri' }, false)]
    const res = await post({ 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify(events), '?atomic=true')
    expect(res.status).toBe(422)
    expect((await res.json()).errors).toEqual([
      { index: 1, field: 'source', message: 'CloudEvents 1.0: must be a URI-reference (RFC 3986 §4.1): no spaces, quotes or other characters outside the URI grammar, and % only as %XX' },
    ])
    expect(await stored('inc-sdk-atomic')).toEqual([])
  })
})

/** One request with raw header lines (fetch folds a repeated header into one line; the binding cares about distinct headers). */
function postRaw(rawHeaders: string[], body: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${srv.url}/api/v1/events`, { method: 'POST', headers: ['host', new URL(srv.url).host, ...rawHeaders, 'authorization', `Bearer ${TOKENS.ingest}`] })
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, body: JSON.parse(text) })
        } catch {
          reject(new Error(`${res.statusCode}: ${text.slice(0, 200)} ${JSON.stringify(res.headers)}`))
        }
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('content modes over HTTP', () => {
  const BIN = { 'ce-specversion': '1.0', 'ce-source': '/x', 'ce-type': 'com.example.outage.access_lost', 'ce-time': AT, 'ce-subject': 'acme' }
  const structuredEvent = (id: string, incident: string) => JSON.stringify({ specversion: '1.0', id, source: '/x', type: 'com.example.outage.access_lost', time: AT, subject: 'acme', data: { incident_id: incident } })

  const rows: { rule: string; headers: Record<string, string>; body: string; status: number; answer: unknown; stores?: [string, string[]] }[] = [
    {
      rule: '"If the value is prefixed with the CloudEvents media type application/cloudevents … the receiver uses structured mode" and "All CloudEvents metadata attributes MUST be mapped into the payload, even if they are also mapped into HTTP headers." (http-protocol-binding.md §3, §3.2.3): ce- headers beside a structured body are ignored',
      headers: { 'content-type': 'application/cloudevents+json', ...BIN, 'ce-id': 'from-header' },
      body: structuredEvent('from-body', 'inc-mode-structured'),
      status: 200,
      answer: ok(1),
      stores: ['inc-mode-structured', ['from-body']],
    },
    {
      rule: '"If the value is prefixed with application/cloudevents-batch, the receiver uses the batched mode." and "The batch MAY be empty." (http-protocol-binding.md §3, §3.3.2)',
      headers: { 'content-type': 'application/cloudevents-batch+json; charset=UTF-8' },
      body: '[]',
      status: 200,
      answer: ok(0),
    },
    {
      rule: '"The outermost JSON element is a JSON Array" (json-format.md §4.1): a batch that is an object is not a batch',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: structuredEvent('batch-object', 'inc-mode-batch-object'),
      status: 400,
      answer: { error: { code: 'bad_request', message: 'a cloudevents-batch+json body must be a JSON array of CloudEvents' } },
    },
    {
      rule: '"If a receiver detects the CloudEvents media type, but with an event format that it cannot handle, for instance application/cloudevents+avro, it MAY still treat the event as binary and forward it to another party as-is." (http-protocol-binding.md §3): not a forwarder, we refuse it',
      headers: { 'content-type': 'application/cloudevents+avro', ...BIN, 'ce-id': 'avro' },
      body: 'Obj\u0001',
      status: 415,
      answer: {
        error: {
          code: 'unsupported_media_type',
          message: 'Content-Type "application/cloudevents+avro" is not supported; send one of application/json, application/x-ndjson, application/cloudevents+json, application/cloudevents-batch+json',
        },
      },
    },
    {
      rule: '"Otherwise it defaults to binary mode." and "the HTTP Content-Type header value corresponds to … the CloudEvents datacontenttype attribute" (http-protocol-binding.md §3, §3.1.1): a */*+json data type is JSON (json-format.md §3.1.1)',
      headers: { 'content-type': 'application/vnd.example.outage+json', ...BIN, 'ce-id': 'vnd-json' },
      body: JSON.stringify({ incident_id: 'inc-mode-vnd' }),
      status: 200,
      answer: ok(1),
      stores: ['inc-mode-vnd', ['vnd-json']],
    },
    {
      rule: '"In the binary content mode, the value of the event data is placed into the HTTP request … body as-is, with the datacontenttype attribute value declaring its media type in the HTTP Content-Type header" (http-protocol-binding.md §1.3): text data cannot carry incident_id',
      headers: { 'content-type': 'text/plain', ...BIN, 'ce-id': 'text' },
      body: 'inc-mode-text',
      status: 415,
      answer: {
        error: {
          code: 'unsupported_media_type',
          message: 'Content-Type "text/plain" is not supported; send one of application/json or another */json or */*+json type (the data of a binary-mode CloudEvent is read as JSON)',
        },
      },
    },
    {
      rule: '"it would be reasonable for a receiver to assume that if the message has all of the mandatory CloudEvents attributes as HTTP headers then it\'s probably a CloudEvent" (http-protocol-binding.md §3): a request with ce-id but no ce-specversion is binary mode, and told what is missing',
      headers: { 'content-type': 'application/json', 'ce-id': 'no-version', 'ce-source': '/x', 'ce-type': 'com.example.outage.access_lost', 'ce-time': AT, 'ce-subject': 'acme' },
      body: JSON.stringify({ incident_id: 'inc-mode-no-version' }),
      status: 200,
      answer: { accepted: 0, rejected: 1, errors: [{ index: 0, field: 'specversion', message: 'CloudEvents 1.0: is required (header ce-specversion)' }] },
    },
    {
      rule: '"When decoding an HTTP message into a CloudEvent … A single round of percent-decoding MUST then be performed" (http-protocol-binding.md §3.1.3.2)',
      headers: { 'content-type': 'application/json; charset=utf-8', ...BIN, 'ce-id': 'pct', 'ce-subject': 'Euro%20%E2%82%AC%20%F0%9F%98%80' },
      body: JSON.stringify({ incident_id: 'inc-mode-pct' }),
      status: 200,
      answer: ok(1),
      stores: ['inc-mode-pct', ['pct']],
    },
  ]

  it.each(rows)('$rule', async ({ headers, body, status, answer, stores }) => {
    const res = await post(headers, body)
    expect([res.status, await res.json()]).toEqual([status, answer])
    if (stores) expect((await stored(stores[0])).map((r) => r.event_id)).toEqual(stores[1])
  })

  it('refuses an attribute sent in two ce- header lines', async () => {
    // "All other CloudEvents attributes, including extensions, MUST be individually mapped to and from distinct HTTP message header." (http-protocol-binding.md §3.1.3)
    const headers = ['content-type', 'application/json', 'ce-specversion', '1.0', 'ce-id', 'twice-1', 'ce-id', 'twice-2', 'ce-source', '/x', 'ce-type', 'com.example.outage.access_lost', 'ce-time', AT, 'ce-subject', 'acme']
    expect(await postRaw(headers, JSON.stringify({ incident_id: 'inc-mode-twice' }))).toEqual({
      status: 200,
      body: { accepted: 0, rejected: 1, errors: [{ index: 0, field: 'id', message: 'CloudEvents 1.0: sent in 2 ce-id headers; each attribute maps to one distinct header' }] },
    })
    expect(await stored('inc-mode-twice')).toEqual([])
  })
})
