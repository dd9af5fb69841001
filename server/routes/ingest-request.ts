import type { Request } from 'express'
import type { Config } from '../config.js'
import { HttpError } from '../errors.js'
import { isJsonMediaType } from '../ingest/cloudevents-attributes.js'
import { ingestCandidates, ingestNdjson, storeValidated, type IngestContext, type IngestOutcome, type IngestResult } from '../ingest/events.js'
import type { JsonWorkers } from '../ingest/json-workers.js'
import { bodyStream, parseJsonBody, readBody, type BodyPace, type LargeBodies } from '../ingest/parse-body.js'
import { fromMapped } from '../ingest/json-events.js'
import { cloudEventField, isBinaryCloudEvent, mapBinaryCloudEvent } from '../ingest/parse-cloudevents.js'
import { decodeJsonBody } from '../ingest/parse-json-array.js'
import { upsertTenants, upsertTenantsNdjson } from '../ingest/tenants.js'
import type { Store } from '../storage/client.js'

/**
 * The HTTP side of ingest: which parser a request's Content-Type and ce-* headers call for, its
 * query flags, and its body read within the configured pace and limits. The parsers, validation
 * and storage are ingest's; what they answer is mapped to statuses by routes/ingest.ts.
 */

/** How fast a body must arrive (config: AFTERMATH_BODY_IDLE_TIMEOUT_MS, AFTERMATH_BODY_MIN_BYTES_PER_S, AFTERMATH_BODY_RATE_GRACE_MS). */
const paceOf = (config: Config): BodyPace => ({ idleTimeoutMs: config.bodyIdleTimeoutMs, minBytesPerS: config.bodyMinBytesPerS, graceMs: config.bodyRateGraceMs })

/** Largest PUT /incidents body: four short text fields. */
export const MAX_INCIDENT_BODY_BYTES = 64 * 1024

/** The media type of a request, lower-cased, without parameters; 415 for a charset other than UTF-8. */
function mediaType(req: Request): string {
  const header = req.headers['content-type']
  if (!header) return ''
  const [type, ...params] = header.split(';')
  for (const p of params) {
    const [k, v] = p.split('=').map((s) => s.trim().toLowerCase())
    if (k === 'charset' && v !== undefined && !['utf-8', 'utf8', '"utf-8"'].includes(v)) {
      throw new HttpError(415, 'unsupported_charset', `charset "${v}" is not supported; send UTF-8`)
    }
  }
  return type!.trim().toLowerCase()
}

function booleanParam(req: Request, name: string): boolean {
  const v = req.query[name]
  if (v === undefined || v === 'false' || v === '0') return false
  if (v === 'true' || v === '1' || v === '') return true
  throw new HttpError(400, 'bad_parameter', `${name} must be true or false`)
}

const unsupported = (type: string, accepted: string[]) =>
  new HttpError(415, 'unsupported_media_type', `Content-Type ${type ? `"${type}"` : '(missing)'} is not supported; send one of ${accepted.join(', ')}`)

const EVENT_MEDIA_TYPES = ['application/json', 'application/x-ndjson', 'application/cloudevents+json', 'application/cloudevents-batch+json']

/**
 * A whole JSON body, read (with a large-body permit past 1 MiB) and decoded a chunk of array
 * elements at a time; `use` runs while the permit is held.
 */
async function withJsonBody<T>(req: Request, config: Config, large: LargeBodies, use: (buf: Buffer) => Promise<T>): Promise<T> {
  const { buf, release } = await readBody(req, config.maxJsonBytes, paceOf(config), large)
  try {
    return await use(buf)
  } finally {
    release()
  }
}

/** What ingest requests need beside the pipeline: the large-body permits and the threads that decode large JSON bodies. */
export type EventsRequestContext = IngestContext & { largeBodies: LargeBodies; jsonWorkers: JsonWorkers }

/**
 * POST /api/v1/events: pick the parser by Content-Type, validate, store. CloudEvents modes as the
 * HTTP binding tells them apart (§3): a Content-Type starting application/cloudevents is structured
 * or batched (any ce-* headers beside it are ignored: the body holds every attribute, §3.2.3);
 * otherwise ce-* headers make it binary mode, whose Content-Type is the datacontenttype.
 */
export async function ingestEventsRequest(ctx: EventsRequestContext, config: Config, req: Request): Promise<IngestOutcome> {
  const atomic = booleanParam(req, 'atomic')
  const type = mediaType(req)
  if (!type.startsWith('application/cloudevents') && isBinaryCloudEvent(req.headersDistinct)) {
    if (!isJsonMediaType(type)) throw unsupported(type, ['application/json or another */json or */*+json type (the data of a binary-mode CloudEvent is read as JSON)'])
    const { buf, release } = await readBody(req, config.maxJsonBytes, paceOf(config), ctx.largeBodies)
    try {
      // An empty body is an event without data (rejected for its missing incident_id, not as malformed JSON).
      const data = buf.length === 0 ? undefined : parseJsonBody(buf)
      return await ingestCandidates(ctx, [fromMapped(mapBinaryCloudEvent(req.headersDistinct, data))], { atomic, fieldName: cloudEventField })
    } finally {
      release()
    }
  }
  switch (type) {
    case 'application/x-ndjson':
    case 'application/jsonl':
    case 'application/jsonlines': {
      // Atomic requests are held in memory until the end, so they get the JSON body bound.
      const maxBodyBytes = atomic ? Math.min(config.maxJsonBytes, config.maxNdjsonBytes) : config.maxNdjsonBytes
      const limitNote = atomic ? ' (atomic=true requests are held in memory until the end; send larger ones without atomic)' : undefined
      return ingestNdjson(ctx, bodyStream(req, paceOf(config)), { atomic, maxBodyBytes, limitNote })
    }
    case 'application/json':
    case 'application/cloudevents+json':
    case 'application/cloudevents-batch+json': {
      const format = type === 'application/json' ? 'json' : type === 'application/cloudevents+json' ? 'cloudevents' : 'cloudevents-batch'
      return withJsonBody(req, config, ctx.largeBodies, async (buf) => storeValidated(ctx, await ctx.jsonWorkers.validate(buf, format, ctx.now().getTime()), atomic))
    }
    default:
      throw unsupported(type, EVENT_MEDIA_TYPES)
  }
}

/** POST /api/v1/tenants: JSON array (or object) or NDJSON of tenant records. */
export async function upsertTenantsRequest(store: Store, config: Config, large: LargeBodies, req: Request): Promise<IngestResult> {
  const type = mediaType(req)
  const replace = booleanParam(req, 'replace')
  if (type === 'application/x-ndjson' || type === 'application/jsonl') return upsertTenantsNdjson(store, bodyStream(req, paceOf(config)), config.maxNdjsonBytes, replace)
  if (type === 'application/json')
    return withJsonBody(req, config, large, (buf) => {
      const body = decodeJsonBody(buf)
      return upsertTenants(store, body.kind === 'array' ? body.chunks : [[body.value]], replace)
    })
  throw unsupported(type, ['application/json', 'application/x-ndjson'])
}

/** PUT /api/v1/incidents/{id}: the JSON body. */
export async function incidentBody(req: Request, config: Config): Promise<unknown> {
  const type = mediaType(req)
  if (type !== 'application/json') throw unsupported(type, ['application/json'])
  return parseJsonBody((await readBody(req, MAX_INCIDENT_BODY_BYTES, paceOf(config))).buf)
}
