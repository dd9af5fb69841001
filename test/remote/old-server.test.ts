import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config.js'
import { StorageUnavailableError } from '../../server/errors.js'
import { openStore } from '../../server/storage/client.js'

/**
 * Needs a real ClickHouse server on 127.0.0.1:8123 — Debian's `clickhouse-server` package,
 * release 18.16 (2018), started by .ci/run before this file runs:
 *   npx vitest run --project remote
 * It fails (never skips) when nothing answers there.
 */
const URL_8123 = 'http://127.0.0.1:8123'

describe('remote ClickHouse that is too old', () => {
  it('a ClickHouse server answers on 127.0.0.1:8123', async () => {
    const res = await fetch(`${URL_8123}/?query=SELECT%20version()`).catch((e: Error) => {
      throw new Error(`nothing answers on ${URL_8123} (${e.message}); start clickhouse-server before running test/remote`)
    })
    expect(res.status).toBe(200)
    expect((await res.text()).trim()).toMatch(/^\d+\.\d+/)
  })

  it('openStore refuses it with a clear "version … needs 25.3 or newer" error', async () => {
    const version = (await (await fetch(`${URL_8123}/?query=SELECT%20version()`)).text()).trim()
    const err = await openStore(loadConfig({ CLICKHOUSE_URL: URL_8123, AFTERMATH_DATA_DIR: '/tmp/unused' })).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(StorageUnavailableError)
    expect((err as Error).message).toBe(`ClickHouse server at ${URL_8123}/ is version ${version}; Aftermath needs 25.3 or newer`)
    expect(version).toMatch(/^18\.16\./)
  })
})
