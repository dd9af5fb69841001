import { boot, type BootOptions, type Running } from '../../server/boot.js'
import type { Config } from '../../server/config.js'
import type { Store } from '../../server/storage/client.js'
import { removeDataDir, testConfig, TOKENS } from './db.js'

export interface TestServer extends Running {
  config: Config
  /** fetch against the server with a bearer token (admin unless given). */
  api(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>
  stop(): Promise<void>
}

/**
 * Boot the real server in-process on a free port, on a fresh data directory and database.
 * `store` reads the server's storage directly; like the query API, a read first waits until
 * the events acknowledged so far have gone from the spool into ClickHouse (or storage fails).
 */
export async function startTestServer(config: Config = testConfig(), opts: BootOptions = {}): Promise<TestServer> {
  const running = await boot(config, opts)
  const settled = () => running.drained(30_000)
  const store: Store = {
    ...running.store,
    async rows(sql, params) {
      await settled()
      return running.store.rows(sql, params)
    },
  }
  return {
    ...running,
    store,
    config,
    api(path, init = {}) {
      const { token = TOKENS.admin, headers, ...rest } = init
      const h = new Headers(headers)
      if (token) h.set('authorization', `Bearer ${token}`)
      return fetch(running.url + path, { ...rest, headers: h })
    },
    async stop() {
      await running.close()
      removeDataDir(config.dataDir)
    },
  }
}
