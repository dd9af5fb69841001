import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bucketCodes, bucketRuns, quantileInclusiveUnsorted, seriesFrame } from '../../server/metrics/series.js'
import { quantile } from '../helpers/reference.js'

describe('quantileInclusiveUnsorted', () => {
  it('equals the sorted-array quantile of the reference for any values and level', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1e9, max: 1e12 }), { maxLength: 300 }), fc.constantFrom(0, 0.1, 0.5, 0.9, 1), (xs, p) => {
        const got = quantileInclusiveUnsorted(Float64Array.from(xs), p)
        const want = quantile(xs, p)
        if (want === null) expect(got).toBeNull()
        // The same interpolation written two ways: equal up to rounding of the last bit.
        else expect(Math.abs(got! - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)))
      }),
      { numRuns: 500 },
    )
  })
})

describe('bucketing the incident log', () => {
  // Bucket ends at 10:00, 11:00, 12:00 and 12:30 (to); a bucket holds (previous end, its end].
  const H = 3_600_000
  const t10 = Date.parse('2022-04-05T10:00:00Z')
  const frame = seriesFrame({ fromMs: t10 - 5 * 60_000, toMs: t10 + 2.5 * H, bucketMs: H })

  it('counts codes per bucket, folding earlier changes into the first and leaving out those after to', () => {
    const rows = [
        [t10 - 5 * H, 1], // before the window: first bucket
        [t10, 1], // on the first end: first bucket
        [t10 + 1, 2], // just after: second
        [t10 + H, 2],
        [t10 + 2.5 * H, 3], // at to: last bucket
        [t10 + 2.5 * H + 1, 1], // after to: left out
      ]
    const log = { ms: Float64Array.from(rows.map((r) => r[0]!)), code: Uint8Array.from(rows.map((r) => r[1]!)) }
    expect(frame.times.map((t) => new Date(t).toISOString().slice(11, 16))).toEqual(['10:00', '11:00', '12:00', '12:30'])
    expect(bucketCodes(log, frame)).toEqual([
      { k: 0, code: 1, n: 2 },
      { k: 1, code: 2, n: 2 },
      { k: 3, code: 3, n: 1 },
    ])
  })

  it('counts times inside the window only (after the first bucket starts, up to to)', () => {
    const times = Float64Array.from([t10 - H, t10 - H + 1, t10, t10 + 2 * H + 1, t10 + 2.5 * H, t10 + 3 * H])
    expect(bucketRuns(times, frame).map((r) => [r.k, r.stop - r.start])).toEqual([
      [0, 2],
      [3, 2],
    ])
  })
})
