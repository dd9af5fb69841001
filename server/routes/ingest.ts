import type { Response } from 'express'
import { z } from 'zod'
import type { AppDeps } from '../deps.js'
import { HttpError } from '../errors.js'
import type { IngestOutcome } from '../ingest/events.js'
import { incidentPatchSchema, putIncident } from '../ingest/incidents.js'
import { LargeBodies } from '../ingest/parse-body.js'
import { tenantSchema } from '../ingest/tenants.js'
import { ApiRouter, type RouteSpec } from './api-route.js'
import { incidentBody, ingestEventsRequest, upsertTenantsRequest } from './ingest-request.js'
import { incidentPath } from './schemas/common.js'
import * as s from './schemas/ingest.js'
import { perTokenRateLimit } from './rate-limit.js'

const ndjson = z.string().meta({ description: 'one JSON object per line, streamed (not buffered whole)' })
/** Body errors every ingest route can answer: malformed (400), too slow (408), too large (413), wrong media type (415), storage and spool unavailable (503). */
const BODY_ERRORS = [400, 408, 413, 415, 503]

const events: RouteSpec = {
  method: 'post',
  path: '/api/v1/events',
  operationId: 'ingestEvents',
  summary: 'Ingest events: JSON, NDJSON, or CloudEvents (structured, batch, binary)',
  description:
    'Valid events are kept even when others in the request are invalid; each rejection is listed with its index and field. A 200 means every accepted event is durable (in ClickHouse or the fsynced local spool). CloudEvents binary mode: the ce-* headers carry the attributes and the body (Content-Type application/json) the data.',
  tag: 'ingest',
  access: 'ingest',
  query: s.eventsQuery,
  headers: s.cloudEventHeaders,
  body: {
    description: 'events',
    required: true,
    content: {
      'application/json': z.union([s.eventSchema, z.array(s.eventSchema)]),
      'application/x-ndjson': ndjson,
      'application/cloudevents+json': s.cloudEventSchema,
      'application/cloudevents-batch+json': z.array(s.cloudEventSchema),
    },
  },
  responses: {
    200: { description: 'how many events were accepted and rejected, with the reasons', schema: s.ingestResult },
    422: { description: 'atomic=true and some event invalid: nothing kept', schema: s.atomicRejected },
  },
  errors: BODY_ERRORS,
  rateLimited: true,
}

const tenants: RouteSpec = {
  method: 'post',
  path: '/api/v1/tenants',
  operationId: 'upsertTenants',
  summary: 'Upsert tenant metadata (merge: a field given replaces, one not given is kept, an attribute given as null is removed)',
  tag: 'ingest',
  access: 'ingest',
  query: s.tenantsQuery,
  body: { description: 'tenants', required: true, content: { 'application/json': z.union([tenantSchema, z.array(tenantSchema)]), 'application/x-ndjson': ndjson } },
  responses: { 200: { description: 'how many records were accepted and rejected', schema: s.ingestResult } },
  errors: BODY_ERRORS,
  rateLimited: true,
}

const incident: RouteSpec = {
  method: 'put',
  path: '/api/v1/incidents/{id}',
  operationId: 'putIncident',
  summary: "Create or update an incident's metadata and communication policy",
  tag: 'ingest',
  access: 'ingest',
  params: incidentPath,
  body: { description: 'the fields to change; absent or null keeps the stored value (null resets a policy field)', content: { 'application/json': incidentPatchSchema } },
  responses: { 200: { description: 'the incident as stored', schema: s.incidentBodyOut } },
  errors: BODY_ERRORS,
  rateLimited: true,
}

/** An events request's outcome as SPEC §4 answers it: 200 stored, 422 rejected (atomic), 503 unavailable with Retry-After. */
function sendOutcome(res: Response, o: IngestOutcome): void {
  switch (o.kind) {
    case 'stored':
      res.json(o.result)
      return
    case 'rejected':
      res.status(422).json({ error: { code: 'invalid_events', message: `${o.result.rejected} event(s) invalid; atomic=true, so none were kept` }, ...o.result })
      return
    case 'unavailable':
      throw new HttpError(503, o.code, o.message, { 'Retry-After': String(o.retryAfterS), ...(o.closeConnection ? { Connection: 'close' } : {}) })
  }
}

/** Ingest API (SPEC §4 "Ingest"): events, tenants, incidents; scope `ingest` (admin passes). */
export function ingestRouter(deps: AppDeps): ApiRouter {
  const { config, auth, store } = deps
  const largeBodies = new LargeBodies(config.largeBodies)
  const ctx = { pipeline: deps.ingest, telemetry: deps.telemetry, now: deps.now, largeBodies, jsonWorkers: deps.jsonWorkers }
  const guard = [auth.require('ingest'), perTokenRateLimit(config.rateLimitRps)]
  const api = new ApiRouter('/api/v1')

  api.route(events, ...guard, async (req, res) => {
    sendOutcome(res, await ingestEventsRequest(ctx, config, req))
  })
  api.route(tenants, ...guard, async (req, res) => {
    res.json(await upsertTenantsRequest(store, config, largeBodies, req))
  })
  api.route(incident, ...guard, async (req, res) => {
    const outcome = await putIncident(store, String(req.params.id), await incidentBody(req, config))
    if (outcome.kind === 'invalid') throw new HttpError(400, outcome.code, outcome.message)
    res.json(outcome.incident)
  })
  return api
}
