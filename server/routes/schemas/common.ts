import { z } from 'zod'
import { ATTRIBUTE_NAME, INCIDENT_ID_RE, LIMITS } from '../../domain/events.js'

/**
 * Schemas every route document shares. Query parameters are described as the handlers parse
 * them (metrics/filters.ts); test/integration/openapi.test.ts sends each one's valid and invalid
 * values to the server and checks that it answers as this document says.
 */

/** SPEC §4 error shape, for every 4xx/5xx. */
export const errorBody = z.strictObject({
  error: z.strictObject({
    code: z.string().meta({ description: 'machine-readable reason, e.g. bad_request, unauthorized, forbidden, not_found, rate_limited' }),
    message: z.string().meta({ description: 'what was wrong, for a person' }),
  }),
})

/** RFC 3339 UTC with milliseconds, as every timestamp is written out. */
export const time = z.iso.datetime().meta({ description: 'RFC 3339, UTC, milliseconds' })

/** A calendar date YYYY-MM-DD (no Feb 30; Feb 29 in leap years only). */
const DATE = String.raw`(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8])))`
/** RFC 3339 date-time as domain/time.ts parses it: T, t or space; seconds required; 1–9 fraction digits; Z, z or ±hh:mm. */
const RFC3339 = new RegExp(String.raw`^${DATE}[Tt ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)$`)

/** RFC 3339 as accepted in parameters and events (sub-millisecond digits truncated), years 1970–2299. */
export const timeParam = z
  .string()
  .regex(RFC3339)
  .regex(/^(?:19[7-9]\d|2[0-2]\d\d)-/)
  .meta({ format: 'date-time' })

/** `30s`, `5m`, `1.5h`, `1d`, `2w`, `250ms`, or plain seconds; at most 10 years. */
export const durationParam = z
  .string()
  .regex(/^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)?\s*$/)
  .meta({ description: 'a duration: a number with unit ms, s, m, h, d or w (seconds without one), at most 10 years', examples: ['24h', '30m', '1d'] })

export const attributeName = z.string().regex(ATTRIBUTE_NAME).meta({ description: 'a tenant attribute name' })

export const incidentId = z.string().min(1).max(LIMITS.incidentId).regex(INCIDENT_ID_RE).meta({ description: 'incident id: 1–128 of A-Z a-z 0-9 . _ : -' })

export const booleanParam = z.enum(['true', 'false', '1', '0'])

export const incidentPath = z.object({ id: incidentId })

/** A media type's text body (CSV, Markdown, SSE, Prometheus text). */
export const textBody = (type: string, description: string) => ({ description, type })

/** Figures may be absent (no tenant yet): `null`. */
export const nullableNumber = z.number().nullable()
export const nullableTime = time.nullable()

/** True when A and B are assignable both ways: `agree<Same<z.output<typeof schema>, Type>>(true)` fails to compile when a schema and its type part. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
export const agree = <T extends true>(_: T): void => undefined
