import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../server/config.js'
import { openStore, type Store } from '../../server/storage/client.js'
import { migrate } from '../../server/storage/migrations.js'

/**
 * A throwaway data directory and database for one test file. Vitest runs each file in its
 * own forked process, and chdb binds one data directory per process, so a file opens at most
 * one data directory (reuse the Config this returns when booting a server in the same file).
 */
export function testConfig(overrides: Partial<Config> = {}, env: Record<string, string> = {}): Config {
  const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-test-'))
  const base = loadConfig({
    AFTERMATH_DATA_DIR: dataDir,
    AFTERMATH_PORT: '0',
    AFTERMATH_DEMO: '0',
    AFTERMATH_LOG_LEVEL: 'silent',
    AFTERMATH_TOKENS: 'admin:test-admin-token-0123456789abcdef0123,ingest:test-ingest-token-0123456789abcdef0123,read:test-read-token-0123456789abcdef0123',
    // Every test talks from 127.0.0.1, and many send wrong tokens on purpose: the throttle of
    // failed authentications is tested where it is asked for (crowd.test.ts).
    AFTERMATH_AUTH_FAILURES_PER_MIN: '0',
    CLICKHOUSE_DATABASE: `t_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
    ...env,
  })
  return { ...base, ...overrides }
}

export const TOKENS = { admin: 'test-admin-token-0123456789abcdef0123', ingest: 'test-ingest-token-0123456789abcdef0123', read: 'test-read-token-0123456789abcdef0123' } as const

export async function openTestStore(config: Config = testConfig()): Promise<{ store: Store; config: Config; cleanup(): Promise<void> }> {
  const store = await openStore(config)
  await migrate(store)
  return {
    store,
    config,
    async cleanup() {
      await store.close()
      removeDataDir(config.dataDir)
    },
  }
}

/**
 * Remove a test data directory. The embedded engine may still be finishing a background
 * merge after its connections close, so a directory can briefly refill while it is removed:
 * retry, and never fail a test over cleanup of a temporary directory.
 */
export function removeDataDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  } catch {
    // left in the system temp directory
  }
}
