import { getTenants, type TenantRow } from '../../api.js'
import { h } from '../../dom.js'
import { formatDuration } from '../../format.js'
import { stateBadge, stateMessage } from '../parts.js'
import { viewParams, type IncidentState } from './state.js'
import { isWorstOrder } from './url-state.js'

const WORST_LIMIT = 10

/**
 * The worst-hit customers: the longest total downtimes. While the customers table is in its
 * default order its first rows are this list (show them); otherwise the list has its own request.
 */
export class WorstHit {
  readonly card: HTMLElement
  private readonly list = h('ol', { class: 'worst', 'data-testid': 'worst' })
  /** The list shows this load's figures; a request for it is under way. */
  private fresh = false
  private loading = false

  constructor(
    private readonly state: IncidentState,
    private readonly env: { onOpen(tenantId: string): void; onRows(rows: TenantRow[]): void },
  ) {
    this.card = h(
      'section',
      { class: 'card' },
      h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, 'Worst-hit customers'), h('p', { class: 'small muted' }, `The ${WORST_LIMIT} longest total downtimes. Select one for its timeline.`))),
      this.list,
    )
  }

  /** A new load: the list is stale until filled again; fetch it unless the table will fill it. */
  load(signal: AbortSignal): Promise<void> | null {
    this.fresh = false
    this.loading = false
    return isWorstOrder(this.state.url.table) ? null : this.fetch(signal)
  }

  /** The table moved away from the worst-hit order before this list was filled: ask for it. */
  tableChanged(signal: AbortSignal | undefined) {
    if (!this.fresh && !this.loading && !isWorstOrder(this.state.url.table) && signal) void this.fetch(signal)
  }

  /** A page of the table arrived: in the worst-hit order its first rows are this list. */
  tableRows(rows: TenantRow[]) {
    if (isWorstOrder(this.state.url.table)) this.show(rows.slice(0, WORST_LIMIT))
  }

  private async fetch(signal: AbortSignal): Promise<void> {
    this.loading = true
    try {
      const page = await getTenants(this.state.incidentId, viewParams(this.state), { sort: 'downtime_s', order: 'desc', limit: WORST_LIMIT }, signal)
      if (signal.aborted) return
      this.show(page.rows)
      this.env.onRows(page.rows)
    } catch (err) {
      if (!signal.aborted) this.list.replaceChildren(h('li', {}, stateMessage('error', `Could not load the worst-hit customers: ${err instanceof Error ? err.message : String(err)}`)))
    } finally {
      if (!signal.aborted) this.loading = false
    }
  }

  private show(rows: TenantRow[]) {
    this.fresh = true
    if (rows.length === 0) {
      this.list.replaceChildren(h('li', {}, stateMessage('empty', 'No customer has lost access at this moment.')))
      return
    }
    const max = Math.max(...rows.map((r) => r.downtime_s), 1)
    this.list.replaceChildren(
      ...rows.map((r) => {
        const bar = h('span', { class: 'bar' })
        bar.style.width = `${Math.max(1, (r.downtime_s / max) * 100)}%`
        const btn = h(
          'button',
          { type: 'button', class: 'worst-row', 'data-tenant': r.tenant_id, onclick: () => this.env.onOpen(r.tenant_id) },
          h('span', { class: 'worst-name' }, r.name || r.tenant_id),
          h('span', { class: 'worst-value' }, formatDuration(r.downtime_s)),
          stateBadge(r.state),
          h('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar),
        )
        return h('li', {}, btn)
      }),
    )
  }
}
