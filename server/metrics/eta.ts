import { isoTime } from './filters.js'

export interface Eta {
  at: string
  low: string
  high: string
  method: string
}

/** ETA: restores over this trailing window (or since first impact, when shorter). */
export const ETA_WINDOW_MS = 24 * 3600_000
/** z for a two-sided 90 % interval. */
const Z90 = 1.645

/**
 * Forecast of full recovery: the tenants still down divided by the restore rate over the
 * trailing window; the range comes from a 90 % Poisson interval on the restore count
 * (Wilson–Hilferty approximation), so few restores give a wide range.
 */
export function eta(asOfMs: number, firstImpactMs: number | null, down: number, restores: number): Eta | null {
  if (down === 0 || restores === 0 || firstImpactMs === null) return null
  const windowMs = Math.min(ETA_WINDOW_MS, asOfMs - firstImpactMs)
  if (windowMs <= 0) return null
  const n = restores
  const upper = (n + 1) * (1 - 1 / (9 * (n + 1)) + Z90 / (3 * Math.sqrt(n + 1))) ** 3
  const lower = n * (1 - 1 / (9 * n) - Z90 / (3 * Math.sqrt(n))) ** 3
  const at = (count: number) => isoTime(Math.round(asOfMs + (down * windowMs) / count))
  const hours = windowMs / 3600_000
  const span = hours >= 24 ? 'last 24 h' : `${formatHours(hours)} since first impact`
  return {
    at: at(n),
    low: at(upper),
    high: at(lower),
    method:
      `${n} tenant${n === 1 ? '' : 's'} got access back in the ${span} (${formatRate(n / hours)}); ` +
      `at that rate the ${down} still down are back by the ETA. ` +
      `The range is a 90 % Poisson interval on that restore count.`,
  }
}

const formatHours = (h: number) => (h >= 1 ? `${h.toFixed(1)} h` : `${Math.round(h * 60)} min`)
const formatRate = (perHour: number) => (perHour >= 1 ? `${perHour.toFixed(1)} per hour` : `${(perHour * 24).toFixed(1)} per day`)
