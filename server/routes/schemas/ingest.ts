import { z } from 'zod'
import type { IngestResult } from '../../ingest/events.js'
import type { Incident } from '../../ingest/incidents.js'
import { CHANNELS, LIMITS } from '../../domain/events.js'
import { agree, incidentId, timeParam, type Same } from './common.js'

/**
 * Bodies and answers of the ingest API (SPEC §2, §4 "Ingest"). Events are validated by hand on
 * the hot path (ingest/validate.ts, for speed); this schema describes the same rules, and
 * test/integration/openapi.test.ts sends events valid and invalid by it to the server.
 */

const optional = <T extends z.ZodType>(s: T) => s.nullish()
const text = (max: number) => z.string().max(max)
const tenantId = z.string().min(1).max(LIMITS.tenantId).meta({ description: 'any Unicode, stored and returned byte for byte' })
const common = {
  event_id: z.string().min(1).max(LIMITS.eventId).meta({ description: 'idempotency key within the incident: the first accepted copy wins' }),
  incident_id: incidentId,
  occurred_at: timeParam.meta({ description: 'event time, RFC 3339 (milliseconds kept); at most 5 minutes in the future, not before 1970' }),
  message: optional(text(LIMITS.message)),
}
const tenantEvent = (type: string) => z.strictObject({ ...common, type: z.literal(type), tenant_id: tenantId })

/** One event (SPEC §2); `null` in an optional field counts as absent. */
export const eventSchema = z
  .discriminatedUnion('type', [
    tenantEvent('access_lost'),
    tenantEvent('access_restored'),
    tenantEvent('restore_started'),
    tenantEvent('restore_completed'),
    z.strictObject({ ...common, type: z.literal('restore_progress'), tenant_id: tenantId, progress: z.number().min(0).max(1) }),
    z.strictObject({
      ...common,
      type: z.literal('communication'),
      tenant_id: optional(tenantId).meta({ description: 'absent: a broadcast to every tenant of the incident' }),
      channel: optional(z.enum(CHANNELS)).meta({ description: 'default other' }),
    }),
    z.strictObject({ ...common, type: z.literal('milestone'), tenant_id: z.null().optional(), label: optional(text(LIMITS.label)) }),
  ])
  .meta({ id: 'Event' })

/** A context attribute: a non-empty string (CloudEvents 1.0 "String"; null means absent). */
const attr = (description: string) => z.string().min(1).nullish().meta({ description })

/**
 * A CloudEvent (JSON format, structured mode) carrying one event. Every rule checked is listed in
 * README "CloudEvents 1.0" (server/ingest/cloudevents-attributes.ts); Aftermath also needs `time`
 * and data holding incident_id.
 */
export const cloudEventSchema = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string().min(1).meta({ description: '→ event_id' }),
    source: z.string().min(1).meta({ description: 'URI-reference (RFC 3986)' }),
    type: z.string().min(1).meta({ description: 'its last .-separated segment is the event type, e.g. com.example.outage.access_lost' }),
    subject: attr('→ tenant_id'),
    time: timeParam.meta({ description: '→ occurred_at (required by Aftermath)' }),
    datacontenttype: attr('a media type; data_base64 is read as JSON when it is */json or */*+json (or absent)'),
    dataschema: z.string().regex(/^[^#]+$/).nullish().meta({ description: 'absolute URI (RFC 3986 §4.3: no fragment)', format: 'uri' }),
    data: z.record(z.string(), z.unknown()).nullish().meta({ description: 'incident_id and the other event fields (progress, channel, label, message)' }),
    data_base64: z.string().nullish().meta({ description: 'base64 of the JSON data object, instead of data (not both)' }),
  })
  .catchall(z.union([z.string(), z.boolean(), z.int32(), z.null()]).meta({ description: 'extension attribute: string, boolean or 32-bit integer' }))
  .meta({ description: 'attribute names are a-z and 0-9 only (and data_base64); data and data_base64 exclude each other', propertyNames: { pattern: '^(?:[a-z0-9]+|data_base64)$' }, not: { required: ['data', 'data_base64'] } })

export const ingestResult = z.strictObject({
  accepted: z.int(),
  rejected: z.int(),
  errors: z
    .array(z.strictObject({ index: z.int().meta({ description: 'position in the array, or 0-based line of an NDJSON body' }), field: z.string(), message: z.string() }))
    .meta({ description: 'at most 100 listed' }),
})

/** 422 of an atomic request: the error shape with the counts beside it. */
export const atomicRejected = z.strictObject({ error: z.strictObject({ code: z.string(), message: z.string() }), ...ingestResult.shape })

export const tenantsQuery = z.object({ replace: z.enum(['true', 'false', '1', '0', '']).optional().meta({ description: 'replace each whole record instead of merging' }) })
export const eventsQuery = z.object({ atomic: z.enum(['true', 'false', '1', '0', '']).optional().meta({ description: 'any invalid event → 422 and nothing kept' }) })

export const incidentBodyOut = z.strictObject({
  incident_id: z.string(),
  title: z.string(),
  description: z.string(),
  severity: z.string(),
  status: z.enum(['ongoing', 'resolved']),
  comm_policy: z.strictObject({ first_contact_within: z.string(), update_every: z.string(), stall_after: z.string() }),
})

/** Binary-mode CloudEvents: the attributes as ce-* headers (percent-encoded), the data as the JSON body. */
export const cloudEventHeaders = z.object({
  'ce-specversion': z.literal('1.0').optional().meta({ description: 'binary mode: present with ce-id, ce-source and ce-type' }),
  'ce-id': z.string().optional(),
  'ce-source': z.string().optional(),
  'ce-type': z.string().optional(),
  'ce-subject': z.string().optional(),
  'ce-time': z.string().optional(),
})

agree<Same<z.output<typeof ingestResult>, IngestResult>>(true)
agree<Same<z.output<typeof incidentBodyOut>, Incident>>(true)
