import './status.css'
import { ApiError, getStatus, getStatusToken, setStatusToken } from '../api.js'
import { applyTheme, initialTheme } from '../prefs.js'
import { Poller } from './poll.js'
import { StatusView, type StatusProblem } from './view.js'

/**
 * The customer status page (/status#token=…, SPEC §8): one tenant's own state in one incident,
 * polled every few seconds. A separate, small entry: no charts, nothing of the dashboard.
 */

const POLL_MS = 5000
const MAX_BACKOFF_MS = 60_000
/** A poll that hangs this long is abandoned and counted as a failure. */
const REQUEST_TIMEOUT_MS = 15_000
/** "Down for", "last update … ago" move on between polls. */
const TICK_MS = 5000

// The viewer's theme from the dashboard if they chose one there, else the system's (followed live).
applyTheme(initialTheme())
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(initialTheme()))

// The link carries the token in the fragment (never sent to the server, not in logs): keep it
// for this tab and take it out of the address bar and history before anything else happens.
const takeFragmentToken = (): string | null => {
  const token = new URLSearchParams(location.hash.slice(1)).get('token')
  if (token) {
    setStatusToken(token)
    history.replaceState(history.state, '', location.pathname + location.search)
  }
  return token
}
const fragmentToken = takeFragmentToken()
// Another link opened in this tab changes only the fragment: start over with its token.
window.addEventListener('hashchange', () => {
  if (takeFragmentToken()) location.reload()
})

const view = new StatusView(document.getElementById('status-main')!, document.getElementById('fresh')!)
const token = fragmentToken ?? getStatusToken()

if (!token) view.showProblem('no_token')
else {
  let failures = 0
  const poller = new Poller(async () => {
    try {
      view.show(await getStatus(token, AbortSignal.timeout(REQUEST_TIMEOUT_MS)))
      failures = 0
      return POLL_MS
    } catch (err) {
      const problem = problemOf(err)
      if (problem) {
        view.showProblem(problem)
        clearInterval(ticker)
        return null
      }
      failures++
      // The server's Retry-After when it sent one (overloaded, rate-limited); else back off.
      const retryAfterS = err instanceof ApiError ? err.retryAfterS : null
      const waitMs = retryAfterS !== null ? Math.max(POLL_MS, retryAfterS * 1000) : Math.min(POLL_MS * 2 ** failures, MAX_BACKOFF_MS)
      view.showRetrying(waitMs)
      return waitMs
    }
  })
  const ticker = setInterval(() => view.tick(), TICK_MS)
  poller.start()
}

/** An answer that no retry can change. */
function problemOf(err: unknown): StatusProblem | null {
  if (!(err instanceof ApiError)) return null
  if (err.status === 401) return err.code === 'link_expired' ? 'link_expired' : err.code === 'link_revoked' ? 'link_revoked' : 'invalid'
  if (err.status === 403) return 'wrong_link'
  return null
}
