import { downloadExport, type Incident } from '../../api.js'
import { downloadBlob, h } from '../../dom.js'
import { statusBadge } from '../parts.js'
import type { SegmentFilters } from './filters.js'
import type { Sharing } from './sharing.js'
import { viewParams, type IncidentState } from './state.js'
import type { TimeTravel } from './time-travel.js'

/**
 * The header: title, status, live indicator and sharing; the time row; the segment row with
 * the exports (customers CSV, Markdown report).
 */
export class IncidentHeader {
  readonly el: HTMLElement
  private readonly title: HTMLElement
  private readonly statusSlot = h('span', {})

  constructor(
    private readonly state: IncidentState,
    parts: { live: HTMLElement; timeTravel: TimeTravel; filters: SegmentFilters; sharing: Sharing },
  ) {
    this.title = h('h1', { class: 'inc-title' }, state.incidentId)
    this.el = h(
      'header',
      { class: 'inc-head' },
      h(
        'div',
        { class: 'inc-head-row' },
        state.shared ? null : h('a', { href: '/', 'data-nav': true, class: 'back' }, '← All incidents'),
        this.title,
        this.statusSlot,
        parts.live,
        h('span', { class: 'spacer' }),
        parts.sharing.note,
        parts.sharing.button,
      ),
      parts.timeTravel.el,
      parts.filters.el,
    )
  }

  showMeta(meta: Incident) {
    this.title.textContent = meta.title || meta.incident_id
    document.title = `${meta.title || meta.incident_id} · Aftermath`
    this.statusSlot.replaceChildren(statusBadge(meta.status))
  }
}

/** The export buttons: each fetches with the token and hands the file over as a download. */
export function exportButtons(state: IncidentState, onError: (message: string) => void): HTMLElement[] {
  const button = (label: string, kind: 'tenants.csv' | 'report.md') => {
    const b = h('button', { type: 'button', class: 'ghost' }, label)
    b.addEventListener('click', async () => {
      b.disabled = true
      b.textContent = 'Preparing…'
      try {
        const blob = await downloadExport(state.incidentId, kind, viewParams(state))
        downloadBlob(blob, `${state.incidentId}-${kind === 'tenants.csv' ? 'customers.csv' : 'report.md'}`)
      } catch (err) {
        onError(`Export failed: ${err instanceof Error ? err.message : String(err)}. Try again.`)
      } finally {
        b.disabled = false
        b.textContent = label
      }
    })
    return b
  }
  return [button('↓ Customers CSV', 'tenants.csv'), button('↓ Report (Markdown)', 'report.md')]
}
