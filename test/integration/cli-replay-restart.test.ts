import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config.js'
import { openStore } from '../../server/storage/client.js'
import { removeDataDir } from '../helpers/db.js'

const TOKEN = 'ingest-token-restart-0123456789abcdef0123'
const TENANTS = 10_000
const EVENTS_PER_TENANT = 100
/** 1,000,000 tenant events plus the synthetic scenario's incident-wide events. */
const INCIDENT_WIDE_EVENTS = 10
const TOTAL = TENANTS * EVENTS_PER_TENANT + INCIDENT_WIDE_EVENTS

const children = new Set<ChildProcess>()

/** Start `tsx server/main.ts` as a child and resolve with its port once it prints the listening line. */
function startServer(dataDir: string, port: number, database: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('server/main.ts')], {
      env: {
        ...process.env,
        AFTERMATH_PORT: String(port),
        AFTERMATH_DEMO: '0',
        AFTERMATH_DATA_DIR: dataDir,
        AFTERMATH_TOKENS: `ingest:${TOKEN}`,
        AFTERMATH_LOG_LEVEL: 'warn',
        CLICKHOUSE_DATABASE: database,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.add(child)
    child.on('exit', () => children.delete(child))
    let out = ''
    let err = ''
    child.stderr!.on('data', (d) => (err += d))
    child.stdout!.on('data', (d) => {
      out += d
      const m = /aftermath listening on http:\/\/[^:]+:(\d+)/.exec(out)
      if (m) resolvePromise({ child, port: Number(m[1]) })
    })
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${out}${err}`)))
  })
}

describe('replay of 1M synthetic events through a server that is killed and restarted midway', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-restart-'))
  const database = `t_restart_${process.pid}`
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL')
    removeDataDir(dataDir)
  })

  it('stores every event exactly once', { timeout: 600_000 }, async () => {
    let server = await startServer(dataDir, 0, database)
    const port = server.port
    const replay = spawn(
      process.execPath,
      [resolve('bin/aftermath.mjs'), 'replay', 'synthetic', '--seed', '5', '--tenants', String(TENANTS), '--events-per-tenant', String(EVENTS_PER_TENANT),
        '--speed', 'max', '--url', `http://127.0.0.1:${port}`, '--retry-for', '5m'],
      { env: { ...process.env, AFTERMATH_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    children.add(replay)
    let stderr = ''
    const sentAtKill: number[] = []
    const exited = new Promise<number | null>((r) => replay.on('close', (code) => r(code)))
    // Kill the server once the progress line shows a quarter of the events sent.
    const killed = new Promise<void>((resolveKill) => {
      replay.stderr!.on('data', (d) => {
        stderr += d
        const sent = [...stderr.matchAll(/sent ([\d,]+)\//g)].map((m) => Number(m[1]!.replaceAll(',', '')))
        if (sentAtKill.length === 0 && sent.length > 0 && sent.at(-1)! >= TOTAL / 4) {
          sentAtKill.push(sent.at(-1)!)
          server.child.kill('SIGKILL')
          resolveKill()
        }
      })
    })
    await Promise.race([killed, exited])
    expect(sentAtKill).toHaveLength(1)
    if (server.child.exitCode === null && server.child.signalCode === null) await once(server.child, 'exit')
    await new Promise((r) => setTimeout(r, 1500))
    server = await startServer(dataDir, port, database)
    const code = await exited
    expect(stderr).toMatch(/done: [\d,]+ events sent/)
    expect(code).toBe(0)
    expect(sentAtKill[0]).toBeLessThan(TOTAL)
    // The kill happened while the replay ran: it had to retry to get through.
    expect(Number(/, ([\d,]+) retries\n/.exec(stderr)?.[1]?.replaceAll(',', '') ?? 0)).toBeGreaterThan(0)
    expect(stderr).toMatch(/ 0 rejected/)

    // Stop the server cleanly, then read its data directory from this process.
    const stopped = once(server.child, 'exit')
    server.child.kill('SIGTERM')
    await stopped
    const store = await openStore(loadConfig({ AFTERMATH_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: database }))
    try {
      const [row] = await store.rows<{ n: number; uniq: number }>(`SELECT count() AS n, uniqExact(event_id) AS uniq FROM ${store.db}.events FINAL`)
      expect({ n: Number(row!.n), uniq: Number(row!.uniq) }).toEqual({ n: TOTAL, uniq: TOTAL })
    } finally {
      await store.close()
    }
  })
})
