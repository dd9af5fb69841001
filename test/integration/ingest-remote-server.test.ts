import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config.js'
import { StorageUnavailableError } from '../../server/errors.js'
import { openStore } from '../../server/storage/client.js'
import { startChildServer } from '../helpers/child-server.js'

/** A local port that refuses connections: bound once to learn a free number, then closed. */
async function refusingPort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise((r) => srv.close(r))
  return port
}

describe('remote ClickHouse (CLICKHOUSE_URL) that cannot be reached', () => {
  it('openStore rejects with a StorageUnavailableError naming the URL and the cause', async () => {
    const port = await refusingPort()
    const config = loadConfig({ CLICKHOUSE_URL: `http://127.0.0.1:${port}`, AFTERMATH_DATA_DIR: '/tmp/unused', CLICKHOUSE_PASSWORD: 'secret-pw', CLICKHOUSE_USER: 'u' })
    const err = await openStore(config).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(StorageUnavailableError)
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach ClickHouse at http://127\\.0\\.0\\.1:${port}/: .*ECONNREFUSED`))
    expect((err as Error).message).not.toContain('secret-pw')
  })

  it('the server process exits 1 with that one-line message instead of a stack trace', async () => {
    const port = await refusingPort()
    const start = startChildServer({ CLICKHOUSE_URL: `http://127.0.0.1:${port}`, AFTERMATH_DATA_DIR: '/tmp/aftermath-remote-unused', AFTERMATH_TOKENS: 'admin:remote-admin-token-0123456789abcdef0123' })
    const err = await start.then(
      () => null,
      (e: Error) => e,
    )
    expect(err?.message).toMatch(/^server exited \(1\) before listening:\naftermath: cannot reach ClickHouse at http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED.*\n$/)
  })
})
