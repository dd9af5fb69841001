import express, { type Request } from 'express'
import { z } from 'zod'
import type { AppDeps } from '../deps.js'
import type { Principal } from '../auth.js'
import { minuteToYearMs } from '../domain/duration.js'
import { INCIDENT_ID_RE, isWellFormed, LIMITS } from '../domain/events.js'
import { badRequest, HttpError, notFound } from '../errors.js'
import { assertIncident } from '../metrics/incidents.js'
import { customerStatus } from '../metrics/status.js'
import type { ShareLink } from '../sharing/links.js'
import { withLane } from '../storage/lanes.js'
import { perTokenRateLimit } from './rate-limit.js'
import { ApiRouter, type RouteSpec } from './api-route.js'
import { time } from './schemas/common.js'
import { statusBody } from './schemas/views.js'

/** A link lives this long unless the request says otherwise. */
export const DEFAULT_LINK_LIFETIME_MS = 7 * 86_400_000

/** At most this many links in one POST (one insert). */
export const MAX_LINKS_PER_REQUEST = 10_000

const linkSchema = z.strictObject({
  incident_id: z.string().min(1).max(LIMITS.incidentId).regex(INCIDENT_ID_RE, 'may only contain letters, digits and . _ : -'),
  tenant_id: z
    .string()
    .min(1)
    .refine((s) => s.length <= LIMITS.tenantId || [...s].length <= LIMITS.tenantId, `must be 1-${LIMITS.tenantId} characters`)
    .refine(isWellFormed, 'must be valid Unicode (lone surrogate)')
    .nullish(),
  expires_in: minuteToYearMs.default(DEFAULT_LINK_LIFETIME_MS),
})
const batchSchema = z.array(linkSchema).min(1).max(MAX_LINKS_PER_REQUEST)

const listSchema = z.strictObject({
  incident_id: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
})

const createdLink = z.strictObject({
  id: z.string(),
  token: z.string().meta({ description: 'shown in this answer only; only its hash is stored' }),
  url: z.string().meta({ description: 'the dashboard (incident link) or the status page (tenant link), token in the fragment' }),
  incident_id: z.string(),
  tenant_id: z.string().nullable(),
  created_at: time,
  expires_at: time,
})
const linkView = z.strictObject({
  id: z.string(),
  kind: z.enum(['incident', 'tenant']),
  incident_id: z.string(),
  tenant_id: z.string().nullable(),
  created_at: time,
  expires_at: time,
  revoked_at: time.nullable(),
  status: z.enum(['active', 'expired', 'revoked']),
  last_used_at: time.nullable(),
  uses: z.int(),
})
const spec = (s: Omit<RouteSpec, 'tag'>): RouteSpec => ({ tag: 'sharing', ...s })
const create = spec({
  method: 'post',
  path: '/api/v1/share-links',
  operationId: 'createShareLinks',
  summary: 'Create a share link, or up to 10,000 for one incident at once (an incident link without tenant_id, a customer status link with it)',
  access: 'admin',
  body: { description: 'one link, or an array of links of one incident', required: true, content: { 'application/json': z.union([linkSchema, batchSchema]) } },
  responses: {
    201: { description: 'the link (for an array: { links: [...] }); the token is shown only here', schema: z.union([createdLink, z.strictObject({ links: z.array(createdLink) })]) },
  },
  errors: [400, 404, 413, 503],
})
const list = spec({
  method: 'get',
  path: '/api/v1/share-links',
  operationId: 'listShareLinks',
  summary: 'Share links, newest first, with their use count and last use',
  access: 'admin',
  query: listSchema,
  responses: { 200: { description: 'a page of links and how many there are', schema: z.strictObject({ total: z.int(), share_links: z.array(linkView) }) } },
  errors: [400, 503],
})
const revoke = spec({
  method: 'delete',
  path: '/api/v1/share-links/{id}',
  operationId: 'revokeShareLink',
  summary: 'Revoke a share link (at once on this server, within seconds on the others)',
  access: 'admin',
  params: z.object({ id: z.string().max(128) }),
  responses: { 204: { description: 'revoked' } },
  errors: [404, 503],
})
const status = spec({
  method: 'get',
  path: '/api/v1/status',
  operationId: 'customerStatus',
  summary: "A customer's own status in its incident (customer status links only)",
  access: 'tenant_link',
  responses: { 200: { description: "the tenant's state, restore progress, downtime and updates", schema: statusBody } },
  errors: [503],
  rateLimited: true,
})

const issues = (e: z.ZodError) =>
  e.issues
    .slice(0, 10)
    .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
    .join('; ')
    .slice(0, 500)

/**
 * Sharing (SPEC §8): share links (scope admin) and the customer status a tenant link reads.
 * Which routes a link may use is decided in auth.ts; the status document in metrics/status.ts.
 */
export function sharingRouter(deps: AppDeps): ApiRouter {
  const { links } = deps
  const r = new ApiRouter('/api/v1')
  const admin = deps.auth.require('admin')
  const nowMs = () => deps.now().getTime()
  /** Where links point: the configured public address, or the one this request came to. */
  const baseUrl = (req: Request) => deps.config.publicUrl ?? `${req.protocol}://${req.get('host') ?? `${deps.config.host}:${deps.config.port}`}`
  const created = (req: Request, m: { link: ShareLink; token: string }) => ({
    id: m.link.id,
    token: m.token,
    // A fragment never reaches a server or its logs; the page takes it out of the address bar.
    url: `${baseUrl(req)}${m.link.tenant_id === null ? '/' : '/status'}#token=${m.token}`,
    incident_id: m.link.incident_id,
    tenant_id: m.link.tenant_id,
    created_at: new Date(m.link.created_ms).toISOString(),
    expires_at: new Date(m.link.expires_ms).toISOString(),
  })

  r.route(create, admin, express.json({ limit: '4mb', type: () => true }), async (req, res) => {
    const many = Array.isArray(req.body)
    const parsed = many ? batchSchema.safeParse(req.body) : linkSchema.safeParse(req.body)
    if (!parsed.success) throw new HttpError(400, 'invalid_share_link', issues(parsed.error))
    const batch = Array.isArray(parsed.data) ? parsed.data : [parsed.data]
    const incidents = new Set(batch.map((l) => l.incident_id))
    if (incidents.size > 1) throw badRequest('the links of one request must all be for one incident')
    const incidentId = batch[0]!.incident_id
    await withLane('cheap', async () => {
      await deps.state.fresh(incidentId)
      await assertIncident(deps.store, incidentId)
    })
    const now = nowMs()
    const made = await links.create(
      batch.map((l) => ({ incident_id: l.incident_id, tenant_id: l.tenant_id ?? null, expires_ms: now + l.expires_in })),
      now,
    )
    const out = made.map((m) => created(req, m))
    res.status(201).json(many ? { links: out } : out[0])
  })
  r.route(list, admin, async (req, res) => {
    const parsed = listSchema.safeParse(req.query)
    if (!parsed.success) throw badRequest(issues(parsed.error))
    const q = parsed.data
    res.json(await withLane('cheap', () => links.list({ incidentId: q.incident_id, limit: q.limit, offset: q.offset }, nowMs())))
  })
  r.route(revoke, admin, async (req, res) => {
    const id = String(req.params.id)
    if (!(await links.revoke(id, nowMs()))) throw notFound(`no share link "${id.slice(0, 64)}"`)
    res.status(204).end()
  })

  r.route(status, deps.auth.requireTenantLink(), perTokenRateLimit(deps.config.queryRateLimitRps), async (_req, res) => {
    const { link } = res.locals.principal as Extract<Principal, { kind: 'link' }>
    const end = deps.telemetry.querySeconds.startTimer({ view: 'status' })
    try {
      const doc = await withLane('cheap', async () => {
        await deps.state.fresh(link.incident_id)
        return customerStatus(deps.store, deps.state, link.incident_id, link.tenant_id!, nowMs())
      })
      res.set('Cache-Control', 'no-store').json(doc)
    } finally {
      end()
    }
  })
  return r
}
