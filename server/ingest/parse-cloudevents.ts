import { HttpError } from '../errors.js'

/**
 * CloudEvents 1.0 → events (SPEC §4): id→event_id, time→occurred_at, subject→tenant_id, the
 * last `.`-segment of type→type, and `data` carries incident_id, progress, channel, label,
 * message. Other CloudEvents attributes (source, extensions…) are allowed and ignored; unknown
 * keys inside `data` are rejected by validation like unknown event fields.
 */

/** A CloudEvent mapped to an event object, or the attribute-level errors that prevent it. */
export type MappedCloudEvent = { event: Record<string, unknown>; errors?: undefined } | { errors: { field: string; message: string }[]; event?: undefined }

const ATTRIBUTE_OF = new Map([
  ['event_id', 'id'],
  ['occurred_at', 'time'],
  ['tenant_id', 'subject'],
  ['type', 'type'],
])
const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i

export function mapCloudEvent(attrs: Record<string, unknown>, data: unknown): MappedCloudEvent {
  const errors: { field: string; message: string }[] = []
  if (attrs.specversion !== '1.0') errors.push({ field: 'specversion', message: 'must be "1.0"' })
  if (attrs.data_base64 !== undefined) errors.push({ field: 'data_base64', message: 'binary data is not supported; send data as a JSON object' })
  const dct = attrs.datacontenttype
  if (dct !== undefined && (typeof dct !== 'string' || !JSON_CONTENT_TYPE.test(dct))) {
    errors.push({ field: 'datacontenttype', message: 'must be application/json (data is a JSON object)' })
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

/** `application/cloudevents+json` (one) or `application/cloudevents-batch+json` (array). */
export function cloudEventsFromBody(body: unknown, batch: boolean): MappedCloudEvent[] {
  if (batch) {
    if (!Array.isArray(body)) throw new HttpError(400, 'bad_request', 'a cloudevents-batch+json body must be a JSON array of CloudEvents')
    return body.map(mapStructuredCloudEvent)
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'bad_request', 'a cloudevents+json body must be one CloudEvent object (use cloudevents-batch+json for arrays)')
  }
  return [mapStructuredCloudEvent(body)]
}

/** One structured-mode CloudEvent (an element of a batch, or the whole body). */
export function mapStructuredCloudEvent(ce: unknown): MappedCloudEvent {
  if (ce === null || typeof ce !== 'object' || Array.isArray(ce)) return { errors: [{ field: '', message: 'must be a CloudEvent object' }] }
  const attrs = ce as Record<string, unknown>
  return mapCloudEvent(attrs, attrs.data)
}

/**
 * Binary mode: attributes in `ce-*` headers (percent-encoded per the HTTP binding), the body is
 * `data`. Returns null when the request is not a binary-mode CloudEvent.
 */
export function binaryCloudEventAttrs(headers: Record<string, string | string[] | undefined>): Record<string, unknown> | null {
  if (headers['ce-specversion'] === undefined) return null
  const attrs: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || value === undefined) continue
    const raw = Array.isArray(value) ? value.join(',') : value
    let decoded = raw
    try {
      decoded = decodeURIComponent(raw)
    } catch {
      // Not percent-encoded after all: keep the header as sent.
    }
    attrs[name.slice(3)] = decoded
  }
  if (headers['content-type'] !== undefined) attrs.datacontenttype = String(headers['content-type'])
  return attrs
}
