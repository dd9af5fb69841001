import { Router } from 'express'
import type { AppDeps } from '../app.js'

/** /healthz (open: process up), /readyz (storage reachable, not overloaded, spool depth), /metrics (Prometheus). */
export function healthRouter({ store, ingest, auth, telemetry, config, heavy, streams }: AppDeps): Router {
  const r = Router()
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  r.get('/readyz', auth.require('read'), async (_req, res) => {
    // ping runs beside the engine's queue (no bound parameters), so it answers even when the queue is long.
    const storage = await store.ping()
    const spool = ingest.spoolDepth()
    const lanes = store.gateStats()
    // Overloaded: cheap reads are already waiting half of what they may wait before being refused.
    const overloaded = lanes.oldestWaitMs.cheap > config.queryQueueMs / 2
    const status = !storage ? 'storage_unavailable' : overloaded ? 'overloaded' : 'ready'
    if (status !== 'ready') res.set('Retry-After', '1')
    res.status(status === 'ready' ? 200 : 503).json({
      status,
      storage: storage ? 'ok' : 'unreachable',
      spool_events: spool,
      spool_quarantined: ingest.spoolQuarantined(),
      queries: { running: lanes.runningByLane, queued: lanes.queued, oldest_wait_ms: lanes.oldestWaitMs, heavy_requests: heavy.running },
    })
  })
  r.get('/metrics', auth.require('read'), async (_req, res) => {
    telemetry.spoolDepth.set(ingest.spoolDepth())
    telemetry.spoolQuarantined.set(ingest.spoolQuarantined())
    telemetry.streamsOpen.set(streams.streams)
    telemetry.streamUpdates.set(streams.computed)
    telemetry.streamsDropped.set(streams.dropped)
    res.type(telemetry.registry.contentType).send(await telemetry.registry.metrics())
  })
  return r
}
