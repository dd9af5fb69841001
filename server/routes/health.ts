import { z } from 'zod'
import type { AppDeps } from '../deps.js'
import { ApiRouter, type RouteSpec } from './api-route.js'
import { textBody } from './schemas/common.js'

const lanes = z.strictObject({ cheap: z.int(), heavy: z.int(), internal: z.int() })
const readyBody = z.strictObject({
  status: z.enum(['ready', 'storage_unavailable', 'overloaded']),
  storage: z.enum(['ok', 'unreachable']),
  spool_events: z.int().meta({ description: 'acknowledged events waiting in the local spool for ClickHouse' }),
  spool_quarantined: z.int(),
  queries: z.strictObject({ running: lanes, queued: lanes, oldest_wait_ms: lanes, heavy_requests: z.int() }),
})

/** /healthz (open: process up), /readyz (storage reachable, not overloaded, spool depth), /metrics (Prometheus). */
export function healthRouter({ store, ingest, auth, telemetry, config, heavy, streams }: AppDeps): ApiRouter {
  const api = new ApiRouter('')
  const health = { method: 'get', tag: 'health', errors: [] } satisfies Partial<RouteSpec>
  api.route({ ...health, path: '/healthz', operationId: 'healthz', summary: 'The process is up (open, no data)', access: 'open', responses: { 200: { description: 'up', schema: z.strictObject({ status: z.literal('ok') }) } } }, (_req, res) => {
    res.json({ status: 'ok' })
  })
  const readyz: RouteSpec = {
    ...health,
    path: '/readyz',
    operationId: 'readyz',
    summary: 'Storage reachable and queries not overloaded; spool depth and query lanes',
    access: 'read',
    // Not ready is this same document with 503 and Retry-After, not the error shape.
    responses: { 200: { description: 'ready', schema: readyBody }, 503: { description: 'not ready (Retry-After: 1)', schema: readyBody, headers: { 'Retry-After': 'seconds' } } },
  }
  api.route(readyz, auth.require('read'), async (_req, res) => {
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
  const metrics: RouteSpec = { ...health, path: '/metrics', operationId: 'metrics', summary: 'Prometheus metrics: ingested, rejected, spooled, insert and query latency…', access: 'read', responses: { 200: textBody('text/plain', 'Prometheus text exposition format 0.0.4') } }
  api.route(metrics, auth.require('read'), async (_req, res) => {
    telemetry.spoolDepth.set(ingest.spoolDepth())
    telemetry.spoolQuarantined.set(ingest.spoolQuarantined())
    telemetry.streamsOpen.set(streams.streams)
    telemetry.streamUpdates.set(streams.computed)
    telemetry.streamsDropped.set(streams.dropped)
    res.type(telemetry.registry.contentType).send(await telemetry.registry.metrics())
  })
  return api
}
