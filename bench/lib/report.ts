import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'

export interface Machine {
  nproc: number
  cpu_model: string
  mem_total_gib: number
  /** `free -g` as printed. */
  free_g: string
  node: string
  kernel: string
  loadavg_start: number[]
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim()
  } catch {
    return ''
  }
}

export function machine(): Machine {
  const model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpus()[0]?.model ?? '?'
  return {
    nproc: Number(sh('nproc', [])) || cpus().length,
    cpu_model: model,
    mem_total_gib: Math.round(totalmem() / 2 ** 30),
    free_g: sh('free', ['-g']),
    node: process.version,
    kernel: sh('uname', ['-r']),
    loadavg_start: loadavg().map((x) => Math.round(x * 100) / 100),
  }
}

/**
 * CPU time the hypervisor took from this virtual machine (steal), as a share of all CPU time
 * between start and stop, from /proc/stat. On a shared host this is what makes wall-clock
 * figures swing (seen here: 1 % idle, 40 % under load), so every section records it.
 */
export function stealMeter(): { stop(): number } {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    return { steal: f[7] ?? 0, total: f.reduce((a, b) => a + b, 0) }
  }
  const a = read()
  return {
    stop() {
      const b = read()
      const total = b.total - a.total
      return total > 0 ? Math.round((1000 * (b.steal - a.steal)) / total) / 10 : 0
    },
  }
}

export interface Row {
  figure: string
  measured: string
  target: string
  /** true = met, false = missed, null = no target (informative). */
  met: boolean | null
}

/** A plain-text table (also valid GitHub Markdown) of the figures. */
export function table(rows: readonly Row[]): string {
  const cells = rows.map((r) => [r.figure, r.measured, r.target, r.met === null ? '' : r.met ? 'met' : 'MISSED'])
  const head = ['figure', 'measured', 'target (2 cores)', '']
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n')
}

/** Write JSON atomically (tmp + rename): an interrupted run never leaves half a file. */
export function writeJson(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2) + '\n')
  renameSync(`${path}.tmp`, path)
}

const START = '<!-- bench:start -->'
const END = '<!-- bench:end -->'

/** Replace the text between the bench markers of a Markdown file (README, docs/bench.md); false when it has none. */
export function replaceMarkedBlock(path: string, markdown: string): boolean {
  if (!existsSync(path)) return false
  const text = readFileSync(path, 'utf8')
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a < 0 || b < a) return false
  writeFileSync(path, `${text.slice(0, a + START.length)}\n${markdown.trim()}\n${text.slice(b)}`)
  return true
}
