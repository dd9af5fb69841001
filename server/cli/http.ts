import { setTimeout as sleep } from 'node:timers/promises'
import { ConnectionError } from './errors.js'

export interface HttpTarget {
  /** Server base URL, e.g. http://127.0.0.1:3000 */
  url: string
  token: string
  /** Keep retrying a failing request for this long before giving up (ms). */
  retryForMs: number
  /** Stops waits and requests (the CLI's Ctrl-C, the demo's server close). */
  signal?: AbortSignal
  /** Called on every retry, for the progress line. */
  onRetry?: (reason: string) => void
}

/** Statuses worth retrying: the request may succeed later, and event_id idempotency makes a resend safe. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504])
const REQUEST_TIMEOUT_MS = 120_000
const BACKOFF_BASE_MS = 200
const BACKOFF_MAX_MS = 10_000

/**
 * Send a request and return the parsed JSON body of a 2xx answer. Network errors and the
 * statuses above are retried with exponential backoff and full jitter (honouring
 * Retry-After) until `retryForMs` has passed since the first failure; any other status is
 * final and throws ConnectionError with the server's message.
 */
export async function requestJson<T>(
  target: HttpTarget,
  method: 'POST' | 'PUT',
  path: string,
  body: string,
  contentType: string,
): Promise<T> {
  let firstFailureMs = 0
  for (let attempt = 0; ; attempt++) {
    target.signal?.throwIfAborted()
    let reason: string
    let retryAfterMs = 0
    try {
      const signals = [AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(target.signal ? [target.signal] : [])]
      const res = await fetch(new URL(path, target.url), {
        method,
        body,
        headers: { authorization: `Bearer ${target.token}`, 'content-type': contentType },
        signal: AbortSignal.any(signals),
      })
      const text = await res.text()
      if (res.ok) return (text ? JSON.parse(text) : {}) as T
      const message = errorMessage(text) ?? res.statusText
      if (!RETRYABLE.has(res.status)) throw new ConnectionError(`${method} ${path}: HTTP ${res.status}: ${message}`)
      reason = `HTTP ${res.status}`
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
    } catch (err) {
      if (err instanceof ConnectionError) throw err
      if (target.signal?.aborted) throw target.signal.reason ?? err
      reason = networkReason(err)
    }
    const nowMs = Date.now()
    firstFailureMs ||= nowMs
    if (nowMs - firstFailureMs >= target.retryForMs) {
      throw new ConnectionError(`${method} ${new URL(path, target.url).href}: giving up after ${attempt + 1} attempts over ${Math.round((nowMs - firstFailureMs) / 1000)} s (last: ${reason})`)
    }
    target.onRetry?.(reason)
    const backoffMs = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt)
    await sleep(Math.max(backoffMs, retryAfterMs), undefined, { signal: target.signal })
  }
}

function errorMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { message?: string } }
    return body.error?.message
  } catch {
    return text.slice(0, 200) || undefined
  }
}

function parseRetryAfter(header: string | null): number {
  if (!header) return 0
  const s = Number(header)
  if (Number.isFinite(s)) return Math.min(60_000, Math.max(0, s * 1000))
  const at = Date.parse(header)
  return Number.isFinite(at) ? Math.min(60_000, Math.max(0, at - Date.now())) : 0
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e?.name === 'TimeoutError') return 'request timed out'
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)
}
