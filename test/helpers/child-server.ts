import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

export interface ChildServer {
  url: string
  pid: number
  child: ChildProcess
  /** Resolves with the exit code/signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  output(): string
}

const ROOT = resolve(import.meta.dirname, '../..')

/**
 * Start the real server as a separate process (`node --import tsx server/main.ts`) and wait
 * for its `aftermath listening on http://HOST:PORT` line. For tests that need a process to
 * kill -9 or whose memory must be measured on its own.
 */
export async function startChildServer(env: Record<string, string>, timeoutMs = 60_000): Promise<ChildServer> {
  return startListeningProcess({
    script: 'server/main.ts',
    env: { AFTERMATH_PORT: '0', AFTERMATH_DEMO: '0', AFTERMATH_LOG_LEVEL: 'warn', ...env },
    listening: /aftermath listening on (http:\/\/\S+)/,
    what: 'server',
    timeoutMs,
  })
}

/**
 * Run a TypeScript entry point of this repository as its own process (`node --import tsx <script>`,
 * cwd the repository root, the test's environment plus `env`) and resolve once its output matches
 * `listening`, whose first group is the URL it serves; reject if it exits first or takes longer than
 * `timeoutMs`.
 */
export async function startListeningProcess(opts: {
  script: string
  env: Record<string, string>
  listening: RegExp
  what: string
  timeoutMs: number
}): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', opts.script], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })))
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`${opts.what} did not start within ${opts.timeoutMs} ms:\n${out}`)), opts.timeoutMs)
    const onData = () => {
      const m = opts.listening.exec(out)
      if (m) {
        clearTimeout(timer)
        resolveUrl(m[1]!)
      }
    }
    child.stdout!.on('data', onData)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`${opts.what} exited (${code ?? signal}) before listening:\n${out}`))
    })
  })
  return { url, pid: child.pid!, child, exited, output: () => out }
}

/** Resident set size of a process in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no VmRSS for ${pid}`)
  return Number(m[1]) / 1024
}
