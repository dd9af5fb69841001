import { startListeningProcess } from './child-server.js'

export interface ClickHouseFrontOptions {
  /** The engine's data directory (created if missing); a front restarted on it finds its tables again. */
  dataDir: string
  /**
   * Table engines the front pretends not to have, as ClickHouse Cloud has no `EmbeddedRocksDB`: a
   * CREATE or ATTACH with `ENGINE = <name>` fails with the server's own error,
   * `Code: 56. DB::Exception: Unknown table engine <name>. (UNKNOWN_STORAGE)` (HTTP 404).
   * `system.table_engines` still lists them: detect a missing engine by trying a CREATE.
   */
  refuseEngines?: string[]
  /** Port on 127.0.0.1; any free one by default. */
  port?: number
  /** Credentials the front requires (basic auth, X-ClickHouse-User/Key or user/password in the URL); any are accepted when not given. */
  auth?: { user: string; password: string }
}

export interface ClickHouseFront {
  /** `http://127.0.0.1:<port>`, for CLICKHOUSE_URL or createClient({ url }). */
  url: string
  port: number
  pid: number
  /** SIGTERM: the front finishes the statements it has taken, closes the engine and exits. */
  stop(): Promise<void>
  /** SIGKILL, at once. */
  kill(): void
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** What the process printed so far. */
  output(): string
}

/**
 * Start a ClickHouse HTTP interface over the embedded engine (clickhouse-front-main.ts) as its own
 * process, resolved once it listens. The SQL engine is ClickHouse's own (chdb, release 26); only
 * the HTTP transport is emulated, so the remote store path of the server can be tested without a
 * ClickHouse server of a supported release on the machine.
 */
export async function startClickHouseFront(opts: ClickHouseFrontOptions, timeoutMs = 60_000): Promise<ClickHouseFront> {
  const proc = await startListeningProcess({
    script: 'test/helpers/clickhouse-front-main.ts',
    env: { CLICKHOUSE_FRONT_OPTIONS: JSON.stringify(opts) },
    listening: /clickhouse-front listening on (http:\/\/\S+)/,
    what: 'clickhouse front',
    timeoutMs,
  })
  const gone = () => proc.child.exitCode !== null || proc.child.signalCode !== null
  return {
    url: proc.url,
    port: Number(new URL(proc.url).port),
    pid: proc.pid,
    exited: proc.exited,
    output: proc.output,
    async stop() {
      if (!gone()) proc.child.kill('SIGTERM')
      const { code, signal } = await proc.exited
      if (code !== 0 && signal !== 'SIGKILL') throw new Error(`clickhouse front exited (${code ?? signal}) on SIGTERM:\n${proc.output()}`)
    },
    kill() {
      if (!gone()) proc.child.kill('SIGKILL')
    },
  }
}
