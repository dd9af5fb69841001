import { getTimeline, type Timeline, type TimelineEvent, type ViewParams } from '../api.js'
import { TenantTimelineChart } from '../charts/tenantTimeline.js'
import { h } from '../dom.js'
import { formatCount, formatDuration, formatTime, type TimeZoneMode } from '../format.js'
import { stateBadge, stateMessage, STAGE_LABEL } from './parts.js'

const EVENT_LABEL: Record<string, string> = {
  access_lost: 'Lost access',
  access_restored: 'Access restored',
  restore_started: 'Restore started',
  restore_progress: 'Restore progress',
  restore_completed: 'Restore completed',
  communication: 'Update sent',
  milestone: 'Milestone',
}

/**
 * One customer's own timeline in a modal dialog: a small chart and the ordered event list.
 * Esc or the close button returns focus to the row that opened it. While the view is live it
 * follows new events (refresh).
 */
export class Drilldown {
  readonly dialog: HTMLDialogElement
  private chart: TenantTimelineChart | null = null
  private ctrl: AbortController | null = null

  constructor() {
    this.dialog = h('dialog', { class: 'drilldown', 'aria-labelledby': 'drill-title', 'data-testid': 'drilldown' })
    this.dialog.addEventListener('close', () => this.teardown())
    this.dialog.addEventListener('click', (e) => {
      if (e.target === this.dialog) this.dialog.close()
    })
  }

  /** The customer shown (kept for live refreshes). */
  private shown: { incidentId: string; tenantId: string; title: HTMLElement; body: HTMLElement } | null = null

  async open(incidentId: string, tenantId: string, view: ViewParams, tz: TimeZoneMode) {
    this.teardown()
    const close = h('button', { type: 'button', class: 'ghost close', 'aria-label': 'Close', onclick: () => this.dialog.close() }, '✕ Close')
    const title = h('h2', { id: 'drill-title' }, tenantId)
    const body = h('div', { class: 'drill-body' }, stateMessage('loading', 'Loading this customer’s timeline…'))
    this.dialog.replaceChildren(h('div', { class: 'drill-head' }, title, close), body)
    if (!this.dialog.open) this.dialog.showModal()
    close.focus()
    this.shown = { incidentId, tenantId, title, body }
    await this.render(view, tz, false)
  }

  /**
   * Fetch the shown customer again and redraw in place (the live view calls this as events
   * arrive): no loading state, focus and scroll stay where they are; a failure keeps what is shown.
   */
  async refresh(view: ViewParams, tz: TimeZoneMode) {
    if (this.dialog.open && this.shown) await this.render(view, tz, true)
  }

  private async render(view: ViewParams, tz: TimeZoneMode, quiet: boolean) {
    const shown = this.shown
    if (!shown) return
    this.ctrl?.abort()
    const ctrl = (this.ctrl = new AbortController())
    const { title, body } = shown
    try {
      const t = await getTimeline(shown.incidentId, shown.tenantId, view, ctrl.signal)
      if (ctrl.signal.aborted) return
      const row = t.row
      title.textContent = row?.name || shown.tenantId
      const facts = row
        ? h(
            'dl',
            { class: 'facts' },
            fact('Customer id', h('span', { class: 'mono' }, row.tenant_id)),
            fact('State', stateBadge(row.state)),
            fact('Downtime', formatDuration(row.downtime_s)),
            fact('Outages', formatCount(row.outages)),
            fact('First lost access', formatTime(row.first_lost_at, tz)),
            fact('Access back', row.last_restored_at ? formatTime(row.last_restored_at, tz) : row.state === 'down' ? 'not yet' : '—'),
            fact(
              'Restore',
              row.state === 'down' && row.restore_stage
                ? `${STAGE_LABEL[row.restore_stage] ?? row.restore_stage}${row.restore_progress !== null && row.restore_stage === 'in_progress' ? ` (${Math.round(row.restore_progress * 100)} %)` : ''}`
                : '—',
            ),
            fact('First contact', row.first_contact_at ? `${formatTime(row.first_contact_at, tz)} (after ${formatDuration(row.first_contact_latency_s)})` : 'still waiting'),
            fact('Updates received', formatCount(row.communications)),
            fact('Longest silence while down', formatDuration(row.max_comm_gap_s)),
            ...Object.entries(row.attributes ?? {}).map(([k, v]) => fact(k, String(v))),
          )
        : null
      const canvas = h('canvas', { role: 'img', 'aria-label': `timeline of ${row?.name || shown.tenantId}` })
      const list = h(
        'ol',
        { class: 'events' },
        ...t.events.map((e) => h('li', { class: `ev ev-${e.type}` }, h('time', { datetime: e.occurred_at }, formatTime(e.occurred_at, tz, { seconds: true })), h('span', { class: 'ev-type' }, EVENT_LABEL[e.type] ?? e.type), detail(e))),
      )
      const scroll = this.dialog.scrollTop
      this.chart?.destroy()
      body.replaceChildren(
        ...(facts ? [facts] : []),
        h('div', { class: 'chart-box drill-chart' }, canvas),
        h('h3', {}, `Events (${formatCount(t.events.length)}, in order)`),
        t.events.length ? list : stateMessage('empty', 'No events for this customer at this moment.'),
      )
      this.dialog.scrollTop = scroll
      this.chart = new TenantTimelineChart(canvas)
      this.chart.update(t.events, windowEndMs(t), tz)
    } catch (err) {
      if (ctrl.signal.aborted || quiet) return
      body.replaceChildren(stateMessage('error', `Could not load this customer: ${err instanceof Error ? err.message : String(err)}. Close and try again.`))
    }
  }

  private teardown() {
    this.ctrl?.abort()
    this.chart?.destroy()
    this.chart = null
    this.shown = null
  }

  destroy() {
    this.teardown()
    if (this.dialog.open) this.dialog.close()
    this.dialog.remove()
  }
}

/**
 * The end of the customer's own window: the moment shown while it is still down, else its last
 * event (a resolved incident's customer is not drawn against years of nothing up to now).
 */
function windowEndMs(t: Timeline): number {
  const asOfMs = Date.parse(t.as_of)
  if (t.row?.state === 'down' || t.events.length === 0) return asOfMs
  return Math.max(...t.events.map((e) => Date.parse(e.occurred_at)))
}

function fact(label: string, value: Node | string) {
  return h('div', {}, h('dt', {}, label), h('dd', {}, value))
}

function detail(e: TimelineEvent): HTMLElement | null {
  const bits: string[] = []
  if (e.type === 'restore_progress' && e.progress !== null && e.progress !== undefined) bits.push(`${Math.round(e.progress * 1000) / 10} % done`)
  if (e.type === 'communication') bits.push(e.direct !== false ? `direct${e.channel ? ', ' + e.channel : ''}` : `broadcast${e.channel ? ', ' + e.channel : ''}`)
  if (e.label) bits.push(e.label)
  if (e.message) bits.push(`“${e.message}”`)
  return bits.length ? h('span', { class: 'ev-detail' }, bits.join(' · ')) : null
}
