import type { TimeZoneMode } from './format.js'

/** Viewer preferences kept in localStorage: theme and time zone. */

export type Theme = 'light' | 'dark'

const THEME_KEY = 'aftermath.theme'
const TZ_KEY = 'aftermath.tz'

export function initialTheme(): Theme {
  const stored = localStorage.getItem(THEME_KEY)
  if (stored === 'light' || stored === 'dark') return stored
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

export function applyTheme(theme: Theme, remember = false) {
  document.documentElement.dataset.theme = theme
  if (remember) localStorage.setItem(THEME_KEY, theme)
}

export function currentTheme(): Theme {
  return document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light'
}

export function initialTz(): TimeZoneMode {
  return localStorage.getItem(TZ_KEY) === 'local' ? 'local' : 'utc'
}

export function rememberTz(tz: TimeZoneMode) {
  localStorage.setItem(TZ_KEY, tz)
}
