import express from 'express'
import { z } from 'zod'
import type { AppDeps } from '../deps.js'
import { isIncidentId } from '../domain/events.js'
import { HttpError, notFound } from '../errors.js'
import { makeDelivery } from '../webhooks/alerts.js'
import { WEBHOOK_EVENTS, type Webhook } from '../webhooks/store.js'
import { ApiRouter, type RouteSpec } from './api-route.js'
import { time } from './schemas/common.js'

/** POST /webhooks body (SPEC §6). Only http(s) URLs; deliveries never follow redirects. */
const webhookSchema = z.strictObject({
  url: z
    .string()
    .max(2048)
    .refine((u) => {
      try {
        const p = new URL(u)
        return (p.protocol === 'http:' || p.protocol === 'https:') && p.hostname !== ''
      } catch {
        return false
      }
    }, 'must be an http:// or https:// URL'),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length),
  incident_id: z.string().refine(isIncidentId, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -').nullish(),
  format: z.enum(['json', 'slack']).default('json'),
})

const webhookBody = z.strictObject({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  incident_id: z.string().nullable().meta({ description: 'null: every incident' }),
  format: z.enum(['json', 'slack']),
  created_at: time,
})
const deliveriesBody = z.strictObject({
  deliveries: z.array(
    z.strictObject({
      id: z.string(),
      type: z.string(),
      incident_id: z.string(),
      status: z.string().meta({ description: 'pending, delivered or failed' }),
      attempts: z.int(),
      created_at: time,
      last_attempt_at: time.nullable(),
      next_attempt_at: time.nullable(),
      last_status: z.int().nullable(),
      last_error: z.string().nullable(),
    }),
  ),
})
const hookPath = z.object({ id: z.string().max(128) })
const spec = (s: Omit<RouteSpec, 'tag' | 'access'>): RouteSpec => ({ tag: 'webhooks', access: 'admin', ...s })
const create = spec({
  method: 'post',
  path: '/api/v1/webhooks',
  operationId: 'createWebhook',
  summary: 'Add a webhook; its signing secret is shown in this answer only',
  body: { description: 'the webhook', required: true, content: { 'application/json': webhookSchema } },
  responses: { 201: { description: 'the webhook with its secret', schema: webhookBody.extend({ secret: z.string() }) } },
  errors: [400, 413],
})
const list = spec({ method: 'get', path: '/api/v1/webhooks', operationId: 'listWebhooks', summary: 'Every webhook (without secrets)', responses: { 200: { description: 'the webhooks', schema: z.strictObject({ webhooks: z.array(webhookBody) }) } }, errors: [] })
const remove = spec({ method: 'delete', path: '/api/v1/webhooks/{id}', operationId: 'removeWebhook', summary: 'Remove a webhook', params: hookPath, responses: { 204: { description: 'removed' } }, errors: [404] })
const deliveries = spec({
  method: 'get',
  path: '/api/v1/webhooks/{id}/deliveries',
  operationId: 'webhookDeliveries',
  summary: "A webhook's delivery log, newest first (at most 200)",
  params: hookPath,
  responses: { 200: { description: 'the deliveries', schema: deliveriesBody } },
  errors: [404],
})
const test = spec({
  method: 'post',
  path: '/api/v1/webhooks/{id}/test',
  operationId: 'testWebhook',
  summary: 'Queue a test delivery',
  params: hookPath,
  responses: { 202: { description: 'queued', schema: z.strictObject({ delivery_id: z.string() }) } },
  errors: [404],
})

const publicView = ({ secret: _, ...h }: Webhook) => ({ ...h, incident_id: h.incident_id || null })

/** Webhooks (SPEC §6), scope admin: create (the secret is shown once), list, remove, their delivery log, a test delivery. */
export function webhooksRouter(deps: AppDeps): ApiRouter {
  const { hooks } = deps.webhooks
  const r = new ApiRouter('/api/v1')
  const admin = deps.auth.require('admin')

  r.route(create, admin, express.json({ limit: '16kb', type: () => true }), async (req, res) => {
    const parsed = webhookSchema.safeParse(req.body)
    if (!parsed.success) throw new HttpError(400, 'invalid_webhook', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ').slice(0, 500))
    const b = parsed.data
    const hook = await hooks.create({ url: b.url, events: [...new Set(b.events)], incident_id: b.incident_id ?? '', format: b.format }, deps.now().getTime())
    res.status(201).json({ ...publicView(hook), secret: hook.secret })
  })
  r.route(list, admin, async (_req, res) => {
    res.json({ webhooks: (await hooks.list()).map(publicView) })
  })
  r.route(remove, admin, async (req, res) => {
    if (!(await hooks.remove(String(req.params.id)))) throw notFound(`no webhook "${String(req.params.id).slice(0, 64)}"`)
    res.status(204).end()
  })
  r.route(deliveries, admin, async (req, res) => {
    const id = String(req.params.id)
    if (!(await hooks.get(id))) throw notFound(`no webhook "${id.slice(0, 64)}"`)
    const rows = await hooks.deliveries(id, 200)
    res.json({
      deliveries: rows.map((d) => ({
        id: d.id,
        type: d.type,
        incident_id: d.incident_id,
        status: d.status,
        attempts: d.attempts,
        created_at: d.created_at,
        last_attempt_at: d.last_attempt_at,
        next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null,
        last_status: d.last_status || null,
        last_error: d.last_error || null,
      })),
    })
  })
  r.route(test, admin, async (req, res) => {
    const hook = await hooks.get(String(req.params.id))
    if (!hook) throw notFound(`no webhook "${String(req.params.id).slice(0, 64)}"`)
    const d = makeDelivery(hook, 'webhook.test', hook.incident_id, [{ key: `test:${Date.now()}:${Math.random()}`, data: { message: 'a test delivery from Aftermath' }, text: 'a test delivery' }])
    await hooks.putDeliveries([d])
    deps.webhooks.deliverer.wake()
    res.status(202).json({ delivery_id: d.id })
  })
  return r
}
