/**
 * Display formatting shared by the dashboard and its browser tests (which format the API's
 * figures the same way to compare them with what is shown). Pure: no DOM, no globals.
 */

export type TimeZoneMode = 'utc' | 'local'

const MINUTE_S = 60
const HOUR_S = 3600
const DAY_S = 86_400

/** "3 d 4 h", "4 h 12 min", "12 min", "45 s"; two units at most, never raw seconds. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—'
  const s = Math.max(0, seconds)
  if (s < 1) return s === 0 ? '0 s' : '< 1 s'
  if (s < MINUTE_S) return `${Math.floor(s)} s`
  if (s < HOUR_S) {
    const m = Math.floor(s / MINUTE_S)
    const rest = Math.floor(s - m * MINUTE_S)
    return rest && m < 10 ? `${m} min ${rest} s` : `${m} min`
  }
  if (s < DAY_S) {
    const h = Math.floor(s / HOUR_S)
    const m = Math.floor((s - h * HOUR_S) / MINUTE_S)
    return m ? `${h} h ${m} min` : `${h} h`
  }
  const d = Math.floor(s / DAY_S)
  const h = Math.floor((s - d * DAY_S) / HOUR_S)
  return h ? `${d} d ${h} h` : `${d} d`
}

/** A duration to the minute for people, not operators: "3 d 4 h", "2 h 5 min", "12 min"; under a minute "less than a minute". */
export function formatMinutes(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—'
  if (seconds < MINUTE_S) return 'less than a minute'
  return formatDuration(Math.floor(seconds / MINUTE_S) * MINUTE_S)
}

/** How long ago, to the minute: "just now", "12 min ago", "2 h 5 min ago". */
export function formatAgo(seconds: number): string {
  return seconds < MINUTE_S ? 'just now' : `${formatMinutes(seconds)} ago`
}

/** Short duration for axis ticks: one unit ("3 d", "4 h", "12 min"). */
export function formatDurationShort(seconds: number): string {
  const s = Math.max(0, seconds)
  if (s === 0) return '0'
  if (s < MINUTE_S) return `${Math.round(s)} s`
  if (s < HOUR_S) return `${round1(s / MINUTE_S)} min`
  if (s < DAY_S) return `${round1(s / HOUR_S)} h`
  return `${round1(s / DAY_S)} d`
}

const round1 = (x: number) => (Math.round(x * 10) / 10).toString()

/** "63.4 %"; null (nothing affected) is "—". */
export function formatPct(pct: number | null | undefined): string {
  if (pct === null || pct === undefined || !Number.isFinite(pct)) return '—'
  return `${pct.toFixed(1)} %`
}

/** Signed percentage-point change: "+12.3 pts", "−0.4 pts", "±0 pts". */
export function formatPctChange(points: number | null): string {
  if (points === null || !Number.isFinite(points)) return '—'
  const r = Math.round(points * 10) / 10
  if (r === 0) return '±0 pts'
  return `${r > 0 ? '+' : '−'}${Math.abs(r).toFixed(1)} pts`
}

/** Integer count with thousands separators: "12,345". */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  return Math.round(n).toLocaleString('en-US')
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const pad2 = (n: number) => String(n).padStart(2, '0')

interface Parts {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

function parts(ms: number, tz: TimeZoneMode): Parts {
  const d = new Date(ms)
  return tz === 'utc'
    ? { year: d.getUTCFullYear(), month: d.getUTCMonth(), day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() }
    : { year: d.getFullYear(), month: d.getMonth(), day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds() }
}

function zoneLabel(ms: number, tz: TimeZoneMode): string {
  if (tz === 'utc') return 'UTC'
  const offsetMin = -new Date(ms).getTimezoneOffset()
  if (offsetMin === 0) return 'UTC'
  const sign = offsetMin > 0 ? '+' : '−'
  const a = Math.abs(offsetMin)
  return `UTC${sign}${Math.floor(a / 60)}${a % 60 ? ':' + pad2(a % 60) : ''}`
}

const toMs = (t: string | number | Date) => (typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : t.getTime())

/** "Apr 14, 20:00 UTC" (year added when it is not the current one). */
export function formatTime(t: string | number | Date | null | undefined, tz: TimeZoneMode, opts: { seconds?: boolean; year?: boolean } = {}): string {
  if (t === null || t === undefined) return '—'
  const ms = toMs(t)
  if (!Number.isFinite(ms)) return '—'
  const p = parts(ms, tz)
  const showYear = opts.year ?? p.year !== new Date().getUTCFullYear()
  const time = `${pad2(p.hour)}:${pad2(p.minute)}${opts.seconds ? ':' + pad2(p.second) : ''}`
  return `${MONTHS[p.month]} ${p.day}${showYear ? ', ' + p.year : ''}, ${time} ${zoneLabel(ms, tz)}`
}

/** Axis tick: "Apr 14" at midnight, else "20:00"; spans under a day show times only. */
export function formatTick(ms: number, tz: TimeZoneMode, spanMs: number): string {
  const p = parts(ms, tz)
  const hm = `${pad2(p.hour)}:${pad2(p.minute)}`
  if (spanMs <= DAY_S * 1000) return hm
  if (spanMs > 4 * DAY_S * 1000 || (p.hour === 0 && p.minute === 0)) return `${MONTHS[p.month]} ${p.day}`
  return `${MONTHS[p.month]} ${p.day} ${hm}`
}

/** A value for <input type=range>-free contexts: "2022-04-14T20:00:00.000Z". */
export function toIso(ms: number): string {
  return new Date(ms).toISOString()
}
