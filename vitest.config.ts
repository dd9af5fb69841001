import { defineConfig } from 'vitest/config'

// Each test file runs in its own forked process: chdb binds one data directory per
// process, so every file gets its own directory and database (see test/helpers/db.ts).
export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], pool: 'forks', testTimeout: 30_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The remote store over ClickHouse's HTTP interface: old-server.test.ts needs a ClickHouse
        // server on 127.0.0.1:8123 (.ci/run starts Debian's); the others start their own HTTP
        // front over the embedded engine (test/helpers/clickhouse-front.ts).
        test: { name: 'remote', include: ['test/remote/**/*.test.ts'], pool: 'forks', testTimeout: 60_000 },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
})
