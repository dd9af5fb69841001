import { isUtf8 } from 'node:buffer'
import { BadInput } from '../errors.js'
import { attributeErrors, CE, DATA_MEMBERS, decodeHeaderValue, isBase64, isJsonMediaType } from './cloudevents-attributes.js'
import type { FieldError } from './validate.js'

/**
 * CloudEvents 1.0 → events (SPEC §4). First the event must be a valid CloudEvent
 * (cloudevents-attributes.ts; errors prefixed "CloudEvents 1.0:"), then it must suit Aftermath:
 * id→event_id, time→occurred_at (so time is required here), subject→tenant_id, the last
 * `.`-segment of type→type, and the data, JSON, carries incident_id, progress, channel, label,
 * message. Other attributes (source, dataschema, extensions…) are checked and then ignored;
 * unknown keys inside `data` are rejected by validation like unknown event fields.
 */

/** A CloudEvent mapped to an event object, or the attribute-level errors that prevent it. */
export type MappedCloudEvent = { event: Record<string, unknown>; errors?: undefined } | { errors: FieldError[]; event?: undefined }

const ATTRIBUTE_OF = new Map([
  ['event_id', 'id'],
  ['occurred_at', 'time'],
  ['tenant_id', 'subject'],
  ['type', 'type'],
])

/** Headers whose presence (without a cloudevents Content-Type) makes a request a binary-mode CloudEvent: those of the REQUIRED attributes. */
const BINARY_MARKERS = ['ce-specversion', 'ce-id', 'ce-source', 'ce-type']

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)
const jsonOnly = (contentType: string) =>
  `Aftermath reads event data as JSON: datacontenttype must be application/json or another */json or */*+json type (got "${contentType.slice(0, 100)}")`

/**
 * A valid CloudEvent's attributes (nulls removed) and decoded data → an event, or the
 * reasons Aftermath cannot take it. The mapped event is then validated like any other (validate.ts).
 */
export function mapCloudEvent(attrs: Record<string, unknown>, data: unknown): MappedCloudEvent {
  const errors: FieldError[] = []
  if (attrs.time === undefined) {
    errors.push({ field: 'time', message: "is required by Aftermath: it becomes the event's occurred_at (CloudEvents itself makes time optional)" })
  }
  if (data !== undefined && data !== null && (typeof data !== 'object' || Array.isArray(data))) {
    errors.push({ field: 'data', message: 'must be a JSON object holding incident_id and the other event fields' })
  }
  if (data !== null && typeof data === 'object') {
    for (const key of Object.keys(data)) {
      const attr = ATTRIBUTE_OF.get(key)
      if (attr) errors.push({ field: `data.${key}`, message: `set this as the CloudEvent attribute "${attr}", not in data` })
    }
  }
  if (errors.length > 0) return { errors }
  const type = attrs.type
  const event: Record<string, unknown> = {
    ...(data as Record<string, unknown> | null | undefined),
    event_id: attrs.id,
    type: typeof type === 'string' ? type.slice(type.lastIndexOf('.') + 1) : type,
    occurred_at: attrs.time,
  }
  if (attrs.subject !== undefined) event.tenant_id = attrs.subject
  return { event }
}

/** Error field names in CloudEvents terms, so a producer can find the attribute to fix. */
export function cloudEventField(field: string): string {
  switch (field) {
    case 'event_id':
      return 'id'
    case 'occurred_at':
      return 'time'
    case 'tenant_id':
      return 'subject'
    case 'type':
    case '':
      return field
    default:
      return `data.${field}`
  }
}

/** `application/cloudevents+json` (one) or `application/cloudevents-batch+json` (array, possibly empty). */
export function cloudEventsFromBody(body: unknown, batch: boolean): MappedCloudEvent[] {
  if (batch) {
    if (!Array.isArray(body)) throw new BadInput('malformed', 'bad_request', 'a cloudevents-batch+json body must be a JSON array of CloudEvents')
    return body.map(mapStructuredCloudEvent)
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadInput('malformed', 'bad_request', 'a cloudevents+json body must be one CloudEvent object (use cloudevents-batch+json for arrays)')
  }
  return [mapStructuredCloudEvent(body)]
}

/** One CloudEvent in the JSON format (json-format §3): an element of a batch, or the whole body. */
export function mapStructuredCloudEvent(ce: unknown): MappedCloudEvent {
  if (ce === null || typeof ce !== 'object' || Array.isArray(ce)) {
    return { errors: [{ field: '', message: `${CE} a CloudEvent in the JSON format is a JSON object (got ${describe(ce)})` }] }
  }
  const members = ce as Record<string, unknown>
  // json-format §2.2: a null attribute is unset. `data` and `data_base64` are members, not attributes.
  // No prototype: a member named __proto__ stays a (badly named) attribute instead of becoming one.
  const attrs: Record<string, unknown> = Object.create(null)
  for (const key in members) if (members[key] !== null && !DATA_MEMBERS.has(key)) attrs[key] = members[key]
  const errors = [...attributeErrors(attrs, 'json'), ...dataMemberErrors(members)]
  if (errors.length > 0) return { errors }
  const decoded = decodeJsonFormatData(members, attrs.datacontenttype as string | undefined)
  const mapped = mapCloudEvent(attrs, decoded.value)
  return decoded.error ? { errors: [...(mapped.errors ?? []), decoded.error] } : mapped
}

/** json-format §3.1: `data` and `data_base64` exclude each other, and data_base64 is RFC 4648 base64. */
function dataMemberErrors(members: Record<string, unknown>): FieldError[] {
  const base64 = members.data_base64 ?? undefined
  if (base64 === undefined) return []
  if ((members.data ?? undefined) !== undefined) return [{ field: 'data_base64', message: `${CE} data and data_base64 are mutually exclusive; send one` }]
  if (typeof base64 !== 'string') return [{ field: 'data_base64', message: `${CE} must be a string of base64 (got ${describe(base64)})` }]
  if (!isBase64(base64)) return [{ field: 'data_base64', message: `${CE} must be base64 (RFC 4648): A–Z a–z 0–9 + / only, padded with = to a multiple of 4` }]
  return []
}

/**
 * The data of a JSON-format CloudEvent as a JSON value: `data` as it stands when datacontenttype
 * declares JSON (or is absent: application/json is implied, json-format §3.1.2), `data_base64`
 * decoded and read as JSON text. Any other datacontenttype is valid CloudEvents that Aftermath
 * cannot read (it needs incident_id from the data).
 */
function decodeJsonFormatData(members: Record<string, unknown>, contentType: string | undefined): { value: unknown; error?: FieldError } {
  const base64 = members.data_base64 as string | null | undefined
  const data = members.data ?? undefined
  if ((base64 ?? undefined) === undefined && data === undefined) return { value: undefined }
  if (contentType !== undefined && !isJsonMediaType(contentType)) return { value: undefined, error: { field: 'datacontenttype', message: jsonOnly(contentType) } }
  if (base64 === null || base64 === undefined) return { value: data }
  const bytes = Buffer.from(base64, 'base64')
  if (isUtf8(bytes)) {
    try {
      return { value: JSON.parse(bytes.toString('utf8')) }
    } catch {
      // reported below
    }
  }
  return { value: undefined, error: { field: 'data_base64', message: `Aftermath reads event data as JSON: data_base64 must decode to UTF-8 JSON text, as datacontenttype is ${contentType ?? 'absent (application/json implied)'}` } }
}

/** Request headers by lower-case name: one value, or each line's value (IncomingMessage.headersDistinct). */
type HeaderValues = Record<string, string | string[] | undefined>

/** HTTP binding §3: a request without a cloudevents Content-Type that carries a REQUIRED attribute's `ce-` header is a binary-mode CloudEvent. */
export const isBinaryCloudEvent = (headers: HeaderValues): boolean => BINARY_MARKERS.some((h) => headers[h] !== undefined)

/**
 * Binary mode (HTTP binding §3.1): attributes from `ce-*` headers (one header each, decoded per
 * §3.1.3.2), datacontenttype from Content-Type. Null when the request is not binary mode.
 */
export function binaryCloudEventAttrs(headers: HeaderValues): { attrs: Record<string, unknown>; errors: FieldError[] } | null {
  if (!isBinaryCloudEvent(headers)) return null
  const attrs: Record<string, unknown> = Object.create(null)
  const errors: FieldError[] = []
  for (const [header, value] of Object.entries(headers)) {
    if (!header.startsWith('ce-') || value === undefined) continue
    const name = header.slice(3)
    const values = Array.isArray(value) ? value : [value]
    if (values.length === 0) continue
    if (name === 'datacontenttype') {
      errors.push({ field: name, message: `${CE} in binary mode datacontenttype is the Content-Type header; a ce-datacontenttype header must not also be present` })
      continue
    }
    if (values.length > 1) {
      errors.push({ field: name, message: `${CE} sent in ${values.length} ce-${name} headers; each attribute maps to one distinct header` })
      continue
    }
    const decoded = decodeHeaderValue(values[0]!)
    if ('problem' in decoded) errors.push({ field: name, message: `${CE} header ce-${name} ${decoded.problem}` })
    else attrs[name] = decoded.value
  }
  const contentType = headers['content-type']
  const dataContentType = Array.isArray(contentType) ? contentType[0] : contentType
  if (dataContentType !== undefined) attrs.datacontenttype = dataContentType
  return { attrs, errors }
}

/** A binary-mode CloudEvent: its headers, and the body already decoded as JSON (undefined when empty). */
export function mapBinaryCloudEvent(headers: HeaderValues, data: unknown): MappedCloudEvent {
  const binary = binaryCloudEventAttrs(headers) ?? { attrs: {}, errors: [] }
  // A header that could not be decoded is reported once, not again as a missing attribute.
  const reported = new Set(binary.errors.map((e) => e.field))
  const errors = [...binary.errors, ...attributeErrors(binary.attrs, 'headers').filter((e) => !reported.has(e.field))]
  return errors.length > 0 ? { errors } : mapCloudEvent(binary.attrs, data)
}
