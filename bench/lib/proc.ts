import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** CPU seconds (user + system, all threads) a process has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
}

/** Resident memory of a process from /proc/<pid>/status: now (VmRSS) and its peak since start (VmHWM), in MiB. */
export function memoryMb(pid: number): { rssMb: number; peakMb: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0)
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 }
  } catch {
    return { rssMb: 0, peakMb: 0 }
  }
}

export interface ServerUnderTest {
  url: string
  token: string
  pid: number
  /** Peak RSS (VmHWM) seen so far, MiB; also sampled every 200 ms in case /proc vanishes first. */
  peakRssMb(): number
  cpuSeconds(): number
  /** SIGTERM, wait for exit, remove the data directory; returns the peak RSS in MiB. */
  stop(): Promise<number>
}

/**
 * The real server (`node --import tsx server/main.ts`) as a child process on a fresh data
 * directory (or `dataDir`, kept), port 0, no demo, an ingest token, and the per-token rate limit off
 * (AFTERMATH_RATE_LIMIT_RPS=0) so the bench measures the server, not the limiter.
 * `nodeArgs` adds flags such as --cpu-prof for profiling; `onLine` is given every line the server
 * prints on stdout (its JSON log, e.g. with AFTERMATH_LOG_LEVEL=debug).
 */
export async function startServer(
  opts: { entry?: string; nodeArgs?: string[]; env?: Record<string, string>; dataDir?: string; onLine?: (line: string) => void } = {},
): Promise<ServerUnderTest> {
  // A given data directory (prepared data) is kept at stop; a fresh one is removed.
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'aftermath-bench-'))
  const token = 'bench-ingest-token-0123456789abcdef0123'
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', opts.entry ?? 'server/main.ts'], {
    env: {
      ...process.env,
      AFTERMATH_PORT: '0',
      AFTERMATH_HOST: '127.0.0.1',
      AFTERMATH_DATA_DIR: dataDir,
      AFTERMATH_DEMO: '0',
      AFTERMATH_LOG_LEVEL: 'warn',
      AFTERMATH_TOKENS: `ingest:${token},read:bench-read-token-123-0123456789abcdef0123`,
      AFTERMATH_RATE_LIMIT_RPS: '0',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let rest = ''
  if (opts.onLine) {
    const onLine = opts.onLine
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n')
      rest = lines.pop()!
      for (const line of lines) onLine(line)
    })
  }
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    const listening = (d: Buffer) => {
      buf += d.toString()
      const m = /aftermath listening on (http:\/\/\S+)/.exec(buf)
      if (m) {
        child.stdout!.off('data', listening)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', listening)
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)))
  })
  const pid = child.pid!
  let peak = 0
  const sample = () => (peak = Math.max(peak, memoryMb(pid).peakMb))
  const sampler = setInterval(sample, 200)
  return {
    url,
    token,
    pid,
    peakRssMb: () => sample(),
    cpuSeconds: () => cpuSeconds(pid),
    async stop() {
      sample()
      clearInterval(sampler)
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
      return peak
    },
  }
}

/**
 * Run `node --import tsx <script> …args` to completion and parse the last line of its stdout
 * that is a JSON object. Its stdout is echoed when `echo` (progress lines of long scripts).
 */
export async function runJsonScript<T>(script: string, args: string[], opts: { echo?: boolean; timeoutMs?: number } = {}): Promise<T> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
    if (opts.echo) process.stdout.write(d.toString().replace(/^(?=.)/gm, '    '))
  })
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs) : undefined
  const code = await new Promise<number | null>((r) => child.once('exit', r))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${script} ${args.join(' ')} exited with ${code}`)
  const line = out
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'))
  if (!line) throw new Error(`${script} printed no JSON line`)
  return JSON.parse(line) as T
}

/** Run `node --import tsx <script> …args` to completion, echoing its output indented. */
export async function runScript(script: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  child.stdout!.on('data', (d: Buffer) => process.stdout.write(d.toString().replace(/^(?=.)/gm, '    ')))
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs) : undefined
  const code = await new Promise<number | null>((r) => child.once('exit', r))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${script} ${args.join(' ')} exited with ${code}`)
}
