import { InvalidArgumentError } from 'commander'

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** "90m", "48h", "2d", "1.5h", "300s", "250ms" → milliseconds. */
export function parseDurationMs(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim())
  if (!m || !(Number(m[1]) > 0)) throw new InvalidArgumentError('expected a positive duration such as 90m, 48h or 2d')
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
}

/** "max" → Infinity (as fast as possible); else incident seconds per wall-clock second. */
export function parseSpeed(value: string): number {
  if (value === 'max') return Number.POSITIVE_INFINITY
  const n = Number(value)
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a positive number or "max"')
  return n
}

export function parsePositiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

export function parseInteger(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer')
  return n
}

export function parseFraction(value: string): number {
  const n = Number(value)
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number between 0 and 1')
  return n
}

/** RFC 3339 time or "now" → ms since the epoch. */
export function parseTimeMs(value: string): number {
  if (value === 'now') return Date.now()
  const ms = Date.parse(value)
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) throw new InvalidArgumentError('expected an RFC 3339 time such as 2026-01-05T09:00:00Z, or "now"')
  return ms
}
