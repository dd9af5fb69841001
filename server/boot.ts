import { chmodSync, mkdirSync } from 'node:fs'
import type { Server } from 'node:http'
import type { Express } from 'express'
import type { AddressInfo } from 'node:net'
import { createApp } from './app.js'
import { createAuth, loadTokens } from './auth.js'
import type { Config } from './config.js'
import { JsonWorkers } from './ingest/json-workers.js'
import { AlertLoop } from './webhooks/alerts.js'
import { Deliverer } from './webhooks/deliver.js'
import { WebhookStore } from './webhooks/store.js'
import { ShareLinks } from './sharing/links.js'
import { createIngestPipeline } from './ingest/pipeline.js'
import { createLogger } from './log.js'
import { createStateSync } from './metrics/state-sync.js'
import { summary } from './metrics/summary.js'
import { StreamHub } from './routes/stream.js'
import { openStore, type Store } from './storage/client.js'
import { HeavyAdmission } from './storage/lanes.js'
import { openLease, soleLease } from './storage/lease.js'
import { migrate } from './storage/migrations.js'
import { createTelemetry } from './telemetry.js'

export interface Running {
  url: string
  port: number
  server: Server
  /** The Express app (tests walk its routes). */
  app: Express
  store: Store
  /** Resolves true once every acknowledged event is in ClickHouse (false: storage failing or not within timeoutMs). */
  drained(timeoutMs: number): Promise<boolean>
  /** The generated admin token when no tokens are configured, else null. */
  generatedToken: string | null
  /** True on the start that generated it (the login link is printed then only). */
  tokenCreated: boolean
  /** Evaluate webhook alerts now (tests; the loop runs every AFTERMATH_ALERT_INTERVAL_MS). */
  evaluateAlerts(): Promise<unknown>
  /** Stop accepting connections, flush queued events, close storage. */
  close(): Promise<void>
}

export interface BootOptions {
  clientDir?: string
  now?: () => Date
  /** Wrap the store (tests inject faults at the storage boundary here). */
  wrapStore?: (store: Store) => Store
}

/** Open storage, migrate, build the app and listen. Used by main.ts and by in-process tests. */
export async function boot(config: Config, opts: BootOptions = {}): Promise<Running> {
  // Engine data, spool and token are the server's alone: the data directory is 0700, whatever it was.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  chmodSync(config.dataDir, 0o700)
  const log = createLogger(config.logLevel)
  const raw = await openStore(config)
  await migrate(raw)
  const store = opts.wrapStore ? opts.wrapStore(raw) : raw
  const { tokens, generated, created } = loadTokens(config)
  const telemetry = createTelemetry()
  const ingest = await createIngestPipeline({ config, store, telemetry, log })
  // Work done once per database, not per server: deriving, alerting, delivering (SPEC §9).
  const lease = store.kind === 'remote' ? await openLease(store, 'shared-work', log) : soleLease()
  const state = await createStateSync({
    store,
    log,
    lease,
    acknowledgedStored: (incidentId) => ingest.drained(config.storageTimeoutMs, incidentId),
    logMode: () => config.incidentLog,
  })
  const now = opts.now ?? (() => new Date())
  const streams = new StreamHub({
    summary: async (scope, p) => {
      await state.fresh(scope.incidentId)
      return summary(store, state, scope, p)
    },
    // Our own commits at once; changes through other servers once the lease holder derived them.
    onChange: (listener) => {
      const offCommitted = ingest.onCommitted(listener)
      const offDerived = lease.holder === 'local' ? () => {} : state.onChange(listener)
      return () => {
        offCommitted()
        offDerived()
      }
    },
    now,
    log,
    limits: { total: config.streamsMax, perToken: config.streamsPerToken, bufferBytes: config.streamBufferBytes },
  })
  const jsonWorkers = new JsonWorkers()
  const hooks = new WebhookStore(store)
  const deliverer = new Deliverer({ hooks, log, backoffMs: config.webhookBackoffMs, timeoutMs: config.webhookTimeoutMs, leader: () => lease.held })
  const alerts = new AlertLoop({ store, state, hooks, deliverer, log, now, leader: () => lease.held }, config.alertIntervalMs)
  const links = await ShareLinks.open(store, log, { refreshMs: config.shareLinkRefreshMs, flushMs: config.shareLinkFlushMs })
  const app = createApp({
    config,
    store,
    state,
    ingest,
    auth: createAuth(tokens, { failuresPerMin: config.authFailuresPerMin, links, now: () => now().getTime() }),
    links,
    heavy: new HeavyAdmission(config.heavyQueries, config.heavyQueriesPerToken),
    log,
    telemetry,
    streams,
    jsonWorkers,
    webhooks: { hooks, deliverer },
    now,
    clientDir: opts.clientDir,
  })
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)))
  })
  // Long NDJSON uploads must not be cut by the default request timeout; slow bodies still are.
  deliverer.start()
  alerts.start()
  server.requestTimeout = 0
  server.headersTimeout = 30_000
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | null = null
  return {
    url: `http://${config.host}:${port}`,
    port,
    server,
    app,
    store: raw,
    drained: (timeoutMs) => ingest.drained(timeoutMs),
    generatedToken: generated,
    tokenCreated: created,
    evaluateAlerts: () => alerts.runOnce(),
    close() {
      closing ??= (async () => {
        streams.close()
        await alerts.close()
        await deliverer.close()
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeIdleConnections()
        })
        // After the last request: every counted use is written.
        await links.close()
        await ingest.close()
        await jsonWorkers.close()
        await state.close()
        await lease.close()
        await raw.close()
      })()
      return closing
    },
  }
}
