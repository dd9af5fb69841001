import { pino, type Logger } from 'pino'

/** JSON logs to stdout. The Authorization header and token fragments are never logged. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: undefined,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'token'], censor: '[redacted]' },
  })
}
