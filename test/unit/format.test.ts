import { describe, expect, it } from 'vitest'
import { formatCount, formatDuration, formatPct, formatPctChange, formatTick, formatTime } from '../../client/format.js'

describe('dashboard formatting', () => {
  it('durations read as at most two units, never raw seconds', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(0)).toBe('0 s')
    expect(formatDuration(0.4)).toBe('< 1 s')
    expect(formatDuration(45.9)).toBe('45 s')
    expect(formatDuration(125)).toBe('2 min 5 s')
    expect(formatDuration(12 * 60 + 30)).toBe('12 min')
    expect(formatDuration(4 * 3600 + 12 * 60 + 59)).toBe('4 h 12 min')
    expect(formatDuration(5 * 3600)).toBe('5 h')
    expect(formatDuration(3 * 86400 + 4 * 3600 + 59 * 60)).toBe('3 d 4 h')
    expect(formatDuration(14 * 86400)).toBe('14 d')
  })

  it('percentages keep one decimal and null (nothing affected) is a dash', () => {
    expect(formatPct(null)).toBe('—')
    expect(formatPct(58.7301)).toBe('58.7 %')
    expect(formatPct(100)).toBe('100.0 %')
    expect(formatPctChange(20.64)).toBe('+20.6 pts')
    expect(formatPctChange(-0.44)).toBe('−0.4 pts')
    expect(formatPctChange(0.01)).toBe('±0 pts')
  })

  it('counts use thousands separators', () => {
    expect(formatCount(755248)).toBe('755,248')
    expect(formatCount(undefined)).toBe('—')
  })

  it('times are shown in UTC with the zone named, the year only when it is not this one', () => {
    const y = new Date().getUTCFullYear()
    expect(formatTime(`${y}-04-14T20:00:00.000Z`, 'utc')).toBe('Apr 14, 20:00 UTC')
    expect(formatTime('2022-04-14T20:00:05.000Z', 'utc', { seconds: true })).toBe('Apr 14, 2022, 20:00:05 UTC')
    expect(formatTime(null, 'utc')).toBe('—')
  })

  it('axis ticks show dates on long spans and times on short ones', () => {
    const ms = Date.parse('2022-04-14T00:00:00.000Z')
    expect(formatTick(ms, 'utc', 14 * 86_400_000)).toBe('Apr 14')
    expect(formatTick(ms + 6 * 3_600_000, 'utc', 2 * 86_400_000)).toBe('Apr 14 06:00')
    expect(formatTick(ms + 6 * 3_600_000, 'utc', 3_600_000)).toBe('06:00')
  })
})
