import { describe, expect, it } from 'vitest'
import { validateCandidates } from '../../server/ingest/events.js'
import { cloudEventField, cloudEventsFromBody, mapBinaryCloudEvent, type MappedCloudEvent } from '../../server/ingest/parse-cloudevents.js'
import type { EventRow } from '../../server/ingest/types.js'

/**
 * CloudEvents 1.0.2 conformance, one row per rule: `rule` quotes the wording of the specification
 * (spec.md, formats/json-format.md, bindings/http-protocol-binding.md of cloudevents/spec v1.0.2)
 * and the row's expected outcome is the whole result: the stored rows, or the exact per-event
 * errors, or the 400 for a body that is not a CloudEvent at all. Rows marked "Aftermath" are
 * valid CloudEvents refused by our own rules (SPEC §2/§4), so their messages must say so.
 * Content-Type dispatch (which mode a request is) is covered over HTTP in
 * test/integration/cloudevents-sdk.test.ts.
 */

const NOW_MS = Date.parse('2022-04-10T12:00:00Z')

type Ev = Record<string, unknown>
type HeaderMap = Record<string, string | string[]>
type BinaryInput = { mode: 'binary'; headers: HeaderMap; data?: unknown }
type Input = { mode: 'structured' | 'batch'; body: unknown } | BinaryInput
type Err = { index: number; field: string; message: string }
type Expected = { stored: EventRow[]; errors: Err[] } | { status: 400; message: string }
interface Row {
  name: string
  rule: string
  input: Input
  expected: Expected
}

const ce = (over: Ev = {}): Ev => ({
  specversion: '1.0',
  id: 'e1',
  source: '/restore-bot',
  type: 'com.example.outage.access_lost',
  time: '2022-04-10T10:00:00Z',
  subject: 'acme',
  data: { incident_id: 'inc-1' },
  ...over,
})
const without = (e: Ev, ...names: string[]): Ev => Object.fromEntries(Object.entries(e).filter(([k]) => !names.includes(k)))
const structured = (body: unknown): Input => ({ mode: 'structured', body })
const batch = (body: unknown): Input => ({ mode: 'batch', body })

const HEADERS: HeaderMap = {
  'ce-specversion': '1.0',
  'ce-id': 'e1',
  'ce-source': '/restore-bot',
  'ce-type': 'com.example.outage.access_lost',
  'ce-time': '2022-04-10T10:00:00Z',
  'ce-subject': 'acme',
  'content-type': 'application/json',
}
const binary = (over: Record<string, string | string[] | undefined> = {}, data: unknown = { incident_id: 'inc-1' }): BinaryInput => {
  const headers: HeaderMap = {}
  for (const [k, v] of Object.entries({ ...HEADERS, ...over })) if (v !== undefined) headers[k] = v
  return { mode: 'binary', headers, data }
}

const stored = (over: Partial<EventRow> = {}): EventRow => ({
  incident_id: 'inc-1',
  tenant_id: 'acme',
  event_id: 'e1',
  type: 'access_lost',
  occurred_at: '2022-04-10 10:00:00.000',
  progress: null,
  channel: '',
  label: '',
  message: '',
  ...over,
})
const accepted = (...rows: EventRow[]): Expected => ({ stored: rows, errors: [] })
const rejected = (...errors: { field: string; message: string; index?: number }[]): Expected => ({
  stored: [],
  errors: errors.map((e) => ({ index: e.index ?? 0, field: e.field, message: e.message })),
})

const REQUIRED = 'CloudEvents 1.0: is required'
const NON_EMPTY = 'CloudEvents 1.0: must be a non-empty string'
const URI_REFERENCE = 'CloudEvents 1.0: must be a URI-reference (RFC 3986 §4.1): no spaces, quotes or other characters outside the URI grammar, and % only as %XX'
const ABSOLUTE_URI = 'CloudEvents 1.0: must be an absolute URI (RFC 3986 §4.3): a scheme such as https:, and no #fragment'
const TIMESTAMP = 'CloudEvents 1.0: must be an RFC 3339 timestamp such as 2022-04-05T07:38:00Z'
const BAD_NAME = "CloudEvents 1.0: is not a valid attribute name: names consist of lower-case letters 'a' to 'z' and digits '0' to '9' only"
const TIME_NEEDED = "is required by Aftermath: it becomes the event's occurred_at (CloudEvents itself makes time optional)"
const PERCENT = 'is not validly percent-encoded: % must be followed by two hex digits, and the bytes must be UTF-8 (encode % itself as %25)'
const base64 = (text: string) => Buffer.from(text).toString('base64')

const ROWS: Row[] = [
  // spec.md — Context Attributes, REQUIRED attributes
  {
    name: 'an event with every REQUIRED attribute is accepted and mapped',
    rule: '"Every CloudEvent conforming to this specification MUST include context attributes designated as REQUIRED" (spec.md, Context Attributes)',
    input: structured(ce()),
    expected: accepted(stored()),
  },
  {
    name: 'id missing',
    rule: 'id "Constraints: REQUIRED" (spec.md, REQUIRED Attributes, id)',
    input: structured(without(ce(), 'id')),
    expected: rejected({ field: 'id', message: REQUIRED }),
  },
  {
    name: 'id empty',
    rule: 'id "MUST be a non-empty string" (spec.md, REQUIRED Attributes, id)',
    input: structured(ce({ id: '' })),
    expected: rejected({ field: 'id', message: NON_EMPTY }),
  },
  {
    name: 'id a JSON number',
    rule: '"The CloudEvents type system MUST be mapped to JSON types as follows … String | string" (json-format.md §2.2)',
    input: structured(ce({ id: 42 })),
    expected: rejected({ field: 'id', message: 'CloudEvents 1.0: must be a string (got number)' }),
  },
  {
    name: 'id null is unset, so missing',
    rule: '"When decoding attributes and a null value is encountered, it MUST be treated as the equivalent of unset or omitted." (json-format.md §2.2), and id is REQUIRED (spec.md)',
    input: structured(ce({ id: null })),
    expected: rejected({ field: 'id', message: REQUIRED }),
  },
  {
    name: 'source missing',
    rule: 'source "Constraints: REQUIRED" (spec.md, REQUIRED Attributes, source)',
    input: structured(without(ce(), 'source')),
    expected: rejected({ field: 'source', message: REQUIRED }),
  },
  {
    name: 'source empty',
    rule: 'source "MUST be a non-empty URI-reference" (spec.md, REQUIRED Attributes, source)',
    input: structured(ce({ source: '' })),
    expected: rejected({ field: 'source', message: NON_EMPTY }),
  },
  {
    name: 'source with a space is not a URI-reference',
    rule: 'source "MUST be a non-empty URI-reference"; "URI-reference … as defined in RFC 3986 Section 4.1" (spec.md, source and Type System)',
    input: structured(ce({ source: '/restore bot' })),
    expected: rejected({ field: 'source', message: URI_REFERENCE }),
  },
  {
    name: 'source with a stray % is not a URI-reference',
    rule: 'source "MUST be a non-empty URI-reference" (spec.md); pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 §2.1)',
    input: structured(ce({ source: '/bots/100%' })),
    expected: rejected({ field: 'source', message: URI_REFERENCE }),
  },
  {
    name: 'source with two fragments is not a URI-reference',
    rule: 'source "MUST be a non-empty URI-reference" (spec.md); fragment = *( pchar / "/" / "?" ) (RFC 3986 §3.5)',
    input: structured(ce({ source: 'https://example.com/a#b#c' })),
    expected: rejected({ field: 'source', message: URI_REFERENCE }),
  },
  {
    name: 'source the spec example 1-555-123-4567 (a relative reference)',
    rule: 'source Examples, "Application-specific identifiers … 1-555-123-4567" (spec.md, source)',
    input: structured(ce({ source: '1-555-123-4567' })),
    expected: accepted(stored()),
  },
  {
    name: 'source the spec example urn:uuid:…',
    rule: 'source Examples, "Universally-unique URN with a UUID: urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66" (spec.md, source)',
    input: structured(ce({ source: 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66' })),
    expected: accepted(stored()),
  },
  {
    name: 'source the spec example mailto:…',
    rule: 'source Examples, "mailto:cncf-wg-serverless@lists.cncf.io" (spec.md, source)',
    input: structured(ce({ source: 'mailto:cncf-wg-serverless@lists.cncf.io' })),
    expected: accepted(stored()),
  },
  {
    name: 'specversion missing',
    rule: 'specversion "Constraints: REQUIRED" (spec.md, REQUIRED Attributes, specversion)',
    input: structured(without(ce(), 'specversion')),
    expected: rejected({ field: 'specversion', message: REQUIRED }),
  },
  {
    name: 'specversion 0.3',
    rule: '"Compliant event producers MUST use a value of 1.0 when referring to this version of the specification." (spec.md, specversion)',
    input: structured(ce({ specversion: '0.3' })),
    expected: rejected({ field: 'specversion', message: 'CloudEvents 1.0: must be "1.0", the version implemented here (got "0.3")' }),
  },
  {
    name: 'specversion the JSON number 1.0',
    rule: 'specversion "Type: String"; "String | string" (spec.md, specversion; json-format.md §2.2)',
    input: structured(ce({ specversion: 1.0 })),
    expected: rejected({ field: 'specversion', message: 'CloudEvents 1.0: must be a string (got number)' }),
  },
  {
    name: 'type missing',
    rule: 'type "Constraints: REQUIRED" (spec.md, REQUIRED Attributes, type)',
    input: structured(without(ce(), 'type')),
    expected: rejected({ field: 'type', message: REQUIRED }),
  },
  {
    name: 'type empty',
    rule: 'type "MUST be a non-empty string" (spec.md, REQUIRED Attributes, type)',
    input: structured(ce({ type: '' })),
    expected: rejected({ field: 'type', message: NON_EMPTY }),
  },
  {
    name: 'every REQUIRED attribute missing: each named',
    rule: '"Every CloudEvent conforming to this specification MUST include context attributes designated as REQUIRED" (spec.md, Context Attributes)',
    input: structured({ time: '2022-04-10T10:00:00Z', data: { incident_id: 'inc-1' } }),
    expected: rejected({ field: 'id', message: REQUIRED }, { field: 'source', message: REQUIRED }, { field: 'specversion', message: REQUIRED }, { field: 'type', message: REQUIRED }),
  },

  // spec.md — Type System, String
  {
    name: 'subject with a newline (control character)',
    rule: 'String: "the \\"control characters\\" in the ranges U+0000-U+001F and U+007F-U+009F" are disallowed (spec.md, Type System)',
    input: structured(ce({ subject: 'acme\n' })),
    expected: rejected({ field: 'subject', message: 'CloudEvents 1.0: contains U+000A, a control character or noncharacter, which a String may not' }),
  },
  {
    name: 'type with U+0085 (C1 control character)',
    rule: 'String: "the \\"control characters\\" in the ranges U+0000-U+001F and U+007F-U+009F" are disallowed (spec.md, Type System)',
    input: structured(ce({ type: 'com.example\u0085.access_lost' })),
    expected: rejected({ field: 'type', message: 'CloudEvents 1.0: contains U+0085, a control character or noncharacter, which a String may not' }),
  },
  {
    name: 'subject with the noncharacter U+FFFE',
    rule: 'String: "code points identified as noncharacters by Unicode" are disallowed (spec.md, Type System)',
    input: structured(ce({ subject: 'acme\ufffe' })),
    expected: rejected({ field: 'subject', message: 'CloudEvents 1.0: contains U+FFFE, a control character or noncharacter, which a String may not' }),
  },
  {
    name: 'subject with the plane-1 noncharacter U+1FFFF',
    rule: 'String: "code points identified as noncharacters by Unicode" are disallowed (spec.md, Type System)',
    input: structured(ce({ subject: 'acme\u{1ffff}' })),
    expected: rejected({ field: 'subject', message: 'CloudEvents 1.0: contains U+1FFFF, a control character or noncharacter, which a String may not' }),
  },
  {
    name: 'subject with an emoji skin-tone modifier (U+1F3FE, a character)',
    rule: 'String - "Sequence of allowable Unicode characters" (spec.md, Type System): only the listed code points are disallowed',
    input: structured(ce({ subject: 'acme \u{1f44d}\u{1f3fe}' })),
    expected: accepted(stored({ tenant_id: 'acme \u{1f44d}\u{1f3fe}' })),
  },
  {
    name: 'id with an unpaired surrogate',
    rule: 'String: \'"\\uDEAD" is invalid because it is an unpaired surrogate\' (spec.md, Type System)',
    input: structured(ce({ id: 'e\udead' })),
    expected: rejected({ field: 'id', message: 'CloudEvents 1.0: contains an unpaired surrogate, which a String may not' }),
  },
  {
    name: 'subject with a proper surrogate pair',
    rule: 'String: \'while "\\uD800\\uDEAD" would be legal\' (spec.md, Type System)',
    input: structured(ce({ subject: 'acme-\ud800\udead' })),
    expected: accepted(stored({ tenant_id: 'acme-\ud800\udead' })),
  },

  // spec.md — OPTIONAL attributes; json-format.md — null
  {
    name: 'every OPTIONAL attribute and an extension null: treated as absent',
    rule: '"When decoding attributes and a null value is encountered, it MUST be treated as the equivalent of unset or omitted." (json-format.md §2.2); "OPTIONAL not omitted attributes MAY be represeted as a null JSON value." (§3)',
    input: structured(ce({ type: 'com.example.outage.communication', subject: null, datacontenttype: null, dataschema: null, data_base64: null, comexampleextension1: null })),
    expected: accepted(stored({ type: 'communication', tenant_id: '', channel: 'other' })),
  },
  {
    name: 'datacontenttype application/json with parameters',
    rule: 'datacontenttype "If present, MUST adhere to the format specified in RFC 2046" (spec.md, datacontenttype)',
    input: structured(ce({ datacontenttype: 'application/json; charset=utf-8' })),
    expected: accepted(stored()),
  },
  {
    name: 'datacontenttype that is not a media type',
    rule: 'datacontenttype "If present, MUST adhere to the format specified in RFC 2046" (spec.md, datacontenttype)',
    input: structured(ce({ datacontenttype: 'json' })),
    expected: rejected({ field: 'datacontenttype', message: 'CloudEvents 1.0: must be a media type (RFC 2046) such as application/json' }),
  },
  {
    name: 'datacontenttype */*+json declares JSON data',
    rule: '"a datacontenttype declares JSON-formatted content if its media type, when stripped of parameters, has the form */json or */*+json" (json-format.md §3.1.1)',
    input: structured(ce({ datacontenttype: 'application/vnd.example.outage+json' })),
    expected: accepted(stored()),
  },
  {
    name: 'Aftermath: datacontenttype text/plain (a valid CloudEvent whose data is not JSON)',
    rule: '"If the datacontenttype does not declare JSON-formatted data content, then the data member SHOULD be treated as an encoded content string. An implementation MAY fail to deserialize the event if … it is unable to interpret the data" (json-format.md §3.1.2)',
    input: structured(ce({ datacontenttype: 'text/plain', data: 'incident inc-1' })),
    expected: rejected({
      field: 'datacontenttype',
      message: 'Aftermath reads event data as JSON: datacontenttype must be application/json or another */json or */*+json type (got "text/plain")',
    }),
  },
  {
    name: 'dataschema an absolute URI',
    rule: 'dataschema "If present, MUST be a non-empty URI" (spec.md, dataschema)',
    input: structured(ce({ dataschema: 'https://example.com/schemas/outage-event.json' })),
    expected: accepted(stored()),
  },
  {
    name: 'dataschema a relative reference',
    rule: 'dataschema "If present, MUST be a non-empty URI"; "URI - Absolute uniform resource identifier" (spec.md, dataschema and Type System)',
    input: structured(ce({ dataschema: '/schemas/outage-event.json' })),
    expected: rejected({ field: 'dataschema', message: ABSOLUTE_URI }),
  },
  {
    name: 'dataschema with a fragment',
    rule: 'URI: "String encoding: Absolute URI as defined in RFC 3986 Section 4.3" (spec.md, Type System); absolute-URI = scheme ":" hier-part [ "?" query ] (RFC 3986 §4.3)',
    input: structured(ce({ dataschema: 'https://example.com/schemas.json#outage' })),
    expected: rejected({ field: 'dataschema', message: ABSOLUTE_URI }),
  },
  {
    name: 'dataschema empty',
    rule: 'dataschema "If present, MUST be a non-empty URI" (spec.md, dataschema)',
    input: structured(ce({ dataschema: '' })),
    expected: rejected({ field: 'dataschema', message: NON_EMPTY }),
  },
  {
    name: 'subject empty',
    rule: 'subject "If present, MUST be a non-empty string" (spec.md, subject)',
    input: structured(ce({ subject: '' })),
    expected: rejected({ field: 'subject', message: NON_EMPTY }),
  },
  {
    name: 'time with an offset',
    rule: 'time "If present, MUST adhere to the format specified in RFC 3339" (spec.md, time)',
    input: structured(ce({ time: '2022-04-10T12:00:00.250+02:00' })),
    expected: accepted(stored({ occurred_at: '2022-04-10 10:00:00.250' })),
  },
  {
    name: 'time without seconds or offset',
    rule: 'time "If present, MUST adhere to the format specified in RFC 3339" (spec.md, time)',
    input: structured(ce({ time: '2022-04-10 10:00' })),
    expected: rejected({ field: 'time', message: TIMESTAMP }),
  },
  {
    name: 'time on 30 February',
    rule: 'time "If present, MUST adhere to the format specified in RFC 3339" (spec.md, time); date-mday 01-28, 01-29, 01-30, 01-31 based on month/year (RFC 3339 §5.6)',
    input: structured(ce({ time: '2022-02-30T10:00:00Z' })),
    expected: rejected({ field: 'time', message: TIMESTAMP }),
  },
  {
    name: 'Aftermath: time a leap second (valid RFC 3339, not storable)',
    rule: 'time-second = 2DIGIT ; 00-58, 00-59, 00-60 based on leap second rules (RFC 3339 §5.6) — a valid CloudEvent, refused by Aftermath with its own message',
    input: structured(ce({ time: '2016-12-31T23:59:60Z' })),
    expected: rejected({ field: 'time', message: 'has an invalid second 60' }),
  },
  {
    name: 'Aftermath: time absent (OPTIONAL in CloudEvents, required for occurred_at)',
    rule: 'time "Constraints: OPTIONAL" (spec.md, time) — valid CloudEvent; SPEC §2 makes occurred_at required',
    input: structured(without(ce(), 'time')),
    expected: rejected({ field: 'time', message: TIME_NEEDED }),
  },
  {
    name: 'Aftermath: time null, so absent',
    rule: '"When decoding attributes and a null value is encountered, it MUST be treated as the equivalent of unset or omitted." (json-format.md §2.2)',
    input: structured(ce({ time: null })),
    expected: rejected({ field: 'time', message: TIME_NEEDED }),
  },

  // spec.md — Extension Context Attributes, Naming Convention, Type System
  {
    name: 'extension attributes of every JSON type the type system allows',
    rule: '"A CloudEvent MAY include any number of additional context attributes with distinct names" (spec.md, Extension Context Attributes); Boolean | boolean, Integer | number, String | string (json-format.md §2.2)',
    input: structured(ce({ comexampleextension1: 'value', comexampleothervalue: 5, flag: true, low: -2147483648, high: 2147483647 })),
    expected: accepted(stored()),
  },
  {
    name: 'extension name with an underscore',
    rule: '"CloudEvents attribute names MUST consist of lower-case letters (\'a\' to \'z\') or digits (\'0\' to \'9\') from the ASCII character set." (spec.md, Attribute Naming Convention)',
    input: structured(ce({ com_example: 'x' })),
    expected: rejected({ field: 'com_example', message: BAD_NAME }),
  },
  {
    name: 'extension name with upper case',
    rule: '"CloudEvents attribute names MUST consist of lower-case letters (\'a\' to \'z\') or digits (\'0\' to \'9\') from the ASCII character set." (spec.md, Attribute Naming Convention)',
    input: structured(ce({ comExample: 'x' })),
    expected: rejected({ field: 'comExample', message: BAD_NAME }),
  },
  {
    name: 'extension name with a hyphen, and one empty',
    rule: '"Extension attributes MUST follow the same naming convention … as standard attributes." (spec.md, Extension Context Attributes)',
    input: structured(ce({ 'com-example': 'x', '': 'y' })),
    expected: rejected({ field: 'com-example', message: BAD_NAME }, { field: '', message: BAD_NAME }),
  },
  {
    name: 'a member named __proto__ is an attribute with a bad name, not a prototype',
    rule: '"CloudEvents attribute names MUST consist of lower-case letters (\'a\' to \'z\') or digits (\'0\' to \'9\') from the ASCII character set." (spec.md, Attribute Naming Convention)',
    input: structured(JSON.parse('{"__proto__": {"id": "hidden"}, "specversion": "1.0", "source": "/x", "type": "com.example.outage.access_lost", "time": "2022-04-10T10:00:00Z", "subject": "acme", "data": {"incident_id": "inc-1"}}')),
    expected: rejected({ field: 'id', message: REQUIRED }, { field: '__proto__', message: BAD_NAME }),
  },
  {
    name: 'extension value a JSON object',
    rule: '"All context attribute values MUST be of one of the types listed above." (spec.md, Type System); extensions "use the same type system" (Extension Context Attributes)',
    input: structured(ce({ comexampleobject: { a: 1 } })),
    expected: rejected({ field: 'comexampleobject', message: 'CloudEvents 1.0: must be a string, a boolean or an integer (got object)' }),
  },
  {
    name: 'extension value a fraction',
    rule: 'Integer | "number, only the integer component optionally prefixed with a minus sign is permitted" (json-format.md §2.2)',
    input: structured(ce({ ratio: 0.5 })),
    expected: rejected({ field: 'ratio', message: 'CloudEvents 1.0: must be a string, a boolean or an integer; 0.5 is not an integer' }),
  },
  {
    name: 'extension value an integer beyond 32 bits',
    rule: 'Integer: "Event formats do not have to use this encoding, but they MUST only use Integer values in this range." (spec.md, Type System)',
    input: structured(ce({ big: 2147483648 })),
    expected: rejected({ field: 'big', message: 'CloudEvents 1.0: is an integer outside -2,147,483,648..2,147,483,647, the range of Integer' }),
  },
  {
    name: 'extension string value with a control character',
    rule: 'String: "the \\"control characters\\" in the ranges U+0000-U+001F and U+007F-U+009F" are disallowed (spec.md, Type System)',
    input: structured(ce({ comment: 'a\tb' })),
    expected: rejected({ field: 'comment', message: 'CloudEvents 1.0: contains U+0009, a control character or noncharacter, which a String may not' }),
  },

  // json-format.md §3.1 — data and data_base64
  {
    name: 'data_base64 holding JSON with datacontenttype application/json',
    rule: '"the presence of the data_base64 member clearly indicates that the value is a Base64 encoded binary data, which the deserializer MUST decode into a binary runtime data type. The deserializer MAY further interpret this binary data according to the datacontenttype." (json-format.md §3.1.2)',
    input: structured(without(ce({ datacontenttype: 'application/json', data_base64: base64('{"incident_id":"inc-1","message":"bits"}') }), 'data')),
    expected: accepted(stored({ message: 'bits' })),
  },
  {
    name: 'data_base64 holding JSON without datacontenttype',
    rule: '"If the datacontenttype is unspecified, processing SHOULD proceed as if the datacontenttype had been specified explicitly as application/json." (json-format.md §3.1.1)',
    input: structured(without(ce({ data_base64: base64('{"incident_id":"inc-1"}') }), 'data')),
    expected: accepted(stored()),
  },
  {
    name: 'data and data_base64 both present',
    rule: '"the presence of the data and data_base64 members is mutually exclusive in a JSON serialized CloudEvent." (json-format.md §3.1.1)',
    input: structured(ce({ data_base64: base64('{"incident_id":"inc-1"}') })),
    expected: rejected({ field: 'data_base64', message: 'CloudEvents 1.0: data and data_base64 are mutually exclusive; send one' }),
  },
  {
    name: 'data_base64 that is not base64',
    rule: '"Binary | string, Base64-encoded binary" (json-format.md §2.2); "Base64 encoding per RFC4648" (spec.md, Type System)',
    input: structured(without(ce({ data_base64: 'eyJ pbmNpZGVudF9pZCI6ImluYy0xIn0' }), 'data')),
    expected: rejected({ field: 'data_base64', message: 'CloudEvents 1.0: must be base64 (RFC 4648): A–Z a–z 0–9 + / only, padded with = to a multiple of 4' }),
  },
  {
    name: 'data_base64 a number',
    rule: '"Binary | string, Base64-encoded binary" (json-format.md §2.2)',
    input: structured(without(ce({ data_base64: 12 }), 'data')),
    expected: rejected({ field: 'data_base64', message: 'CloudEvents 1.0: must be a string of base64 (got number)' }),
  },
  {
    name: 'Aftermath: data_base64 of an image',
    rule: '"If present, the datacontenttype MUST reflect the format of the original binary data." (json-format.md §3.1.1) — a valid CloudEvent whose data Aftermath cannot read',
    input: structured(without(ce({ datacontenttype: 'image/png', data_base64: 'iVBORw0KGgo=' }), 'data')),
    expected: rejected({ field: 'datacontenttype', message: 'Aftermath reads event data as JSON: datacontenttype must be application/json or another */json or */*+json type (got "image/png")' }),
  },
  {
    name: 'Aftermath: data_base64 of text that is not JSON',
    rule: '"The deserializer MAY further interpret this binary data according to the datacontenttype." (json-format.md §3.1.2)',
    input: structured(without(ce({ data_base64: base64('incident inc-1') }), 'data')),
    expected: rejected({ field: 'data_base64', message: 'Aftermath reads event data as JSON: data_base64 must decode to UTF-8 JSON text, as datacontenttype is absent (application/json implied)' }),
  },
  {
    name: 'data a string holding JSON is a string, not an object',
    rule: '"if the data member is a string, a JSON deserializer MUST interpret it directly as a JSON String value; it MUST NOT further deserialize the string as a JSON document." (json-format.md §3.1.2)',
    input: structured(ce({ data: '{"incident_id":"inc-1"}' })),
    expected: rejected({ field: 'data', message: 'must be a JSON object holding incident_id and the other event fields' }),
  },
  {
    name: 'Aftermath: no data (valid CloudEvent, but no incident_id)',
    rule: 'Event Data "Constraints: OPTIONAL" (spec.md, Event Data) — SPEC §4: data holds incident_id',
    input: structured(without(ce(), 'data')),
    expected: rejected({ field: 'data.incident_id', message: 'is required' }),
  },
  {
    name: 'type mapped by its last segment, progress from data',
    rule: 'type "SHOULD be prefixed with a reverse-DNS name" (spec.md, type) — SPEC §4: the last .-segment is the event type',
    input: structured(ce({ type: 'com.example.outage.restore_progress', data: { incident_id: 'inc-1', progress: 0.25 } })),
    expected: accepted(stored({ type: 'restore_progress', progress: 0.25 })),
  },
  {
    name: 'a structured body that is a JSON array',
    rule: '"Each CloudEvents event can be wholly represented as a JSON object. Such a representation MUST use the media type application/cloudevents+json." (json-format.md §3)',
    input: structured([ce()]),
    expected: { status: 400, message: 'a cloudevents+json body must be one CloudEvent object (use cloudevents-batch+json for arrays)' },
  },

  // json-format.md §4 and http-protocol-binding.md §3.3 — batches
  {
    name: 'a batch that is a JSON object',
    rule: '"The outermost JSON element is a JSON Array, which contains as elements CloudEvents rendered in accordance with the JSON event format" (json-format.md §4.1)',
    input: batch(ce()),
    expected: { status: 400, message: 'a cloudevents-batch+json body must be a JSON array of CloudEvents' },
  },
  {
    name: 'an empty batch',
    rule: '"The batch MAY be empty." (http-protocol-binding.md §3.3.2); "An example of an empty batch of CloudEvents … []" (json-format.md §4.3)',
    input: batch([]),
    expected: accepted(),
  },
  {
    name: 'a batch with a specversion other than the rest: that event alone is refused',
    rule: '"All batched CloudEvents MUST have the same specversion attribute." (http-protocol-binding.md §3.3.2)',
    input: batch([ce({ id: 'b1' }), ce({ id: 'b2', specversion: '0.3' }), ce({ id: 'b3' })]),
    expected: {
      stored: [stored({ event_id: 'b1' }), stored({ event_id: 'b3' })],
      errors: [{ index: 1, field: 'specversion', message: 'CloudEvents 1.0: must be "1.0", the version implemented here (got "0.3")' }],
    },
  },
  {
    name: 'a batch element that is not an object',
    rule: '"contains as elements CloudEvents rendered in accordance with the JSON event format" (json-format.md §4.1)',
    input: batch([ce({ id: 'b1' }), 'b2']),
    expected: { stored: [stored({ event_id: 'b1' })], errors: [{ index: 1, field: '', message: 'CloudEvents 1.0: a CloudEvent in the JSON format is a JSON object (got string)' }] },
  },
  {
    name: 'a batch mixing null optional attributes, a bad extension name and a relative dataschema',
    rule: '"The CloudEvents within a batch are largely independent" — each element is one CloudEvent in the JSON event format (json-format.md §4.1); nulls are unset (§2.2)',
    input: batch([ce({ id: 'b1', dataschema: null, datacontenttype: null }), ce({ id: 'b2', Bad: 1 }), ce({ id: 'b3', dataschema: 'schemas/v1' })]),
    expected: {
      stored: [stored({ event_id: 'b1' })],
      errors: [
        { index: 1, field: 'Bad', message: BAD_NAME },
        { index: 2, field: 'dataschema', message: ABSOLUTE_URI },
      ],
    },
  },

  // http-protocol-binding.md §3.1 — binary mode
  {
    name: 'binary: attributes from ce- headers, data from the body',
    rule: '"all CloudEvents context attributes, including extensions, MUST be mapped to HTTP headers with the same name as the attribute name but prefixed with ce-." (http-protocol-binding.md §3.1.3.1)',
    input: binary({ 'ce-comexampleextension1': 'value' }),
    expected: accepted(stored()),
  },
  {
    name: 'binary: a percent-encoded subject',
    rule: 'a header value of "Euro € 😀" SHOULD be encoded as "Euro%20%E2%82%AC%20%F0%9F%98%80"; "A single round of percent-decoding MUST then be performed" (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-subject': 'Euro%20%E2%82%AC%20%F0%9F%98%80' }),
    expected: accepted(stored({ tenant_id: 'Euro € 😀' })),
  },
  {
    name: 'binary: lower-case percent-encoding',
    rule: '"Percent-encoding SHOULD be performed using upper-case for values A-F, but decoding MUST accept lower-case values." (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-subject': 'caf%c3%a9' }),
    expected: accepted(stored({ tenant_id: 'café' })),
  },
  {
    name: 'binary: unnecessary percent-encoding',
    rule: '"values that have been unncessarily percent-encoded MUST be accepted" (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-subject': '%61cme' }),
    expected: accepted(stored()),
  },
  {
    name: 'binary: a single round of decoding only',
    rule: '"A single round of percent-decoding MUST then be performed" (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-subject': '100%2525' }),
    expected: accepted(stored({ tenant_id: '100%25' })),
  },
  {
    name: 'binary: an overlong UTF-8 encoding',
    rule: '"encoded byte sequences which are invalid in UTF-8 MUST be rejected. (For example, \\"%C0%A0\\" is an overlong encoding of U+0020, and MUST be rejected.)" (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-subject': 'a%C0%A0b' }),
    expected: rejected({ field: 'subject', message: `CloudEvents 1.0: header ce-subject ${PERCENT}` }),
  },
  {
    name: 'binary: a % not followed by two hex digits',
    rule: '"The following characters MUST be percent-encoded: … Percent (U+0025)" (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-id': 'e1%' }),
    expected: rejected({ field: 'id', message: `CloudEvents 1.0: header ce-id ${PERCENT}` }),
  },
  {
    name: 'binary: a double-quoted value with a backslash escape',
    rule: '"any HTTP header value MUST first be unescaped with respect to double-quoted strings … including processing backslash escapes within double-quoted values" (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-subject': '"acme \\"corp\\""' }),
    expected: accepted(stored({ tenant_id: 'acme "corp"' })),
  },
  {
    name: 'binary: a double-quoted string never closed',
    rule: '"any HTTP header value MUST first be unescaped with respect to double-quoted strings, as described in RFC7230, section 3.2.6" (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-subject': '"acme' }),
    expected: rejected({ field: 'subject', message: 'CloudEvents 1.0: header ce-subject has a double-quoted string that is never closed' }),
  },
  {
    name: 'binary: a percent-encoded newline is still a control character',
    rule: 'String: "the \\"control characters\\" … such as U+000A (newline), are not usable in contexts such as HTTP headers" (spec.md, Type System)',
    input: binary({ 'ce-subject': 'acme%0A' }),
    expected: rejected({ field: 'subject', message: 'CloudEvents 1.0: contains U+000A, a control character or noncharacter, which a String may not' }),
  },
  {
    name: 'binary: a ce-datacontenttype header beside Content-Type',
    rule: '"Note that a ce-datacontenttype HTTP header MUST NOT also be present in the message." (http-protocol-binding.md §3.1.1)',
    input: binary({ 'ce-datacontenttype': 'application/json' }),
    expected: rejected({
      field: 'datacontenttype',
      message: 'CloudEvents 1.0: in binary mode datacontenttype is the Content-Type header; a ce-datacontenttype header must not also be present',
    }),
  },
  {
    name: 'binary: datacontenttype is the Content-Type, checked as a media type',
    rule: '"the HTTP Content-Type header value corresponds to (MUST be populated from or written to) the CloudEvents datacontenttype attribute" (http-protocol-binding.md §3.1.1); datacontenttype "MUST adhere to the format specified in RFC 2046" (spec.md)',
    input: binary({ 'content-type': 'application/json;' }),
    expected: rejected({ field: 'datacontenttype', message: 'CloudEvents 1.0: must be a media type (RFC 2046) such as application/json' }),
  },
  {
    name: 'binary: an attribute in two headers',
    rule: '"All other CloudEvents attributes, including extensions, MUST be individually mapped to and from distinct HTTP message header." (http-protocol-binding.md §3.1.3)',
    input: binary({ 'ce-id': ['e1', 'e2'] }),
    expected: rejected({ field: 'id', message: 'CloudEvents 1.0: sent in 2 ce-id headers; each attribute maps to one distinct header' }),
  },
  {
    name: 'binary: ce-id missing',
    rule: 'id "Constraints: REQUIRED" (spec.md); "MUST be mapped to HTTP headers with the same name as the attribute name but prefixed with ce-" (http-protocol-binding.md §3.1.3.1)',
    input: binary({ 'ce-id': undefined }),
    expected: rejected({ field: 'id', message: 'CloudEvents 1.0: is required (header ce-id)' }),
  },
  {
    name: 'binary: ce-specversion missing',
    rule: 'specversion "Constraints: REQUIRED" (spec.md, specversion)',
    input: binary({ 'ce-specversion': undefined }),
    expected: rejected({ field: 'specversion', message: 'CloudEvents 1.0: is required (header ce-specversion)' }),
  },
  {
    name: 'binary: an empty ce-source',
    rule: 'source "MUST be a non-empty URI-reference" (spec.md, source)',
    input: binary({ 'ce-source': '' }),
    expected: rejected({ field: 'source', message: NON_EMPTY }),
  },
  {
    name: 'binary: ce-source with an encoded space',
    rule: 'source "MUST be a non-empty URI-reference" (spec.md); the decoded value is the attribute (http-protocol-binding.md §3.1.3.2)',
    input: binary({ 'ce-source': '/restore%20bot' }),
    expected: rejected({ field: 'source', message: URI_REFERENCE }),
  },
  {
    name: 'binary: a relative ce-dataschema',
    rule: 'dataschema "If present, MUST be a non-empty URI" (spec.md, dataschema)',
    input: binary({ 'ce-dataschema': 'schemas/outage.json' }),
    expected: rejected({ field: 'dataschema', message: ABSOLUTE_URI }),
  },
  {
    name: 'binary: ce-time that is not RFC 3339',
    rule: 'time "If present, MUST adhere to the format specified in RFC 3339" (spec.md, time)',
    input: binary({ 'ce-time': 'Sun, 10 Apr 2022 10:00:00 GMT' }),
    expected: rejected({ field: 'time', message: TIMESTAMP }),
  },
  {
    name: 'binary: an extension header whose name breaks the naming convention',
    rule: '"CloudEvents attribute names MUST consist of lower-case letters (\'a\' to \'z\') or digits (\'0\' to \'9\') from the ASCII character set." (spec.md, Attribute Naming Convention)',
    input: binary({ 'ce-trace-id': 'abc' }),
    expected: rejected({ field: 'trace-id', message: BAD_NAME }),
  },
  {
    name: 'binary: a ce-data header',
    rule: 'a JSON serializer "MUST … use the member name data to store it [the data] inside the JSON representation" (json-format.md §3.1.1), so no attribute can be named data',
    input: binary({ 'ce-data': 'x' }),
    expected: rejected({ field: 'data', message: 'CloudEvents 1.0: no attribute may be named "data": the JSON format holds the event data under that name' }),
  },
  {
    name: 'Aftermath: binary without ce-time',
    rule: 'time "Constraints: OPTIONAL" (spec.md, time) — valid CloudEvent; SPEC §2 makes occurred_at required',
    input: binary({ 'ce-time': undefined }),
    expected: rejected({ field: 'time', message: TIME_NEEDED }),
  },
  {
    name: 'Aftermath: binary with an empty body (no data)',
    rule: '"The data byte-sequence is used as the HTTP message body." (http-protocol-binding.md §3.1.2); Event Data is OPTIONAL (spec.md) — SPEC §4: data holds incident_id',
    input: { ...binary(), data: undefined },
    expected: rejected({ field: 'data.incident_id', message: 'is required' }),
  },
]

async function outcome(input: Input): Promise<Expected> {
  let mapped: MappedCloudEvent[]
  try {
    mapped = input.mode === 'binary' ? [mapBinaryCloudEvent(input.headers, input.data)] : cloudEventsFromBody(input.body, input.mode === 'batch')
  } catch (err) {
    return { status: (err as { status: number }).status as 400, message: (err as Error).message }
  }
  const v = await validateCandidates(
    mapped.map((m) => (m.errors ? { errors: m.errors } : { input: m.event })),
    NOW_MS,
    cloudEventField,
  )
  return { stored: v.rows, errors: v.errors }
}

describe('CloudEvents 1.0.2 conformance (JSON format; structured, batched and binary modes)', () => {
  it('has a row for each mode', () => {
    expect(new Set(ROWS.map((r) => r.input.mode))).toEqual(new Set(['structured', 'batch', 'binary']))
    expect(new Set(ROWS.map((r) => r.name)).size).toBe(ROWS.length)
  })

  it.each(ROWS)('$name', async ({ input, expected }) => {
    expect(await outcome(input)).toEqual(expected)
  })
})
