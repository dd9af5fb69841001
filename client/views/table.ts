import { getTenants, type TenantPage, type TenantRow, type TenantSort, type ViewParams } from '../api.js'
import { debounce, h } from '../dom.js'
import { formatCount, formatDuration, formatTime, type TimeZoneMode } from '../format.js'
import { stateBadge, stateMessage, STAGE_LABEL } from './parts.js'

export interface TableState {
  sort: TenantSort
  order: 'asc' | 'desc'
  q: string
  state: '' | 'down' | 'up'
  offset: number
}

export const PAGE_SIZE = 25

interface Column {
  label: string
  sort?: TenantSort
  num?: boolean
  cell(r: TenantRow, tz: TimeZoneMode): Node | string
}

const COLUMNS: Column[] = [
  { label: 'Customer', sort: 'tenant_id', cell: (r) => h('span', { class: 'cust' }, h('span', { class: 'cust-name' }, r.name || r.tenant_id), r.name ? h('span', { class: 'muted small mono' }, r.tenant_id) : null) },
  { label: 'State', cell: (r) => stateBadge(r.state) },
  { label: 'Downtime', sort: 'downtime_s', num: true, cell: (r) => formatDuration(r.downtime_s) },
  { label: 'Outages', num: true, cell: (r) => formatCount(r.outages) },
  {
    label: 'Restore',
    cell: (r) =>
      r.state === 'down' && r.restore_stage
        ? `${STAGE_LABEL[r.restore_stage] ?? r.restore_stage}${r.restore_stage === 'in_progress' && r.restore_progress !== null ? ` ${Math.round(r.restore_progress * 100)} %` : ''}`
        : '—',
  },
  { label: 'First lost access', sort: 'first_lost_at', cell: (r, tz) => formatTime(r.first_lost_at, tz) },
  { label: 'First contact after', sort: 'first_contact_latency_s', num: true, cell: (r) => (r.first_contact_latency_s === null ? h('span', { class: 'waiting' }, '○ waiting') : formatDuration(r.first_contact_latency_s)) },
  { label: 'Updates', num: true, cell: (r) => formatCount(r.communications) },
  { label: 'Longest silence', sort: 'max_comm_gap_s', num: true, cell: (r) => formatDuration(r.max_comm_gap_s) },
]

/**
 * The customers table: sorting, search and paging happen on the server (the incident may have
 * 100k customers). Headers are buttons, rows are focusable and open the drill-down with Enter.
 */
export class CustomersTable {
  readonly el: HTMLElement
  private tbody: HTMLTableSectionElement
  private headButtons = new Map<TenantSort, HTMLButtonElement>()
  private pager: HTMLElement
  private status: HTMLElement
  private ctrl: AbortController | null = null
  private page: TenantPage | null = null
  private searchInput: HTMLInputElement
  private stateSelect: HTMLSelectElement

  constructor(
    private incidentId: string,
    private state: TableState,
    private env: { view(): ViewParams; tz(): TimeZoneMode; onOpen(tenantId: string): void; onState(s: TableState): void; onRows(rows: TenantRow[]): void },
  ) {
    this.searchInput = h('input', { type: 'search', placeholder: 'Search name or id', 'aria-label': 'Search customers by name or id', value: state.q, 'data-testid': 'table-search' })
    this.searchInput.value = state.q
    const onSearch = debounce(() => {
      this.state = { ...this.state, q: this.searchInput.value.trim(), offset: 0 }
      void this.load()
    }, 300)
    this.searchInput.addEventListener('input', onSearch)
    this.stateSelect = h(
      'select',
      { 'aria-label': 'Filter by state', 'data-testid': 'table-state' },
      h('option', { value: '' }, 'All customers'),
      h('option', { value: 'down' }, 'Down now'),
      h('option', { value: 'up' }, 'Up now'),
    )
    this.stateSelect.value = state.state
    this.stateSelect.addEventListener('change', () => {
      this.state = { ...this.state, state: this.stateSelect.value as TableState['state'], offset: 0 }
      void this.load()
    })
    const headRow = h(
      'tr',
      {},
      ...COLUMNS.map((c) => {
        if (!c.sort) return h('th', { scope: 'col', class: c.num ? 'num' : '' }, c.label)
        const sort = c.sort
        const b = h('button', { type: 'button', class: 'sort', 'data-sort': sort }, c.label, h('span', { class: 'sort-ind', 'aria-hidden': 'true' }))
        b.addEventListener('click', () => {
          const order = this.state.sort === sort ? (this.state.order === 'desc' ? 'asc' : 'desc') : sort === 'tenant_id' || sort === 'first_lost_at' ? 'asc' : 'desc'
          this.state = { ...this.state, sort, order, offset: 0 }
          void this.load()
        })
        this.headButtons.set(sort, b)
        return h('th', { scope: 'col', class: c.num ? 'num' : '' }, b)
      }),
    )
    this.tbody = h('tbody', {})
    this.pager = h('div', { class: 'pager' })
    this.status = h('div', { class: 'table-status', role: 'status' })
    this.el = h(
      'div',
      { class: 'customers' },
      h('div', { class: 'toolbar' }, this.searchInput, this.stateSelect, this.status),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data customers-table', 'data-testid': 'customers-table' }, h('thead', {}, headRow), this.tbody)),
      this.pager,
    )
  }

  async load(soft = false) {
    this.ctrl?.abort()
    const ctrl = (this.ctrl = new AbortController())
    this.env.onState(this.state)
    this.syncHeaders()
    if (!soft) this.el.classList.add('busy')
    try {
      const page = await getTenants(
        this.incidentId,
        this.env.view(),
        { sort: this.state.sort, order: this.state.order, q: this.state.q || undefined, state: this.state.state || undefined, offset: this.state.offset, limit: PAGE_SIZE },
        ctrl.signal,
      )
      if (ctrl.signal.aborted) return
      this.page = page
      this.render()
      this.env.onRows(page.rows)
    } catch (err) {
      if (ctrl.signal.aborted) return
      this.tbody.replaceChildren(h('tr', {}, h('td', { colspan: COLUMNS.length }, stateMessage('error', `Could not load customers: ${err instanceof Error ? err.message : String(err)}`, { label: 'Retry', onClick: () => void this.load() }))))
    } finally {
      if (!ctrl.signal.aborted) this.el.classList.remove('busy')
    }
  }

  rerender() {
    if (this.page) this.render()
  }

  private syncHeaders() {
    for (const [sort, b] of this.headButtons) {
      const active = sort === this.state.sort
      const th = b.parentElement!
      if (active) th.setAttribute('aria-sort', this.state.order === 'asc' ? 'ascending' : 'descending')
      else th.removeAttribute('aria-sort')
      b.querySelector('.sort-ind')!.textContent = active ? (this.state.order === 'asc' ? ' ▲' : ' ▼') : ' ↕'
      b.title = `Sort by ${b.firstChild?.textContent ?? sort}`
    }
  }

  private render() {
    const page = this.page!
    const tz = this.env.tz()
    // A live refresh must not take the keyboard focus away from the row the viewer is on.
    const focused = (document.activeElement as HTMLElement | null)?.closest?.('tr[data-tenant]')
    const focusedId = focused && this.tbody.contains(focused) ? focused.getAttribute('data-tenant') : null
    if (page.rows.length === 0) {
      const filtered = this.state.q || this.state.state
      this.tbody.replaceChildren(
        h('tr', {}, h('td', { colspan: COLUMNS.length }, stateMessage('empty', filtered ? 'No customer matches this search or filter. Clear the search box or choose “All customers”.' : 'No affected customers at this moment.'))),
      )
    } else {
      this.tbody.replaceChildren(
        ...page.rows.map((r) => {
          const tr = h('tr', { tabindex: 0, class: `row-${r.state}`, 'data-tenant': r.tenant_id, title: 'Open this customer’s timeline (Enter)' }, ...COLUMNS.map((c) => h('td', { class: c.num ? 'num' : '' }, c.cell(r, tz))))
          tr.addEventListener('click', () => this.env.onOpen(r.tenant_id))
          tr.addEventListener('keydown', (e) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault()
              this.env.onOpen(r.tenant_id)
            } else if (e.key === 'ArrowDown') {
              e.preventDefault()
              ;(tr.nextElementSibling as HTMLElement | null)?.focus()
            } else if (e.key === 'ArrowUp') {
              e.preventDefault()
              ;(tr.previousElementSibling as HTMLElement | null)?.focus()
            }
          })
          return tr
        }),
      )
    }
    if (focusedId !== null) {
      for (const tr of this.tbody.querySelectorAll<HTMLElement>('tr[data-tenant]')) if (tr.getAttribute('data-tenant') === focusedId) tr.focus({ preventScroll: true })
    }
    const from = page.total === 0 ? 0 : this.state.offset + 1
    const to = this.state.offset + page.rows.length
    const prev = h('button', { type: 'button', disabled: this.state.offset === 0, 'data-testid': 'page-prev' }, '← Previous')
    const next = h('button', { type: 'button', disabled: to >= page.total, 'data-testid': 'page-next' }, 'Next →')
    prev.addEventListener('click', () => {
      this.state = { ...this.state, offset: Math.max(0, this.state.offset - PAGE_SIZE) }
      void this.load()
    })
    next.addEventListener('click', () => {
      this.state = { ...this.state, offset: this.state.offset + PAGE_SIZE }
      void this.load()
    })
    this.pager.replaceChildren(prev, h('span', { 'data-testid': 'page-info' }, `${formatCount(from)}–${formatCount(to)} of ${formatCount(page.total)} customers`), next)
    this.status.textContent = this.state.q ? `${formatCount(page.total)} match “${this.state.q}”` : ''
  }

  destroy() {
    this.ctrl?.abort()
  }
}
