/**
 * Time as the API reads and writes it: one strict RFC 3339 parser for every timestamp a client
 * sends (event times, as_of, from, to), and the text form DateTime64(3) columns take. Shared by
 * ingest and metrics, so an instant is accepted or refused the same way everywhere.
 */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const TIMESTAMP_HELP = 'must be an RFC 3339 timestamp such as 2022-04-05T07:38:00.000Z (with Z or a ±hh:mm offset)'

/** Two or four ASCII digits at `i` as a number, or -1. charCodeAt instead of a regex: this runs per event. */
function digits(s: string, i: number, n: number): number {
  let v = 0
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 48
    if (c < 0 || c > 9) return -1
    v = v * 10 + c
  }
  return v
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/**
 * Parse an RFC 3339 timestamp `YYYY-MM-DD[T t space]hh:mm:ss[.fraction](Z|z|±hh:mm)` to epoch
 * milliseconds (fraction truncated to ms), or return an error message. Calendar fields are
 * range-checked (no Feb 30, no hour 24, no leap second 60).
 */
export function parseTimestamp(s: string): number | string {
  const len = s.length
  if (len < 20 || len > 40) return TIMESTAMP_HELP
  const year = digits(s, 0, 4)
  const month = digits(s, 5, 2)
  const day = digits(s, 8, 2)
  const hour = digits(s, 11, 2)
  const minute = digits(s, 14, 2)
  const second = digits(s, 17, 2)
  const sep = s.charCodeAt(10)
  if (
    year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 ||
    s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 ||
    (sep !== 84 && sep !== 116 && sep !== 32) // T t space
  ) return TIMESTAMP_HELP
  let i = 19
  let ms = 0
  if (s.charCodeAt(i) === 46) {
    // '.' then 1..9 digits; digits past the third are truncated
    i++
    const fracStart = i
    while (i < len) {
      const c = s.charCodeAt(i) - 48
      if (c < 0 || c > 9) break
      if (i - fracStart < 3) ms = ms * 10 + c
      i++
    }
    const n = i - fracStart
    if (n === 0 || n > 9) return TIMESTAMP_HELP
    if (n === 1) ms *= 100
    else if (n === 2) ms *= 10
  }
  let offsetMin = 0
  const z = s.charCodeAt(i)
  if (z === 90 || z === 122) {
    if (i + 1 !== len) return TIMESTAMP_HELP
  } else if (z === 43 || z === 45) {
    const oh = digits(s, i + 1, 2)
    const om = digits(s, i + 4, 2)
    if (i + 6 !== len || s.charCodeAt(i + 3) !== 58 || oh < 0 || om < 0) return TIMESTAMP_HELP
    if (oh > 23 || om > 59) return `has an invalid offset ${s.slice(i)}`
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om)
  } else return TIMESTAMP_HELP
  if (month < 1 || month > 12) return `has an invalid month ${s.slice(5, 7)}`
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const dim = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!
  if (day < 1 || day > dim) return `has an invalid day ${s.slice(8, 10)} for month ${s.slice(5, 7)}`
  if (hour > 23) return `has an invalid hour ${s.slice(11, 13)}`
  if (minute > 59) return `has an invalid minute ${s.slice(14, 16)}`
  if (second > 59) return `has an invalid second ${s.slice(17, 19)}`
  return ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMin) * 60_000 + second * 1000 + ms
}

const pad2 = (n: number) => (n < 10 ? '0' + n : '' + n)
const pad3 = (n: number) => (n < 10 ? '00' + n : n < 100 ? '0' + n : '' + n)

/** Epoch ms (≥ 0, year ≤ 9999) → 'YYYY-MM-DD hh:mm:ss.sss' UTC, the text DateTime64(3) parses in JSONEachRow. */
export function formatRowTime(ms: number): string {
  const days = Math.floor(ms / 86_400_000)
  let rem = ms - days * 86_400_000
  // civil_from_days (Hinnant)
  const zd = days + 719468
  const era = Math.floor(zd / 146097)
  const doe = zd - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0)
  const h = Math.floor(rem / 3_600_000)
  rem -= h * 3_600_000
  const mi = Math.floor(rem / 60_000)
  rem -= mi * 60_000
  const sec = Math.floor(rem / 1000)
  return `${y}-${pad2(m)}-${pad2(d)} ${pad2(h)}:${pad2(mi)}:${pad2(sec)}.${pad3(rem - sec * 1000)}`
}

const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }
/** The longest duration any parameter or policy takes. */
export const MAX_DURATION_S = 10 * 365 * 86400

/**
 * `24h`, `30m`, `1d`, `90s`, `1.5h` or plain seconds → seconds, or an error message (too long,
 * or not a duration).
 */
export function parseDurationS(value: string): number | string {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(value)
  if (!m) return `must be a duration such as 30s, 5m, 1h, 1d or a number of seconds (got "${value.slice(0, 32)}")`
  const s = Number(m[1]) * UNIT_S[m[2] ?? 's']!
  if (!Number.isFinite(s) || s > MAX_DURATION_S) return 'is too long (at most 10 years)'
  return s
}

/** Milliseconds as duration text that reads back the same, in days from two days on: 4h, 24h, 90m, 2d, 36h. */
export function formatDurationText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= (unit === 'd' ? 2 * size : size) && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
