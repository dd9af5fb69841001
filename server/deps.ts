import type { Logger } from 'pino'
import type { Auth } from './auth.js'
import type { Config } from './config.js'
import type { JsonWorkers } from './ingest/json-workers.js'
import type { IngestPipeline } from './ingest/types.js'
import type { StateSync } from './metrics/state-sync.js'
import type { StreamHub } from './routes/stream.js'
import type { ShareLinks } from './sharing/links.js'
import type { Store } from './storage/client.js'
import type { HeavyAdmission } from './storage/lanes.js'
import type { Telemetry } from './telemetry.js'
import type { Deliverer } from './webhooks/deliver.js'
import type { WebhookStore } from './webhooks/store.js'

/** What the app and its routes are built from: opened by boot.ts (or a test), handed to createApp. */
export interface AppDeps {
  config: Config
  store: Store
  /** Keeps the derived tenant state current; every query waits for it first. */
  state: StateSync
  ingest: IngestPipeline
  auth: Auth
  /** Permits for expensive reads (storage/lanes.ts). */
  heavy: HeavyAdmission
  /** Live streams, shared per view (routes/stream.ts). */
  streams: StreamHub
  /** Threads that decode large JSON bodies off the event loop. */
  jsonWorkers: JsonWorkers
  /** Webhooks (SPEC §6): their tables and the outbox's sender. */
  webhooks: { hooks: WebhookStore; deliverer: Deliverer }
  /** Share links (SPEC §8): tokens for one incident or one tenant's status. */
  links: ShareLinks
  log: Logger
  telemetry: Telemetry
  /** The clock behind "now" (as_of default, ETA, stale); injected so tests can pin it. */
  now: () => Date
  /** Built dashboard to serve; omitted in API-only tests. */
  clientDir?: string
}
