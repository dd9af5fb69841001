import type { RequestHandler } from 'express'
import { rateLimit, type RateLimitInfo } from 'express-rate-limit'
import { HttpError } from '../errors.js'

/**
 * Requests per second per token, counted over a 2 s window so a burst of 2 s worth passes;
 * 0 disables. Keyed on the token digest that auth leaves in res.locals. Each call makes its
 * own budget (ingest and query routes are counted apart).
 */
export function perTokenRateLimit(rps: number): RequestHandler {
  if (rps <= 0) return (_req, _res, next) => next()
  const windowMs = 2000
  return rateLimit({
    windowMs,
    limit: rps * (windowMs / 1000),
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    validate: false,
    keyGenerator: (_req, res) => String(res.locals.tokenKey),
    handler: (req, _res, next) => {
      const resetTime = (req as typeof req & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime
      const resetMs = resetTime ? resetTime.getTime() - Date.now() : windowMs
      const retryAfterS = Math.max(1, Math.ceil(resetMs / 1000))
      next(
        new HttpError(429, 'rate_limited', `more than ${rps} requests per second with this token; retry in ${retryAfterS} s`, {
          'Retry-After': String(retryAfterS),
        }),
      )
    },
  })
}
