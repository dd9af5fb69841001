import express, { Router } from 'express'
import { z } from 'zod'
import type { AppDeps } from '../app.js'
import { HttpError, notFound } from '../errors.js'
import { makeDelivery } from '../webhooks/alerts.js'
import { WEBHOOK_EVENTS, type Webhook } from '../webhooks/store.js'

const INCIDENT_ID = /^[A-Za-z0-9._:-]{1,128}$/

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
  incident_id: z.string().regex(INCIDENT_ID, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -').nullish(),
  format: z.enum(['json', 'slack']).default('json'),
})

const publicView = ({ secret: _, ...h }: Webhook) => ({ ...h, incident_id: h.incident_id || null })

/** Webhooks (SPEC §6), scope admin: create (the secret is shown once), list, remove, their delivery log, a test delivery. */
export function webhooksRouter(deps: AppDeps): Router {
  const { hooks } = deps.webhooks
  const r = Router()
  const admin = deps.auth.require('admin')

  r.post('/webhooks', admin, express.json({ limit: '16kb', type: () => true }), async (req, res) => {
    const parsed = webhookSchema.safeParse(req.body)
    if (!parsed.success) throw new HttpError(400, 'invalid_webhook', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ').slice(0, 500))
    const b = parsed.data
    const hook = await hooks.create({ url: b.url, events: [...new Set(b.events)], incident_id: b.incident_id ?? '', format: b.format }, deps.now().getTime())
    res.status(201).json({ ...publicView(hook), secret: hook.secret })
  })
  r.get('/webhooks', admin, async (_req, res) => {
    res.json({ webhooks: (await hooks.list()).map(publicView) })
  })
  r.delete('/webhooks/:id', admin, async (req, res) => {
    if (!(await hooks.remove(String(req.params.id)))) throw notFound(`no webhook "${String(req.params.id).slice(0, 64)}"`)
    res.status(204).end()
  })
  r.get('/webhooks/:id/deliveries', admin, async (req, res) => {
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
  r.post('/webhooks/:id/test', admin, async (req, res) => {
    const hook = await hooks.get(String(req.params.id))
    if (!hook) throw notFound(`no webhook "${String(req.params.id).slice(0, 64)}"`)
    const d = makeDelivery(hook, 'webhook.test', hook.incident_id, [{ key: `test:${Date.now()}:${Math.random()}`, data: { message: 'a test delivery from Aftermath' }, text: 'a test delivery' }])
    await hooks.putDeliveries([d])
    deps.webhooks.deliverer.wake()
    res.status(202).json({ delivery_id: d.id })
  })
  return r
}
