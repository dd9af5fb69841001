/**
 * The only module that knows the API's URLs and shapes (SPEC §4). Every request carries the
 * bearer token from sessionStorage; a 401 is reported to the app, which returns to login.
 */

const BASE = '/api/v1'
const TOKEN_KEY = 'aftermath.token'
/** The customer status page keeps its link apart from a dashboard session in the same tab. */
const STATUS_TOKEN_KEY = 'aftermath.status-token'

// The response shapes are the server's own types (type-only imports: nothing of the server
// reaches the bundle), so the client cannot drift from what the API sends.
import type { IncidentListItem as Incident } from '../server/metrics/incidents.js'
import type { Summary } from '../server/metrics/summary.js'
import type { RecoveryPoint, RecoverySeries as Recovery } from '../server/metrics/recovery.js'
import type { CommunicationsPoint as CommPoint, CommunicationsSeries as Communications } from '../server/metrics/communications.js'
import type { TenantRow, TenantSort } from '../server/metrics/tenants.js'
import type { TimelineEvent, TenantTimeline as Timeline } from '../server/metrics/timeline.js'
import type { EtaHistory } from '../server/metrics/eta-history.js'
import type { DowntimeHistogram as Histogram } from '../server/metrics/histogram.js'
import type { OverdueRow } from '../server/metrics/overdue.js'
import type { CustomerStatus } from '../server/metrics/status.js'
import type { ShareLinkView as ShareLink } from '../server/sharing/links.js'
export type { Incident, Summary, RecoveryPoint, Recovery, CommPoint, Communications, TenantRow, TenantSort, TimelineEvent, Timeline, Histogram, OverdueRow, CustomerStatus, ShareLink, EtaHistory }

export interface TenantPage {
  total: number
  rows: TenantRow[]
}

/** Parameters every incident query shares (SPEC §4 "Common parameters"). */
export interface ViewParams {
  asOf?: string
  /** Segment filters: attribute name → accepted values (OR within a name, AND across names). */
  attrs?: [string, string][]
  includeBroadcast?: boolean
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Retry-After of a 429/503, in seconds; null when the server sent none. */
    readonly retryAfterS: number | null = null,
  ) {
    super(message)
  }
}

let onUnauthorized: (message: string, code: string) => void = () => {}
export function setUnauthorizedHandler(fn: (message: string, code: string) => void) {
  onUnauthorized = fn
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY)
}
export function setToken(token: string) {
  sessionStorage.setItem(TOKEN_KEY, token)
}
export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY)
}

/** A customer status link's token (the status page's own key). */
export function getStatusToken(): string | null {
  return sessionStorage.getItem(STATUS_TOKEN_KEY)
}
export function setStatusToken(token: string) {
  sessionStorage.setItem(STATUS_TOKEN_KEY, token)
}
export function clearStatusToken() {
  sessionStorage.removeItem(STATUS_TOKEN_KEY)
}

function authHeaders(token = getToken()): Headers {
  const h = new Headers()
  if (token) h.set('authorization', `Bearer ${token}`)
  return h
}

function query(params: Record<string, string | number | boolean | undefined | null>, view?: ViewParams): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  if (view?.asOf) q.set('as_of', view.asOf)
  if (view?.includeBroadcast) q.set('include_broadcast', 'true')
  for (const [name, value] of view?.attrs ?? []) q.append(`attr.${name}`, value)
  const s = q.toString()
  return s ? `?${s}` : ''
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`
  let message = res.statusText || `HTTP ${res.status}`
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } }
    if (body.error?.code) code = body.error.code
    if (body.error?.message) message = body.error.message
  } catch {
    /* not JSON: keep the status text */
  }
  return new ApiError(res.status, code, message, retryAfterS(res.headers.get('retry-after')))
}

/** Retry-After as delta-seconds or an HTTP date, in seconds from now. */
function retryAfterS(value: string | null): number | null {
  if (!value) return null
  const s = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000
  return Number.isFinite(s) ? Math.max(0, s) : null
}

async function request(path: string, init: RequestInit = {}, token?: string): Promise<Response> {
  let res: Response
  try {
    const headers = authHeaders(token)
    for (const [k, v] of new Headers(init.headers)) headers.set(k, v)
    res = await fetch(BASE + path, { ...init, headers })
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached; check that it is running, then retry')
  }
  if (!res.ok) {
    const err = await errorOf(res)
    if (res.status === 401 && token === undefined) onUnauthorized(err.message, err.code)
    throw err
  }
  return res
}

/** A read refused for now (429 or 503 with a Retry-After of at most this) is tried again after that wait… */
const MAX_RETRY_WAIT_S = 30
/** …at most this many times; then the refusal is shown. */
const READ_RETRIES = 3

/** Resolves after `ms`, or rejects as fetch does when `signal` aborts first. */
function wait(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'))
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(new DOMException('aborted', 'AbortError'))), { once: true })
  })
}

/**
 * A JSON read. The server refuses expensive reads it cannot afford now with 503/429 and says when
 * to come back (Retry-After): the dashboard waits that long and asks again, a few times, instead of
 * showing an error for a momentary crowd.
 */
async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await (await request(path, init)).json()) as T
    } catch (err) {
      const later = err instanceof ApiError && (err.status === 429 || err.status === 503) && err.retryAfterS !== null && err.retryAfterS <= MAX_RETRY_WAIT_S
      if (!later || attempt >= READ_RETRIES) throw err
      await wait(Math.max(250, err.retryAfterS! * 1000), init?.signal)
    }
  }
}

const enc = encodeURIComponent

/** Check a token before keeping it: 401 → ApiError, without triggering the logout handler. */
export async function checkToken(token: string): Promise<void> {
  await request('/incidents', {}, token)
}

export async function listIncidents(signal?: AbortSignal): Promise<Incident[]> {
  return (await getJson<{ incidents: Incident[] }>('/incidents', { signal })).incidents
}

export function getSummary(id: string, view: ViewParams, opts: { weight?: string; staleAfter?: string } = {}, signal?: AbortSignal) {
  return getJson<Summary>(`/incidents/${enc(id)}/summary${query({ weight: opts.weight, stale_after: opts.staleAfter }, view)}`, { signal })
}

export function getRecovery(
  id: string,
  view: ViewParams,
  opts: { bucket?: string; from?: string; to?: string; weight?: string; groupBy?: string } = {},
  signal?: AbortSignal,
) {
  return getJson<Recovery>(
    `/incidents/${enc(id)}/recovery${query({ bucket: opts.bucket, from: opts.from, to: opts.to, weight: opts.weight, group_by: opts.groupBy }, view)}`,
    { signal },
  )
}

export function getCommunications(
  id: string,
  view: ViewParams,
  opts: { bucket?: string; from?: string; to?: string; staleAfter?: string } = {},
  signal?: AbortSignal,
) {
  return getJson<Communications>(
    `/incidents/${enc(id)}/communications${query({ bucket: opts.bucket, from: opts.from, to: opts.to, stale_after: opts.staleAfter }, view)}`,
    { signal },
  )
}

export function getTenants(
  id: string,
  view: ViewParams,
  opts: { sort?: TenantSort; order?: 'asc' | 'desc'; limit?: number; offset?: number; q?: string; state?: 'down' | 'up' },
  signal?: AbortSignal,
) {
  return getJson<TenantPage>(
    `/incidents/${enc(id)}/tenants${query({ sort: opts.sort, order: opts.order, limit: opts.limit, offset: opts.offset, q: opts.q, state: opts.state }, view)}`,
    { signal },
  )
}

/** One tenant's events in order plus its row (null when it is not affected at as_of). */
export function getTimeline(id: string, tenantId: string, view: ViewParams, signal?: AbortSignal) {
  return getJson<Timeline>(`/incidents/${enc(id)}/tenants/${enc(tenantId)}/timeline${query({}, view)}`, { signal })
}

/** The forecast of full recovery as it was shown at each moment (SPEC §7), over the given window. */
export function getEtaHistory(id: string, view: ViewParams, opts: { from?: string; to?: string } = {}, signal?: AbortSignal) {
  return getJson<EtaHistory>(`/incidents/${enc(id)}/eta-history${query({ from: opts.from, to: opts.to }, view)}`, { signal })
}

export function getHistogram(id: string, view: ViewParams, bins: number, signal?: AbortSignal) {
  return getJson<Histogram>(`/incidents/${enc(id)}/downtime-histogram${query({ bins }, view)}`, { signal })
}

/** Who to contact now (SPEC §6): overdue tenants at as_of, most overdue first. */
export function getOverdue(id: string, view: ViewParams, limit: number, signal?: AbortSignal) {
  return getJson<{ total: number; rows: OverdueRow[] }>(`/incidents/${enc(id)}/overdue${query({ limit }, view)}`, { signal })
}

/**
 * Who the token in use is: a configured token's scope, or an incident share link (SPEC §8),
 * which reads that one incident until it expires. Asked once per token (every view needs it).
 */
export type Whoami =
  | { scope: 'read' | 'ingest' | 'admin' }
  | {
      scope: 'share'
      incident_id: string
      expires_at: string
      /** Not in the contract (yet): the incident's title and status, when the server adds them. */
      title?: string
      status?: string
    }

let whoamiCache: { token: string; answer: Promise<Whoami> } | null = null

export function whoami(): Promise<Whoami> {
  const token = getToken() ?? ''
  if (whoamiCache?.token !== token) {
    const answer = getJson<Whoami>('/whoami')
    const entry = (whoamiCache = { token, answer })
    // A failure is not kept: the next view asks again.
    answer.catch(() => {
      if (whoamiCache === entry) whoamiCache = null
    })
  }
  return whoamiCache.answer
}

/** The scope of the token in use (the policy editor and sharing are for admin tokens). */
export async function getScope(): Promise<Whoami['scope']> {
  return (await whoami()).scope
}

/** Set the incident's communication policy (admin or ingest token): durations such as 4h, 24h. */
export async function putCommPolicy(id: string, policy: { first_contact_within?: string; update_every?: string }): Promise<void> {
  await request(`/incidents/${enc(id)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ comm_policy: policy }) })
}

// ---------- share links (SPEC §8; admin) ----------

/** A link just made: the only answer that holds its token and URL. */
export interface CreatedShareLink {
  id: string
  token: string
  url: string
  expires_at: string
  incident_id: string
  tenant_id: string | null
  created_at: string
}

/** A link to the incident (tenantId omitted) or to one customer's status page; expiresIn such as 7d. */
export async function createShareLink(incidentId: string, tenantId: string | null, expiresIn: string): Promise<CreatedShareLink> {
  const body = { incident_id: incidentId, expires_in: expiresIn, ...(tenantId ? { tenant_id: tenantId } : {}) }
  return (await request('/share-links', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<CreatedShareLink>
}

/** The incident's links, newest first (never their tokens). */
export function listShareLinks(incidentId: string, limit: number, signal?: AbortSignal) {
  return getJson<{ total: number; share_links: ShareLink[] }>(`/share-links${query({ incident_id: incidentId, limit })}`, { signal })
}

/** Revoke a link: it stops working at once. */
export async function revokeShareLink(id: string): Promise<void> {
  await request(`/share-links/${enc(id)}`, { method: 'DELETE' })
}

// ---------- customer status (a tenant link's only read) ----------

/** The customer's own state; the token is passed in (a 401 here is the page's to explain, not a logout). */
export async function getStatus(token: string, signal?: AbortSignal): Promise<CustomerStatus> {
  return (await request('/status', { signal, cache: 'no-store' }, token)).json() as Promise<CustomerStatus>
}

/** Exports fetched with the token (a plain link cannot carry it) and handed over as a Blob. */
export async function downloadExport(id: string, kind: 'tenants.csv' | 'report.md' | 'overdue.csv', view: ViewParams): Promise<Blob> {
  const res = await request(`/incidents/${enc(id)}/${kind}${query({}, view)}`)
  return res.blob()
}

/**
 * Server-Sent Events from /stream. EventSource cannot send an Authorization header, so the
 * body is read with fetch and parsed here (event/data lines, blank line ends an event).
 * Reconnects with backoff until the returned function is called.
 */
export function subscribeStream(
  id: string,
  view: ViewParams,
  opts: { weight?: string; staleAfter?: string },
  handlers: { onUpdate(summary: Summary): void; onStatus(connected: boolean): void },
): () => void {
  // The stream always reports "now"; filters, weight and stale_after apply as for /summary.
  const qs = query({ weight: opts.weight, stale_after: opts.staleAfter }, { ...view, asOf: undefined })
  const ctrl = new AbortController()
  let retryMs = 1000
  const run = async () => {
    while (!ctrl.signal.aborted) {
      try {
        const res = await fetch(`${BASE}/incidents/${enc(id)}/stream${qs}`, {
          headers: (() => {
            const h = authHeaders()
            h.set('accept', 'text/event-stream')
            return h
          })(),
          signal: ctrl.signal,
        })
        if (res.status === 401) {
          const err = await errorOf(res)
          onUnauthorized(err.message, err.code)
          return
        }
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`)
        handlers.onStatus(true)
        retryMs = 1000
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        let buf = ''
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buf += value
          let sep: RegExpExecArray | null
          while ((sep = /\r?\n\r?\n/.exec(buf))) {
            const block = buf.slice(0, sep.index)
            buf = buf.slice(sep.index + sep[0].length)
            dispatch(block)
          }
        }
      } catch {
        if (ctrl.signal.aborted) return
      }
      handlers.onStatus(false)
      await new Promise((r) => setTimeout(r, retryMs))
      retryMs = Math.min(retryMs * 2, 15_000)
    }
  }
  const dispatch = (block: string) => {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue
      const i = line.indexOf(':')
      const field = i < 0 ? line : line.slice(0, i)
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
    }
    if (event !== 'update' || data.length === 0) return
    try {
      handlers.onUpdate(JSON.parse(data.join('\n')) as Summary)
    } catch {
      /* a malformed frame is skipped; the next one carries the whole summary again */
    }
  }
  void run()
  return () => ctrl.abort()
}
