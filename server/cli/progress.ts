export interface ProgressSource {
  sent: number
  accepted: number
  rejected: number
  retries: number
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/**
 * Progress on stderr once a second: events sent, events/s, % done (when the total is known).
 * On a terminal the line rewrites itself; otherwise one line per tick (logs, CI).
 */
export function startProgress(
  source: ProgressSource,
  opts: {
    /** Events to send, when known (scenarios). */
    total?: () => number | undefined
    /** Share of the input read, 0–1, when the event count is not known (files: bytes read / size). */
    fraction?: () => number | undefined
    quiet?: boolean
    stream?: NodeJS.WriteStream
  },
) {
  const out = opts.stream ?? process.stderr
  const startedMs = Date.now()
  let lastMs = startedMs
  let lastSent = 0
  const line = () => {
    const nowMs = Date.now()
    const rate = ((source.sent - lastSent) * 1000) / Math.max(1, nowMs - lastMs)
    lastMs = nowMs
    lastSent = source.sent
    const total = opts.total?.()
    const share = total ? source.sent / total : opts.fraction?.()
    const pct = share !== undefined ? ` (${(100 * share).toFixed(1)} %)` : ''
    const retries = source.retries ? `, ${fmt(source.retries)} retries` : ''
    return `sent ${fmt(source.sent)}${total ? `/${fmt(total)}` : ''} events${pct}, ${fmt(rate)} events/s, rejected ${fmt(source.rejected)}${retries}`
  }
  const timer = opts.quiet
    ? undefined
    : setInterval(() => {
        if (out.isTTY) out.write(`\r${line()}\x1b[K`)
        else out.write(line() + '\n')
      }, 1000)
  timer?.unref()
  return {
    /** Stop ticking and print the final count. */
    done(label = 'done') {
      if (timer) clearInterval(timer)
      if (out.isTTY && timer) out.write('\r\x1b[K')
      const s = (Date.now() - startedMs) / 1000
      out.write(
        `${label}: ${fmt(source.sent)} events sent in ${s.toFixed(1)} s (${fmt(source.sent / Math.max(s, 0.001))} events/s): ` +
          `${fmt(source.accepted)} accepted, ${fmt(source.rejected)} rejected${source.retries ? `, ${fmt(source.retries)} retries` : ''}\n`,
      )
    },
  }
}
