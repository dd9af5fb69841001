import { z } from 'zod'
import { parseDurationS } from './time.js'

/**
 * A duration a person sets (a policy deadline, a link's lifetime): text such as 4h, 90m, 7d, at
 * least a minute and at most a year, as milliseconds.
 */
export const minuteToYearMs = z.string().transform((v, ctx) => {
  const s = parseDurationS(v)
  if (typeof s === 'string') {
    ctx.addIssue({ code: 'custom', message: s })
    return z.NEVER
  }
  if (s < 60 || s > 365 * 86400) {
    ctx.addIssue({ code: 'custom', message: 'must be from 1m to 365d' })
    return z.NEVER
  }
  return Math.round(s * 1000)
})
