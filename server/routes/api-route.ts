import { Router, type RequestHandler } from 'express'
import type { z } from 'zod'

/**
 * Who may call a route (SPEC §4 auth, §8 links). `incident`: a read token, or an incident share
 * link for the incident in the path; `tenant_link`: only a customer's status link.
 */
export type Access = 'open' | 'read' | 'ingest' | 'admin' | 'incident' | 'tenant_link'

export type Method = 'get' | 'post' | 'put' | 'delete'

/** One response of a route: JSON described by `schema`, or another media type (`type`) with a text body. */
export interface ResponseSpec {
  description: string
  /** JSON body; omitted for 204 or non-JSON bodies. */
  schema?: z.ZodType
  /** Media type of a non-JSON body (CSV, Markdown, SSE, Prometheus text). */
  type?: string
  /** Response headers worth knowing (name → description). */
  headers?: Record<string, string>
}

/**
 * A route's contract, declared where the route is registered (STYLE 12): the OpenAPI document
 * (routes/openapi.ts) is built from these and nothing else, so a route cannot exist undocumented.
 *
 * `params` and `body` are, where the handler validates with zod, the very schemas it validates
 * with; where a handler validates by hand (query parameters of the views, events), they describe
 * it, and test/integration/openapi.test.ts proves that the handler accepts and refuses what the
 * schema does.
 */
export interface RouteSpec {
  method: Method
  /** Full path in OpenAPI form, e.g. `/api/v1/incidents/{id}/summary`. */
  path: string
  operationId: string
  summary: string
  description?: string
  tag: string
  access: Access
  /** Path parameters. */
  params?: z.ZodObject
  /** Query parameters (one schema property per parameter; `attr.{name}` filters are added by `filters`). */
  query?: z.ZodObject
  /** Takes the segment filters `attr.<name>=<value>` (SPEC §4 common parameters). */
  filters?: boolean
  /** Request body by media type. */
  body?: { description: string; content: Record<string, z.ZodType>; required?: boolean }
  /** Request headers (binary CloudEvents). */
  headers?: z.ZodObject
  /** Success responses by status. */
  responses: Record<number, ResponseSpec>
  /**
   * Error statuses besides those implied by `access` (401/403) and rate limiting (429); each
   * answers with the error shape of SPEC §4.
   */
  errors: number[]
  /** Answers 429 + Retry-After past the per-token request rate. */
  rateLimited?: boolean
}

/**
 * A router whose routes carry their contract: `route(spec, ...handlers)` registers the handlers at
 * the spec's path (relative to where the router is mounted) and keeps the spec for the document.
 */
export class ApiRouter {
  readonly router = Router()
  readonly specs: RouteSpec[] = []

  /** @param mount where the router is mounted (`/api/v1`, or '' at the root). */
  constructor(readonly mount: string) {}

  route(spec: RouteSpec, ...handlers: RequestHandler[]): void {
    if (!spec.path.startsWith(`${this.mount}/`)) throw new Error(`route ${spec.path} is outside ${this.mount}`)
    this.specs.push(spec)
    this.router[spec.method](expressPath(spec.path.slice(this.mount.length)), ...handlers)
  }
}

/** `/incidents/{id}/summary` → `/incidents/:id/summary`. */
export function expressPath(openapiPath: string): string {
  return openapiPath.replace(/\{(\w+)\}/g, ':$1')
}
