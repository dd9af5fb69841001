import { z } from 'zod'

/** Scopes a token can carry; `admin` implies the other two. */
export const SCOPES = ['ingest', 'read', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

const intFrom = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def)
const numberFrom = (def: number, min: number, max: number) => z.coerce.number().min(min).max(max).default(def)

/** A guessable token is no protection: at least this many characters (a generated one has 32). */
export const MIN_TOKEN_CHARS = 32

const tokensSchema = z
  .string()
  .trim()
  .transform((raw, ctx) => {
    const tokens: { scope: Scope; token: string }[] = []
    for (const pair of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
      const idx = pair.indexOf(':')
      const scope = pair.slice(0, idx) as Scope
      const token = pair.slice(idx + 1)
      if (idx < 1 || !SCOPES.includes(scope) || token.length < MIN_TOKEN_CHARS) {
        ctx.addIssue({
          code: 'custom',
          message: `each entry must be scope:token with scope one of ${SCOPES.join('|')} and a token of at least ${MIN_TOKEN_CHARS} characters (got an entry starting "${pair.slice(0, Math.min(idx + 1, 12))}"; generate one with: openssl rand -base64 32)`,
        })
        return z.NEVER
      }
      tokens.push({ scope, token })
    }
    return tokens
  })

const envSchema = z.object({
  AFTERMATH_HOST: z.string().default('127.0.0.1'),
  AFTERMATH_PORT: intFrom(3000, 0, 65535),
  AFTERMATH_DATA_DIR: z.string().default('./data'),
  AFTERMATH_TOKENS: tokensSchema.optional(),
  AFTERMATH_DEMO: z.enum(['0', '1']).default('1'),
  AFTERMATH_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CLICKHOUSE_URL: z.url().optional(),
  CLICKHOUSE_USER: z.string().optional(),
  CLICKHOUSE_PASSWORD: z.string().optional(),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a plain identifier').default('aftermath'),
  /** A self-managed cluster (SPEC §9): the database is created on it as a Replicated database. Needs CLICKHOUSE_URL. */
  CLICKHOUSE_CLUSTER: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be a cluster name of A-Z a-z 0-9 _ . -').optional(),
  /** Group commit: flush a batch when it holds this many events… */
  AFTERMATH_FLUSH_MAX_EVENTS: intFrom(20_000, 1, 10_000_000),
  /** …or when its oldest event has waited this long. */
  AFTERMATH_FLUSH_INTERVAL_MS: intFrom(20, 0, 60_000),
  AFTERMATH_DRAIN_INTERVAL_MS: intFrom(250, 0, 60_000),
  /** Largest accepted body, in bytes, for JSON (non-streamed) requests. */
  AFTERMATH_MAX_JSON_BYTES: intFrom(16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** Largest NDJSON request body in bytes (streamed; the bound is on the total). */
  AFTERMATH_MAX_NDJSON_BYTES: intFrom(4 * 1024 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
  /** Largest spool size in bytes before ingest answers 503. */
  AFTERMATH_SPOOL_MAX_BYTES: intFrom(1024 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
  /** A storage call that takes longer than this fails (and ingest falls back to the spool). */
  AFTERMATH_STORAGE_TIMEOUT_MS: intFrom(10_000, 100, 600_000),
  /** Embedded engine: connections for queries (ingest has its own); chdb runs parameterized statements one at a time regardless. */
  AFTERMATH_QUERY_CONNECTIONS: intFrom(4, 1, 32),
  /** Requests per second allowed per token (token bucket; burst = 2 s worth). 0 disables. */
  AFTERMATH_RATE_LIMIT_RPS: intFrom(2000, 0, 1_000_000),
  /** Query (read) requests per second allowed per token, apart from ingest; generous for dashboards and benchmarks. 0 disables. */
  AFTERMATH_QUERY_RATE_LIMIT_RPS: intFrom(1000, 0, 1_000_000),
  /** An ingest body that sends no bytes for this long is cut (slow-loris); long uploads that keep sending are not. */
  AFTERMATH_BODY_IDLE_TIMEOUT_MS: intFrom(30_000, 100, 3_600_000),
  /**
   * The per-incident change log held in memory for the default view (server/metrics/incident-log.ts):
   * auto = built in the background once an incident has been quiet a moment; always = built on
   * demand (queries wait for it); off = every figure computed in ClickHouse per request.
   */
  AFTERMATH_INCIDENT_LOG: z.enum(['auto', 'always', 'off']).default('auto'),
  /** Engine time one read statement may take before ClickHouse cancels it (storage/lanes.ts). */
  AFTERMATH_QUERY_MAX_SECONDS: numberFrom(5, 0.1, 600),
  /** Memory one read statement may use inside the engine. */
  AFTERMATH_QUERY_MAX_MEMORY_MB: intFrom(1024, 16, 1024 * 1024),
  /** Largest result of one read statement. */
  AFTERMATH_QUERY_MAX_RESULT_MB: intFrom(256, 1, 1024 * 1024),
  /** A cheap read waits at most this long for the engine, else 503 + Retry-After. */
  AFTERMATH_QUERY_QUEUE_MS: intFrom(2000, 10, 600_000),
  /** A statement of an expensive read waits at most this long for the engine. */
  AFTERMATH_HEAVY_QUEUE_MS: intFrom(10_000, 10, 600_000),
  /** Expensive reads (group_by, include_broadcast, exports, report) running at once, in all and per token. */
  AFTERMATH_HEAVY_QUERIES: intFrom(2, 1, 1000),
  AFTERMATH_HEAVY_QUERIES_PER_TOKEN: intFrom(1, 1, 1000),
  /** Live streams (SSE) open at once, in all and per token. */
  AFTERMATH_STREAMS_MAX: intFrom(1000, 1, 1_000_000),
  AFTERMATH_STREAMS_PER_TOKEN: intFrom(50, 1, 1_000_000),
  /** A stream client with this many KiB written but not yet read is dropped. */
  AFTERMATH_STREAM_BUFFER_KB: intFrom(256, 4, 1024 * 1024),
  /** Failed authentications allowed per client address per minute (burst of the same size); then 429. 0 disables. */
  AFTERMATH_AUTH_FAILURES_PER_MIN: intFrom(30, 0, 1_000_000),
  /** After AFTERMATH_BODY_RATE_GRACE_MS of waiting, a request body must arrive at least this fast on average (bytes/s), else 408. 0 disables. */
  AFTERMATH_BODY_MIN_BYTES_PER_S: intFrom(1024, 0, 1024 * 1024 * 1024),
  /** How long a body is waited for in all before the minimum rate applies. */
  AFTERMATH_BODY_RATE_GRACE_MS: intFrom(10_000, 0, 3_600_000),
  /** JSON (non-streamed) bodies over 1 MiB decoded at once; more wait briefly, then 503 + Retry-After. */
  AFTERMATH_LARGE_BODIES: intFrom(1, 1, 64),
  /** Webhook alerts are evaluated against the present this often for ongoing incidents (ms). */
  AFTERMATH_ALERT_INTERVAL_MS: intFrom(30_000, 100, 3_600_000),
  /** First retry of a failed delivery after this long, doubling each time (at most an hour), for 24 h. */
  AFTERMATH_WEBHOOK_BACKOFF_MS: intFrom(10_000, 10, 3_600_000),
  /** A delivery attempt that gets no answer within this long fails. */
  AFTERMATH_WEBHOOK_TIMEOUT_MS: intFrom(10_000, 100, 120_000),
  /** The address share links point at (e.g. https://status.example.com); default: the address the creating request came to. */
  AFTERMATH_PUBLIC_URL: z
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL')
    .optional(),
  /** Share links written by other servers on the same database (new links, revocations) are read this often (ms). */
  AFTERMATH_SHARE_LINK_REFRESH_MS: intFrom(2000, 100, 600_000),
  /** Counted uses of share links are written this often (ms). */
  AFTERMATH_SHARE_LINK_FLUSH_MS: intFrom(5000, 100, 600_000),
})

export type Config = {
  host: string
  port: number
  dataDir: string
  tokens: { scope: Scope; token: string }[] | undefined
  demo: boolean
  logLevel: string
  clickhouse: { url?: string; user?: string; password?: string; database: string; cluster?: string }
  flushMaxEvents: number
  flushIntervalMs: number
  /** A trickle of acknowledged events goes from the spool into ClickHouse at most this often (ms), unless a query waits for it. */
  drainIntervalMs: number
  maxJsonBytes: number
  maxNdjsonBytes: number
  spoolMaxBytes: number
  storageTimeoutMs: number
  rateLimitRps: number
  queryRateLimitRps: number
  bodyIdleTimeoutMs: number
  queryConnections: number
  incidentLog: 'auto' | 'always' | 'off'
  queryMaxSeconds: number
  queryMaxMemoryBytes: number
  queryMaxResultBytes: number
  queryQueueMs: number
  heavyQueueMs: number
  heavyQueries: number
  heavyQueriesPerToken: number
  streamsMax: number
  streamsPerToken: number
  streamBufferBytes: number
  authFailuresPerMin: number
  bodyMinBytesPerS: number
  bodyRateGraceMs: number
  largeBodies: number
  alertIntervalMs: number
  webhookBackoffMs: number
  webhookTimeoutMs: number
  publicUrl: string | undefined
  shareLinkRefreshMs: number
  shareLinkFlushMs: number
}

export class ConfigError extends Error {}

/** Parse and check the environment once; throws ConfigError with every problem listed. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  if (e.CLICKHOUSE_CLUSTER && !e.CLICKHOUSE_URL) throw new ConfigError('invalid configuration:\n  CLICKHOUSE_CLUSTER: needs CLICKHOUSE_URL (a cluster is reached over HTTP)')
  return {
    host: e.AFTERMATH_HOST,
    port: e.AFTERMATH_PORT,
    dataDir: e.AFTERMATH_DATA_DIR,
    tokens: e.AFTERMATH_TOKENS && e.AFTERMATH_TOKENS.length > 0 ? e.AFTERMATH_TOKENS : undefined,
    demo: e.AFTERMATH_DEMO === '1',
    logLevel: e.AFTERMATH_LOG_LEVEL,
    clickhouse: {
      url: e.CLICKHOUSE_URL,
      user: e.CLICKHOUSE_USER,
      password: e.CLICKHOUSE_PASSWORD,
      database: e.CLICKHOUSE_DATABASE,
      cluster: e.CLICKHOUSE_CLUSTER,
    },
    flushMaxEvents: e.AFTERMATH_FLUSH_MAX_EVENTS,
    flushIntervalMs: e.AFTERMATH_FLUSH_INTERVAL_MS,
    drainIntervalMs: e.AFTERMATH_DRAIN_INTERVAL_MS,
    maxJsonBytes: e.AFTERMATH_MAX_JSON_BYTES,
    maxNdjsonBytes: e.AFTERMATH_MAX_NDJSON_BYTES,
    spoolMaxBytes: e.AFTERMATH_SPOOL_MAX_BYTES,
    storageTimeoutMs: e.AFTERMATH_STORAGE_TIMEOUT_MS,
    rateLimitRps: e.AFTERMATH_RATE_LIMIT_RPS,
    queryRateLimitRps: e.AFTERMATH_QUERY_RATE_LIMIT_RPS,
    bodyIdleTimeoutMs: e.AFTERMATH_BODY_IDLE_TIMEOUT_MS,
    queryConnections: e.AFTERMATH_QUERY_CONNECTIONS,
    incidentLog: e.AFTERMATH_INCIDENT_LOG,
    queryMaxSeconds: e.AFTERMATH_QUERY_MAX_SECONDS,
    queryMaxMemoryBytes: e.AFTERMATH_QUERY_MAX_MEMORY_MB * 1024 * 1024,
    queryMaxResultBytes: e.AFTERMATH_QUERY_MAX_RESULT_MB * 1024 * 1024,
    queryQueueMs: e.AFTERMATH_QUERY_QUEUE_MS,
    heavyQueueMs: e.AFTERMATH_HEAVY_QUEUE_MS,
    heavyQueries: e.AFTERMATH_HEAVY_QUERIES,
    heavyQueriesPerToken: e.AFTERMATH_HEAVY_QUERIES_PER_TOKEN,
    streamsMax: e.AFTERMATH_STREAMS_MAX,
    streamsPerToken: e.AFTERMATH_STREAMS_PER_TOKEN,
    streamBufferBytes: e.AFTERMATH_STREAM_BUFFER_KB * 1024,
    authFailuresPerMin: e.AFTERMATH_AUTH_FAILURES_PER_MIN,
    bodyMinBytesPerS: e.AFTERMATH_BODY_MIN_BYTES_PER_S,
    bodyRateGraceMs: e.AFTERMATH_BODY_RATE_GRACE_MS,
    largeBodies: e.AFTERMATH_LARGE_BODIES,
    alertIntervalMs: e.AFTERMATH_ALERT_INTERVAL_MS,
    webhookBackoffMs: e.AFTERMATH_WEBHOOK_BACKOFF_MS,
    webhookTimeoutMs: e.AFTERMATH_WEBHOOK_TIMEOUT_MS,
    publicUrl: e.AFTERMATH_PUBLIC_URL?.replace(/\/+$/, ''),
    shareLinkRefreshMs: e.AFTERMATH_SHARE_LINK_REFRESH_MS,
    shareLinkFlushMs: e.AFTERMATH_SHARE_LINK_FLUSH_MS,
  }
}
