/** Small statistics for benchmark figures: medians of runs and latency quantiles. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Nearest-rank quantile (p in 0..1) of an ascending-sorted array. */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

export function latencySummary(latenciesMs: number[]): { p50: number; p95: number; p99: number; max: number } {
  const s = [...latenciesMs].sort((a, b) => a - b)
  const r = (x: number) => Math.round(x * 10) / 10
  return { p50: r(quantileSorted(s, 0.5)), p95: r(quantileSorted(s, 0.95)), p99: r(quantileSorted(s, 0.99)), max: r(s.at(-1) ?? Number.NaN) }
}

export const round = (x: number, digits = 0) => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
