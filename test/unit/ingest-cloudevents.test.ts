import { describe, expect, it } from 'vitest'
import { binaryCloudEventAttrs, cloudEventField, cloudEventsFromBody } from '../../server/ingest/parse-cloudevents.js'

const ce = {
  specversion: '1.0',
  id: 'ce-1',
  source: '/restore-bot',
  type: 'com.example.outage.restore_progress',
  time: '2022-04-10T10:00:00Z',
  subject: 'acme',
  data: { incident_id: 'inc-1', progress: 0.5 },
}

describe('CloudEvents mapping', () => {
  it('maps id, time, subject, the last segment of type, and data fields', () => {
    expect(cloudEventsFromBody(ce, false)).toEqual([
      { event: { event_id: 'ce-1', type: 'restore_progress', occurred_at: '2022-04-10T10:00:00Z', tenant_id: 'acme', incident_id: 'inc-1', progress: 0.5 } },
    ])
  })

  it('rejects a wrong specversion, non-object data, and event attributes hidden in data', () => {
    expect(cloudEventsFromBody([{ ...ce, specversion: '0.3' }, { ...ce, data: [1] }, { ...ce, data: { incident_id: 'i', event_id: 'x' } }], true)).toEqual([
      { errors: [{ field: 'specversion', message: 'CloudEvents 1.0: must be "1.0", the version implemented here (got "0.3")' }] },
      { errors: [{ field: 'data', message: 'must be a JSON object holding incident_id and the other event fields' }] },
      { errors: [{ field: 'data.event_id', message: 'set this as the CloudEvent attribute "id", not in data' }] },
    ])
  })

  it('names validation errors after CloudEvents attributes', () => {
    expect(['event_id', 'occurred_at', 'tenant_id', 'type', 'incident_id'].map(cloudEventField)).toEqual(['id', 'time', 'subject', 'type', 'data.incident_id'])
  })

  it('reads binary-mode attributes from ce-* headers, percent-decoded', () => {
    expect(binaryCloudEventAttrs({ 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-subject': 'caf%C3%A9', 'content-type': 'application/json', host: 'h' })).toEqual({
      attrs: { specversion: '1.0', id: 'x', subject: 'café', datacontenttype: 'application/json' },
      errors: [],
    })
    expect(binaryCloudEventAttrs({ 'content-type': 'application/json' })).toBeNull()
  })

  it('takes a request carrying any REQUIRED attribute header as binary mode, so a missing ce-specversion is named', () => {
    expect(binaryCloudEventAttrs({ 'ce-id': 'x', 'content-type': ['application/json'] })).toEqual({ attrs: { id: 'x', datacontenttype: 'application/json' }, errors: [] })
    expect(binaryCloudEventAttrs({ 'ce-comexampleextension1': 'v', 'content-type': 'application/json' })).toBeNull()
  })
})
