import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { removeDataDir } from '../helpers/db.js'
import { startChildServer } from '../helpers/child-server.js'

/** The generated admin token's login link goes to the output once, when the token is created, and on request. */
describe('the login link', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-login-'))
  afterAll(() => removeDataDir(dataDir))
  const env = { AFTERMATH_DATA_DIR: dataDir, AFTERMATH_TOKENS: '', CLICKHOUSE_DATABASE: 'login', AFTERMATH_LOG_LEVEL: 'warn' }
  /** Start, wait for the lines printed after the listening line, stop. */
  async function startAndStop(): Promise<string> {
    const srv = await startChildServer(env)
    for (let i = 0; i < 100 && !/admin token|login link/.test(srv.output()); i++) await new Promise((r) => setTimeout(r, 50))
    srv.child.kill('SIGTERM')
    await srv.exited
    return srv.output()
  }

  it('is printed on the start that creates the token, not on later starts; the CLI prints it on request; token file 0600, data directory 0700', async () => {
    const first = await startAndStop()
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()
    expect(token).toHaveLength(32)
    expect(first).toContain(`/#token=${token}`)

    const second = await startAndStop()
    expect(second).not.toContain(token)
    expect(second).toContain('npm run cli -- login-link')

    expect(statSync(join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600)
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)

    const printed = execFileSync(process.execPath, ['--import', 'tsx', 'server/cli/main.ts', 'login-link', '--data-dir', dataDir, '--url', 'http://example.test:3000'], {
      cwd: resolve(import.meta.dirname, '../..'),
      encoding: 'utf8',
    })
    expect(printed).toBe(`http://example.test:3000/#token=${token}\n`)
  })
})
