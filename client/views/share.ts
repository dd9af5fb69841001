import { createShareLink, listShareLinks, revokeShareLink, type ShareLink } from '../api.js'
import { h, setText } from '../dom.js'
import { formatCount, formatTime, type TimeZoneMode } from '../format.js'
import { stateMessage } from './parts.js'

/** Expiry choices (the API takes any duration from 1m to 365d); the default is 7 days. */
const EXPIRY = [
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['90d', '90 days'],
] as const
const DEFAULT_EXPIRY = '7d'
/** Links listed in the dialog, newest first. */
const LIST_LIMIT = 100
const STATUS_LABEL: Record<ShareLink['status'], string> = { active: '● Active', expired: '○ Expired', revoked: '✕ Revoked' }

/**
 * Share this incident (SPEC §8; admin tokens): make a read-only link to the incident's
 * dashboard or to one customer's status page, copy it once (its token is never shown again),
 * and see and revoke the incident's links.
 */
export class ShareDialog {
  readonly dialog: HTMLDialogElement
  private readonly kindIncident = h('input', { type: 'radio', name: 'share-kind', value: 'incident', id: 'share-kind-incident', checked: true })
  private readonly kindTenant = h('input', { type: 'radio', name: 'share-kind', value: 'tenant', id: 'share-kind-tenant' })
  private readonly tenantInput = h('input', {
    id: 'share-tenant',
    list: 'share-tenants',
    placeholder: 'customer id',
    autocomplete: 'off',
    spellcheck: 'false',
    disabled: true,
    'aria-describedby': 'share-tenant-help',
    'data-testid': 'share-tenant',
  })
  private readonly tenantOptions = h('datalist', { id: 'share-tenants' })
  private readonly expiry = h('select', { id: 'share-expiry', 'data-testid': 'share-expiry' }, ...EXPIRY.map(([v, label]) => h('option', { value: v }, label)))
  private readonly createButton = h('button', { type: 'submit', class: 'primary', 'data-testid': 'share-create' }, 'Create link')
  private readonly formError = h('p', { class: 'small error', role: 'alert', hidden: true })
  private readonly created = h('div', { class: 'share-created', hidden: true, 'data-testid': 'share-created' })
  private readonly listCount = h('span', { class: 'overdue-count' })
  private readonly listBody = h('div', { class: 'share-list', 'data-testid': 'share-links' })
  private readonly tenantsSeen = new Map<string, string>()
  private ctrl: AbortController | null = null

  constructor(
    private readonly incidentId: string,
    private readonly tz: () => TimeZoneMode,
  ) {
    this.expiry.value = DEFAULT_EXPIRY
    const form = h(
      'form',
      { class: 'share-form', novalidate: true },
      h(
        'fieldset',
        {},
        h('legend', {}, 'Who is the link for?'),
        h('label', { class: 'check', for: 'share-kind-incident' }, this.kindIncident, ' The whole incident: this dashboard, read-only, for this incident only'),
        h('label', { class: 'check', for: 'share-kind-tenant' }, this.kindTenant, ' One customer: a status page with their own service’s state and updates'),
        h('div', { class: 'share-tenant-row' }, h('label', { for: 'share-tenant' }, 'Customer id '), this.tenantInput, this.tenantOptions),
        h('p', { id: 'share-tenant-help', class: 'small muted' }, 'The customer sees only their own service: never another customer’s name or figures.'),
      ),
      h('div', { class: 'share-row' }, h('label', { for: 'share-expiry' }, 'Expires after '), this.expiry, this.createButton),
      this.formError,
    )
    const syncKind = () => {
      this.tenantInput.disabled = !this.kindTenant.checked
      if (this.kindTenant.checked) this.tenantInput.focus()
    }
    this.kindIncident.addEventListener('change', syncKind)
    this.kindTenant.addEventListener('change', syncKind)
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.create()
    })

    const close = h('button', { type: 'button', class: 'ghost close', 'aria-label': 'Close', onclick: () => this.dialog.close() }, '✕ Close')
    this.dialog = h(
      'dialog',
      { class: 'drilldown share-dialog', 'aria-labelledby': 'share-title', 'data-testid': 'share-dialog' },
      h('div', { class: 'drill-head' }, h('h2', { id: 'share-title' }, 'Share this incident'), close),
      h(
        'div',
        { class: 'drill-body' },
        h('p', { class: 'small muted' }, 'A link works without a token until it expires or is revoked. Whoever holds it can read what it opens and nothing else.'),
        form,
        this.created,
        h('h3', {}, 'Links for this incident ', this.listCount),
        this.listBody,
      ),
    )
    this.dialog.addEventListener('click', (e) => {
      if (e.target === this.dialog) this.dialog.close()
    })
    // The token of a created link is shown once: closing the dialog forgets it.
    this.dialog.addEventListener('close', () => {
      this.ctrl?.abort()
      this.created.hidden = true
      this.created.replaceChildren()
    })
  }

  open() {
    this.formError.hidden = true
    if (!this.dialog.open) this.dialog.showModal()
    void this.loadList()
  }

  /** Customers the view has listed, offered as ids to pick from. */
  noteTenants(rows: { tenant_id: string; name: string | null }[]) {
    let grew = false
    for (const r of rows)
      if (!this.tenantsSeen.has(r.tenant_id)) {
        this.tenantsSeen.set(r.tenant_id, r.name ?? '')
        grew = true
      }
    if (grew) this.tenantOptions.replaceChildren(...[...this.tenantsSeen].map(([id, name]) => h('option', { value: id }, name || id)))
  }

  destroy() {
    this.ctrl?.abort()
    if (this.dialog.open) this.dialog.close()
    this.dialog.remove()
  }

  private async create() {
    const tenantId = this.kindTenant.checked ? this.tenantInput.value.trim() : null
    if (tenantId === '') {
      this.showError('Enter the customer’s id (as in the customers table), or choose the whole incident.')
      this.tenantInput.focus()
      return
    }
    this.formError.hidden = true
    this.createButton.disabled = true
    setText(this.createButton, 'Creating…')
    try {
      const link = await createShareLink(this.incidentId, tenantId, this.expiry.value)
      this.showCreated(link.url, link.expires_at, link.tenant_id)
      void this.loadList()
    } catch (err) {
      this.showError(`The link was not created: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      this.createButton.disabled = false
      setText(this.createButton, 'Create link')
    }
  }

  private showError(text: string) {
    this.formError.hidden = false
    setText(this.formError, text)
  }

  private showCreated(url: string, expiresAt: string, tenantId: string | null) {
    const field = h('input', { type: 'text', readonly: true, value: url, class: 'mono share-url', 'aria-label': 'The new link', 'data-testid': 'share-url' })
    const copyStatus = h('span', { class: 'small', role: 'status', 'data-testid': 'share-copy-status' })
    const copy = h('button', { type: 'button', 'data-testid': 'share-copy' }, 'Copy')
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(url)
        setText(copyStatus, '✓ Copied')
      } catch {
        // No clipboard (insecure origin, permission refused): select it for the viewer to copy.
        field.focus()
        field.select()
        setText(copyStatus, 'Selected: press Ctrl+C (⌘C) to copy')
      }
    })
    field.addEventListener('focus', () => field.select())
    this.created.replaceChildren(
      h('p', { class: 'strong' }, tenantId ? `Status page link for customer ${tenantId}` : 'Link to this incident’s dashboard'),
      h('div', { class: 'share-row' }, field, copy, copyStatus),
      h(
        'p',
        { class: 'banner share-warning', role: 'note' },
        `⚠ Copy it now: this link will not be shown again. It works until ${formatTime(expiresAt, this.tz())} unless you revoke it.`,
      ),
    )
    this.created.hidden = false
    copy.focus()
  }

  private async loadList() {
    this.ctrl?.abort()
    const ctrl = (this.ctrl = new AbortController())
    if (!this.listBody.firstChild) this.listBody.replaceChildren(stateMessage('loading', 'Loading links…'))
    try {
      const page = await listShareLinks(this.incidentId, LIST_LIMIT, ctrl.signal)
      if (!ctrl.signal.aborted) this.renderList(page.total, page.share_links)
    } catch (err) {
      if (!ctrl.signal.aborted) this.listBody.replaceChildren(stateMessage('error', `Could not load the links: ${err instanceof Error ? err.message : String(err)}`, { label: 'Retry', onClick: () => void this.loadList() }))
    }
  }

  private renderList(total: number, links: ShareLink[]) {
    setText(this.listCount, `(${formatCount(total)})`)
    if (links.length === 0) {
      this.listBody.replaceChildren(stateMessage('empty', 'No links yet. A link made above is listed here (without its token).'))
      return
    }
    const tz = this.tz()
    const rows = links.map((l) => {
      const revoke =
        l.status === 'active'
          ? h('button', { type: 'button', class: 'ghost small', 'data-testid': 'share-revoke', 'aria-label': `Revoke the ${l.kind === 'tenant' ? `link for customer ${l.tenant_id}` : 'incident link'} created ${formatTime(l.created_at, tz)}` }, 'Revoke')
          : null
      revoke?.addEventListener('click', () => void this.revoke(l, revoke))
      return h(
        'tr',
        { 'data-link': l.id, 'data-status': l.status },
        h('td', {}, l.kind === 'tenant' ? 'Customer status' : 'Incident'),
        h('td', { class: 'mono' }, l.tenant_id ?? '—'),
        h('td', { class: 'small' }, formatTime(l.created_at, tz)),
        h('td', { class: 'small' }, formatTime(l.expires_at, tz)),
        h('td', { class: 'small' }, l.last_used_at ? formatTime(l.last_used_at, tz) : 'never'),
        h('td', { class: 'num', 'data-field': 'uses' }, formatCount(l.uses)),
        h('td', { 'data-field': 'status' }, h('span', { class: `badge share-${l.status}` }, STATUS_LABEL[l.status])),
        h('td', {}, revoke),
      )
    })
    const more = total > links.length ? h('p', { class: 'small muted' }, `The ${formatCount(links.length)} newest of ${formatCount(total)} links.`) : null
    this.listBody.replaceChildren(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data share-table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Kind', 'Customer', 'Created', 'Expires', 'Last used', 'Uses', 'Status'].map((t) => h('th', { scope: 'col', class: t === 'Uses' ? 'num' : null }, t)),
              h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
            ),
          ),
          h('tbody', {}, ...rows),
        ),
      ),
      ...(more ? [more] : []),
    )
  }

  private async revoke(link: ShareLink, button: HTMLButtonElement) {
    const what = link.kind === 'tenant' ? `the status page link for customer ${link.tenant_id}` : 'this incident link'
    if (!confirm(`Revoke ${what}? Anyone using it loses access at once. This cannot be undone.`)) return
    button.disabled = true
    try {
      await revokeShareLink(link.id)
    } catch (err) {
      this.showError(`The link was not revoked: ${err instanceof Error ? err.message : String(err)}`)
    }
    await this.loadList()
  }
}
