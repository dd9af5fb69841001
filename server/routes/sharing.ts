import express, { Router, type Request } from 'express'
import { z } from 'zod'
import type { AppDeps } from '../app.js'
import type { Principal } from '../auth.js'
import { minuteToYearMs } from '../domain/duration.js'
import { badRequest, HttpError, notFound } from '../errors.js'
import { INCIDENT_ID_RE, isWellFormed } from '../ingest/validate.js'
import { assertIncident } from '../metrics/incidents.js'
import { customerStatus } from '../metrics/status.js'
import type { ShareLink } from '../sharing/links.js'
import { withLane } from '../storage/lanes.js'
import { perTokenRateLimit } from './ingest.js'

/** A link lives this long unless the request says otherwise. */
export const DEFAULT_LINK_LIFETIME_MS = 7 * 86_400_000

/** At most this many links in one POST (one insert). */
export const MAX_LINKS_PER_REQUEST = 10_000

const linkSchema = z.strictObject({
  incident_id: z.string().min(1).max(128).regex(INCIDENT_ID_RE, 'may only contain letters, digits and . _ : -'),
  tenant_id: z
    .string()
    .min(1)
    .refine((s) => s.length <= 256 || [...s].length <= 256, 'must be 1-256 characters')
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
export function sharingRouter(deps: AppDeps): Router {
  const { links } = deps
  const r = Router()
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

  r.post('/share-links', admin, express.json({ limit: '4mb', type: () => true }), async (req, res) => {
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
  r.get('/share-links', admin, async (req, res) => {
    const parsed = listSchema.safeParse(req.query)
    if (!parsed.success) throw badRequest(issues(parsed.error))
    const q = parsed.data
    res.json(await withLane('cheap', () => links.list({ incidentId: q.incident_id, limit: q.limit, offset: q.offset }, nowMs())))
  })
  r.delete('/share-links/:id', admin, async (req, res) => {
    const id = String(req.params.id)
    if (!(await links.revoke(id, nowMs()))) throw notFound(`no share link "${id.slice(0, 64)}"`)
    res.status(204).end()
  })

  r.get('/status', deps.auth.requireTenantLink(), perTokenRateLimit(deps.config.queryRateLimitRps), async (_req, res) => {
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
