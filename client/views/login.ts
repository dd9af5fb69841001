import { ApiError, checkToken, setToken } from '../api.js'
import { h } from '../dom.js'
import type { AppContext, View } from './view.js'

/** Token entry. The token is checked against the API before it is kept (sessionStorage). */
export function loginView(ctx: AppContext, message: string | null): View {
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    placeholder: 'paste the token',
    'aria-describedby': 'login-help',
  })
  const status = h('p', { class: 'login-status', role: 'alert', 'aria-live': 'polite' }, message ?? '')
  if (message) status.classList.add('error')
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Open dashboard')
  const form = h(
    'form',
    { class: 'login-form', novalidate: true },
    h('label', { for: 'token' }, 'Access token'),
    input,
    h(
      'p',
      { id: 'login-help', class: 'muted' },
      'A token with the read or admin scope. The server prints a login link with the token on first start; tokens are configured with AFTERMATH_TOKENS.',
    ),
    submit,
    status,
  )
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const token = input.value.trim()
    if (!token) {
      status.textContent = 'Enter a token first.'
      status.classList.add('error')
      input.focus()
      return
    }
    submit.disabled = true
    status.classList.remove('error')
    status.textContent = 'Checking the token…'
    try {
      await checkToken(token)
      setToken(token)
      ctx.navigate(location.pathname === '/login' ? '/' : location.pathname + location.search)
    } catch (err) {
      status.classList.add('error')
      status.textContent =
        err instanceof ApiError && err.status === 401
          ? 'This token was not accepted. Check it and try again.'
          : err instanceof ApiError && err.status === 403
            ? 'This token cannot read (it has the ingest scope only). Use a read or admin token.'
            : `Could not check the token: ${err instanceof Error ? err.message : String(err)}`
      submit.disabled = false
      input.select()
    }
  })
  const el = h(
    'main',
    { class: 'login', 'data-view': 'login' },
    h('div', { class: 'login-card' }, h('h1', {}, 'Aftermath'), h('p', { class: 'muted' }, 'Outage impact: recovery, downtime and communication, per customer.'), form),
  )
  queueMicrotask(() => input.focus())
  return { el, refresh() {}, destroy() {} }
}
