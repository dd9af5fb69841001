import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Prometheus metrics of one server instance (one registry per app, so tests stay independent). */
export function createTelemetry() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return {
    registry,
    ingested: new Counter({ name: 'aftermath_events_ingested_total', help: 'Events accepted and durable', registers: [registry] }),
    rejected: new Counter({ name: 'aftermath_events_rejected_total', help: 'Events rejected by validation', registers: [registry] }),
    spooled: new Counter({ name: 'aftermath_events_spooled_total', help: 'Events written to the local spool while storage was unavailable', registers: [registry] }),
    spoolDepth: new Gauge({ name: 'aftermath_spool_events', help: 'Events waiting in the spool', registers: [registry] }),
    spoolQuarantined: new Gauge({ name: 'aftermath_spool_quarantined_segments', help: 'Spool segments with unreadable records, kept in spool/quarantine', registers: [registry] }),
    refused: new Counter({ name: 'aftermath_requests_refused_total', help: 'Requests refused to bound their cost (503/429 with Retry-After)', labelNames: ['reason'], registers: [registry] }),
    streamsOpen: new Gauge({ name: 'aftermath_streams_open', help: 'Live streams (SSE) open', registers: [registry] }),
    streamUpdates: new Gauge({ name: 'aftermath_stream_summaries_computed', help: 'Summaries computed for live streams (one per view and change, shared by its streams)', registers: [registry] }),
    streamsDropped: new Gauge({ name: 'aftermath_streams_dropped', help: 'Live streams dropped because their client stopped reading', registers: [registry] }),
    insertSeconds: new Histogram({
      name: 'aftermath_insert_duration_seconds',
      help: 'Duration of one group-commit insert into ClickHouse',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    insertRows: new Histogram({
      name: 'aftermath_insert_rows',
      help: 'Events per group-commit insert',
      buckets: [1, 10, 100, 1000, 5000, 10000, 50000, 100000],
      registers: [registry],
    }),
    querySeconds: new Histogram({
      name: 'aftermath_query_duration_seconds',
      help: 'Duration of query API requests',
      labelNames: ['view'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  }
}
export type Telemetry = ReturnType<typeof createTelemetry>
