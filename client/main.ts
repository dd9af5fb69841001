import './styles.css'
import { ApiError, clearToken, getToken, setStatusToken, setToken, setUnauthorizedHandler, whoami } from './api.js'
import type { TimeZoneMode } from './format.js'
import { applyTheme, currentTheme, initialTheme, initialTz, rememberTz } from './prefs.js'
import { incidentView } from './views/incident.js'
import { listView } from './views/list.js'
import { loginView } from './views/login.js'
import { stateMessage } from './views/parts.js'
import type { AppContext, SharedView, View } from './views/view.js'

applyTheme(initialTheme())
let tz: TimeZoneMode = initialTz()

// A login link carries the token in the fragment (never sent to the server); keep it for this
// tab and take it out of the address bar and history.
const fragment = new URLSearchParams(location.hash.slice(1))
const fragmentToken = fragment.get('token')
if (fragmentToken) {
  setToken(fragmentToken)
  history.replaceState(history.state, '', location.pathname + location.search)
}

const app = document.getElementById('app')!
const tzButton = document.getElementById('tz-toggle') as HTMLButtonElement
const themeButton = document.getElementById('theme-toggle') as HTMLButtonElement
const logoutButton = document.getElementById('logout') as HTMLButtonElement
const brand = document.querySelector('.brand') as HTMLAnchorElement
let current: View | null = null
/** Set while the token is an incident link (SPEC §8). */
let shared: SharedView | null = null
/** Each route() call; an answer from /whoami for an older one is dropped. */
let routeSeq = 0

const ctx: AppContext = {
  navigate(path) {
    if (path !== location.pathname + location.search) history.pushState(null, '', path)
    void route()
  },
  tz: () => tz,
  shared: () => shared,
}

function mount(view: View) {
  current?.destroy()
  current = view
  app.replaceChildren(view.el)
}

async function route(loginMessage: string | null = null) {
  const seq = ++routeSeq
  syncToolbar()
  const token = getToken()
  if (!token) {
    shared = null
    mount(loginView(ctx, loginMessage))
    return
  }
  // Who the token is decides what may be shown: an incident link sees its incident only.
  let who: Awaited<ReturnType<typeof whoami>> | null = null
  if (!current) app.replaceChildren(stateMessage('loading', 'Opening…'))
  try {
    who = await whoami()
  } catch (err) {
    if (seq !== routeSeq) return // a 401 has already sent the viewer to login
    if (err instanceof ApiError && err.status === 403 && token.startsWith('shl_')) {
      // A customer status link opened on the dashboard: its page is /status.
      clearToken()
      setStatusToken(token)
      location.replace('/status')
      return
    }
    // Otherwise (server unreachable…) the views say what is wrong.
  }
  if (seq !== routeSeq) return
  shared = who?.scope === 'share' ? { incidentId: who.incident_id, expiresAt: who.expires_at, title: who.title, status: who.status } : null
  syncToolbar()
  if (shared) {
    const path = `/incidents/${encodeURIComponent(shared.incidentId)}`
    if (location.pathname !== path) history.replaceState(null, '', path)
    mount(incidentView(ctx, shared.incidentId))
    return
  }
  const m = /^\/incidents\/([^/]+)\/?$/.exec(location.pathname)
  if (m) mount(incidentView(ctx, decodeURIComponent(m[1]!)))
  else mount(listView(ctx))
}

function syncToolbar() {
  tzButton.textContent = tz === 'utc' ? 'Times: UTC' : 'Times: local'
  tzButton.setAttribute('aria-pressed', String(tz === 'local'))
  themeButton.textContent = currentTheme() === 'dark' ? 'Light theme' : 'Dark theme'
  logoutButton.hidden = !getToken()
  // An incident link has no list to return to: the brand leads to its incident.
  brand.href = shared ? `/incidents/${encodeURIComponent(shared.incidentId)}` : '/'
}

setUnauthorizedHandler((message, code) => {
  clearToken()
  void route(
    code === 'link_expired'
      ? 'This shared link has expired. Ask the person who shared it for a new one.'
      : code === 'link_revoked'
        ? 'This shared link was revoked. Ask the person who shared it for a new one.'
        : `Your session needs a valid token (the server said: ${message}). Enter it again.`,
  )
})

tzButton.addEventListener('click', () => {
  tz = tz === 'utc' ? 'local' : 'utc'
  rememberTz(tz)
  syncToolbar()
  current?.refresh()
})
themeButton.addEventListener('click', () => {
  applyTheme(currentTheme() === 'dark' ? 'light' : 'dark', true)
  syncToolbar()
  current?.refresh()
})
logoutButton.addEventListener('click', () => {
  clearToken()
  ctx.navigate('/')
})

// In-app links: <a data-nav href="..."> change the view without a page load.
document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest?.('a[data-nav]') as HTMLAnchorElement | null
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  e.preventDefault()
  ctx.navigate(a.getAttribute('href') ?? '/')
})
window.addEventListener('popstate', () => void route())

void route()
