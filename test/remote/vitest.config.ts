import { resolve } from 'node:path'
import { defineConfig } from 'vitest/config'

// Tests against an external ClickHouse server, run by .ci/run after it starts one:
//   npx vitest run --config test/remote/vitest.config.ts
export default defineConfig({
  test: {
    root: resolve(import.meta.dirname, '../..'),
    include: ['test/remote/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
})
