import { z } from 'zod'
import { ApiRouter, type Access, type RouteSpec } from './api-route.js'
import { errorBody } from './schemas/common.js'

/** OpenAPI 3.1 uses JSON Schema 2020-12, which is what zod writes. */
const jsonSchema = (schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' })
  return rest
}

const ERROR_REF = { $ref: '#/components/schemas/Error' }

const ERROR_TEXT: Record<number, string> = {
  400: 'malformed request or parameter',
  401: 'no token, an invalid one, or an expired or revoked share link',
  403: 'the token may not do this',
  404: 'no such incident, tenant or object',
  408: 'the body arrived too slowly',
  413: 'body or list too large',
  415: 'unsupported Content-Type or charset',
  422: 'invalid (atomic request)',
  429: 'rate limited or too many failed authentications (Retry-After)',
  503: 'storage unavailable, spool full, or too many expensive requests now (Retry-After)',
}

/** Who may call: the bearer scheme with the scopes of SPEC §4 and the share links of §8. */
const SECURITY: Record<Access, Record<string, string[]>[]> = {
  open: [],
  read: [{ bearer: ['read'] }],
  ingest: [{ bearer: ['ingest'] }],
  admin: [{ bearer: ['admin'] }],
  incident: [{ bearer: ['read'] }, { bearer: ['share:incident'] }],
  tenant_link: [{ bearer: ['share:tenant'] }],
}

const FILTERS_PARAM = {
  name: 'attr.{name}',
  in: 'query',
  required: false,
  description:
    'Segment filter attr.<name>=<value> (for example attr.tier=enterprise): repeat a name for OR, different names AND; at most 100 values per name, values ≤ 256 characters, names of 1–64 A-Z a-z 0-9 _ . -',
  schema: { type: 'string', maxLength: 256 },
}

function parameters(spec: RouteSpec): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  const add = (where: 'path' | 'query' | 'header', schema: z.ZodObject | undefined) => {
    if (!schema) return
    const js = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] }
    for (const [name, { description, ...s }] of Object.entries(js.properties ?? {})) {
      out.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), ...(description ? { description } : {}), schema: s })
    }
  }
  add('path', spec.params)
  add('query', spec.query)
  add('header', spec.headers)
  if (spec.filters) out.push(FILTERS_PARAM)
  return out
}

function responses(spec: RouteSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [status, r] of Object.entries(spec.responses)) {
    const headers = r.headers && Object.fromEntries(Object.entries(r.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]))
    const content = r.schema ? { 'application/json': { schema: jsonSchema(r.schema, 'output') } } : r.type ? { [r.type]: { schema: { type: r.type.endsWith('json') ? 'object' : 'string' } } } : undefined
    out[status] = { description: r.description, ...(headers ? { headers } : {}), ...(content ? { content } : {}) }
  }
  const errors = new Set(spec.errors)
  if (spec.access !== 'open') for (const s of [401, 403, 429]) errors.add(s)
  if (spec.rateLimited) errors.add(429)
  for (const status of [...errors].sort()) {
    if (out[status]) continue
    const retry = status === 429 || status === 503 ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'string' } } } } : {}
    out[status] = { description: ERROR_TEXT[status] ?? 'error', ...retry, content: { 'application/json': { schema: ERROR_REF } } }
  }
  return out
}

function operation(spec: RouteSpec): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: [spec.tag],
    security: SECURITY[spec.access],
    parameters: parameters(spec),
    responses: responses(spec),
  }
  if (spec.body) {
    op.requestBody = {
      description: spec.body.description,
      required: spec.body.required ?? false,
      content: Object.fromEntries(Object.entries(spec.body.content).map(([type, schema]) => [type, { schema: jsonSchema(schema, 'input') }])),
    }
  }
  return op
}

/** The OpenAPI 3.1 document of every route, built from the routes' own specs. */
export function openapiDocument(specs: RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const spec of specs) (paths[spec.path] ??= {})[spec.method] = operation(spec)
  return {
    openapi: '3.1.0',
    info: {
      title: 'Aftermath API',
      version,
      description:
        'Outage impact analytics: ingest tenant access, restore and communication events; read recovery, downtime and communication latency per incident. JSON in snake_case; timestamps RFC 3339 UTC with milliseconds; errors { "error": { "code", "message" } }.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'ingest', description: 'events, tenants, incidents (scope ingest)' },
      { name: 'query', description: 'figures of incidents (scope read, or an incident share link)' },
      { name: 'sharing', description: 'share links (admin) and the customer status a tenant link reads' },
      { name: 'webhooks', description: 'alerts of the communication policy (admin)' },
      { name: 'health', description: 'liveness, readiness, Prometheus metrics' },
      { name: 'meta', description: 'this document' },
    ],
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBody, 'output') },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'Authorization: Bearer <token>. Tokens have a scope: read (queries, dashboard), ingest (writes), admin (everything). Share links (SPEC §8) are bearer tokens too: an incident link reads one incident\'s views (share:incident), a customer status link reads only GET /api/v1/status (share:tenant).',
        },
      },
    },
  }
}

/** GET /api/v1/openapi.json: open (it holds no data), built once. */
export function openapiRouter(specs: RouteSpec[], version: string): ApiRouter {
  const api = new ApiRouter('/api/v1')
  const self: RouteSpec = {
    method: 'get',
    path: '/api/v1/openapi.json',
    operationId: 'openapi',
    summary: 'This document (OpenAPI 3.1)',
    tag: 'meta',
    access: 'open',
    responses: { 200: { description: 'the OpenAPI document', type: 'application/json' } },
    errors: [],
  }
  let body: string | undefined
  api.route(self, (_req, res) => {
    body ??= JSON.stringify(openapiDocument([...specs, self], version))
    res.type('application/json').send(body)
  })
  return api
}
