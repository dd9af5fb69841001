import { Router } from 'express'
import type { AppDeps } from '../app.js'

/** /healthz (open: process up), /readyz (storage reachable, spool depth), /metrics (Prometheus). */
export function healthRouter({ store, ingest, auth, telemetry }: AppDeps): Router {
  const r = Router()
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  r.get('/readyz', auth.require('read'), async (_req, res) => {
    const storage = await store.ping()
    const spool = ingest.spoolDepth()
    res.status(storage ? 200 : 503).json({ status: storage ? 'ready' : 'storage_unavailable', storage: storage ? 'ok' : 'unreachable', spool_events: spool })
  })
  r.get('/metrics', auth.require('read'), async (_req, res) => {
    telemetry.spoolDepth.set(ingest.spoolDepth())
    res.type(telemetry.registry.contentType).send(await telemetry.registry.metrics())
  })
  return r
}
