/**
 * Seeded pseudo-random numbers. Generators must be reproducible from a seed alone, so
 * nothing here touches Math.random or the clock.
 */

/** A 32-bit integer hash of several integers (murmur3 finaliser over a running mix). */
export function hash32(...parts: number[]): number {
  let h = 0x9e3779b9
  for (const p of parts) {
    h = Math.imul(h ^ (p | 0), 0x85ebca6b)
    h = (h << 13) | (h >>> 19)
    h = Math.imul(h, 5) + 0xe6546b64
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A stateless uniform number in [0, 1) for a tuple of integers. */
export function unit(...parts: number[]): number {
  return hash32(...parts) / 4294967296
}

/** A stateful generator (sfc32) for sequential draws. */
export function createRng(seed: number): () => number {
  let a = hash32(seed, 1)
  let b = hash32(seed, 2)
  let c = hash32(seed, 3)
  let d = hash32(seed, 4)
  const next = () => {
    a |= 0
    b |= 0
    c |= 0
    d |= 0
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 12; i++) next()
  return next
}

/** Log-uniform integer in [min, max]: many small values, a long tail of large ones. */
export function logUniformInt(u: number, min: number, max: number): number {
  return Math.min(max, Math.floor(Math.exp(Math.log(min) + u * (Math.log(max + 1) - Math.log(min)))))
}

/** Pick from weighted options with a uniform draw. */
export function pickWeighted<T>(u: number, options: readonly (readonly [T, number])[]): T {
  const total = options.reduce((s, [, w]) => s + w, 0)
  let x = u * total
  for (const [value, w] of options) {
    if (x < w) return value
    x -= w
  }
  return options[options.length - 1]![0]
}

/** Fisher–Yates shuffle in place with the given generator. */
export function shuffle<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

const ADJECTIVES = ['Northwind', 'Bluefin', 'Copper', 'Granite', 'Harbor', 'Juniper', 'Kestrel', 'Lumen', 'Meridian', 'Nimbus', 'Orchard', 'Pioneer', 'Quartz', 'Redwood', 'Summit', 'Tidal', 'Upland', 'Vantage', 'Willow', 'Zephyr']
const NOUNS = ['Labs', 'Systems', 'Health', 'Logistics', 'Media', 'Analytics', 'Robotics', 'Finance', 'Studios', 'Networks', 'Foods', 'Energy', 'Software', 'Retail', 'Bio', 'Mobility']

/** A readable company name, deterministic in (seed, index). */
export function companyName(seed: number, index: number): string {
  const a = ADJECTIVES[hash32(seed, index, 11) % ADJECTIVES.length]!
  const n = NOUNS[hash32(seed, index, 12) % NOUNS.length]!
  return `${a} ${n} ${index + 1}`
}
