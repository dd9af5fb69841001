import './styles.css'
import { clearToken, getToken, setToken, setUnauthorizedHandler } from './api.js'
import type { TimeZoneMode } from './format.js'
import { applyTheme, currentTheme, initialTheme, initialTz, rememberTz } from './prefs.js'
import { incidentView } from './views/incident.js'
import { listView } from './views/list.js'
import { loginView } from './views/login.js'
import type { AppContext, View } from './views/view.js'

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
let current: View | null = null

const ctx: AppContext = {
  navigate(path) {
    if (path !== location.pathname + location.search) history.pushState(null, '', path)
    route()
  },
  tz: () => tz,
}

function mount(view: View) {
  current?.destroy()
  current = view
  app.replaceChildren(view.el)
}

function route(loginMessage: string | null = null) {
  syncToolbar()
  if (!getToken()) {
    mount(loginView(ctx, loginMessage))
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
}

setUnauthorizedHandler((message) => {
  clearToken()
  route(`Your session needs a valid token (the server said: ${message}). Enter it again.`)
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
window.addEventListener('popstate', () => route())

route()
