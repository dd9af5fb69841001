import { downloadExport, getOverdue, getScope, putCommPolicy, type OverdueRow, type Summary, type ViewParams } from '../api.js'
import { downloadBlob, h, setText } from '../dom.js'
import { formatCount, formatDuration, formatTime, type TimeZoneMode } from '../format.js'
import { stateMessage } from './parts.js'

/** Rows listed in the panel (the CSV export has every one). */
const PANEL_ROWS = 50
const KIND_LABEL: Record<OverdueRow['kind'], string> = { first_contact: 'No first contact', update: 'Update due' }
/** Policy choices offered by the editor; any duration the API takes can be set through it too. */
const FIRST_CONTACT_CHOICES = ['30m', '1h', '2h', '4h', '8h', '24h']
const UPDATE_CHOICES = ['1h', '4h', '8h', '12h', '24h', '2d', '3d']

export interface OverdueContext {
  incidentId: string
  view(): ViewParams
  tz(): TimeZoneMode
  onOpen(tenantId: string): void
  /** The policy changed: every figure of the view must be reloaded. */
  onPolicyChanged(): void
}

/**
 * "Who to contact now" (SPEC §6): the customers overdue for a first contact or an update under
 * the incident's communication policy, most overdue first, beside the communications chart;
 * the policy itself, editable with an admin token; the whole list as CSV for the comms team.
 * Every figure is the API's (GET …/overdue, the summary's comm_policy).
 */
export class OverduePanel {
  readonly el: HTMLElement
  private readonly list = h('ol', { class: 'overdue-list', 'data-testid': 'overdue-list' })
  private readonly count = h('span', { class: 'overdue-count', 'data-testid': 'overdue-total' }, '—')
  private readonly policyText = h('p', { class: 'small muted', 'data-testid': 'comm-policy' }, '')
  private readonly editButton = h('button', { type: 'button', class: 'ghost small', hidden: true, 'data-testid': 'edit-policy' }, 'Edit policy')
  private readonly form: HTMLFormElement
  private readonly firstSelect = h('select', { 'aria-label': 'First contact within', 'data-testid': 'policy-first-contact' })
  private readonly updateSelect = h('select', { 'aria-label': 'Update every', 'data-testid': 'policy-update-every' })
  private readonly formError = h('p', { class: 'small error', role: 'alert', hidden: true })
  private policy: Summary['comm_policy'] | null = null

  constructor(private readonly ctx: OverdueContext) {
    const exportButton = h('button', { type: 'button', class: 'ghost small', 'data-testid': 'overdue-csv' }, 'Export CSV')
    exportButton.addEventListener('click', async () => {
      const blob = await downloadExport(ctx.incidentId, 'overdue.csv', ctx.view())
      downloadBlob(blob, `${ctx.incidentId}-overdue.csv`)
    })
    this.form = h(
      'form',
      { class: 'policy-form', hidden: true, 'data-testid': 'policy-form' },
      h('label', { class: 'small' }, 'First contact within ', this.firstSelect),
      h('label', { class: 'small' }, 'then an update every ', this.updateSelect),
      h('button', { type: 'submit' }, 'Save'),
      h('button', { type: 'button', class: 'ghost', onclick: () => (this.form.hidden = true) }, 'Cancel'),
      this.formError,
    )
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.save()
    })
    this.editButton.addEventListener('click', () => {
      this.fillChoices()
      this.form.hidden = false
    })
    this.el = h(
      'section',
      { class: 'card overdue-card', 'aria-label': 'Who to contact now', 'data-testid': 'overdue-panel' },
      h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, 'Who to contact now ', this.count), this.policyText), h('div', { class: 'card-tools' }, this.editButton, exportButton)),
      this.form,
      this.list,
    )
    // The editor is for admin tokens; others see the policy read-only.
    void getScope()
      .then((scope) => (this.editButton.hidden = scope !== 'admin'))
      .catch(() => {})
  }

  /** The policy in force, from the summary. */
  setPolicy(p: Summary['comm_policy']) {
    this.policy = p
    setText(this.policyText, `Policy: a first contact within ${p.first_contact_within} of losing access, then an update at least every ${p.update_every}.`)
  }

  async load(signal: AbortSignal): Promise<void> {
    try {
      const page = await getOverdue(this.ctx.incidentId, this.ctx.view(), PANEL_ROWS, signal)
      if (!signal.aborted) this.render(page)
    } catch (err) {
      if (!signal.aborted) this.list.replaceChildren(h('li', {}, stateMessage('error', `Could not load who to contact: ${err instanceof Error ? err.message : String(err)}`)))
    }
  }

  private render(page: { total: number; rows: OverdueRow[] }) {
    setText(this.count, `(${formatCount(page.total)})`)
    this.count.dataset.total = String(page.total)
    if (page.rows.length === 0) {
      this.list.replaceChildren(h('li', {}, stateMessage('empty', 'Nobody is overdue for an update at this moment.')))
      return
    }
    const tz = this.ctx.tz()
    const items = page.rows.map((r) =>
      h(
        'li',
        {},
        h(
          'button',
          { type: 'button', class: 'overdue-row', 'data-tenant': r.tenant_id, onclick: () => this.ctx.onOpen(r.tenant_id) },
          h('span', { class: 'overdue-name' }, r.name || r.tenant_id),
          h('span', { class: `badge ${r.kind === 'first_contact' ? 'badge-down' : 'badge-waiting'}`, 'data-kind': r.kind }, KIND_LABEL[r.kind]),
          h('span', { class: 'overdue-for', 'data-overdue-s': String(r.overdue_s) }, `overdue ${formatDuration(r.overdue_s)}`),
          h('span', { class: 'small muted' }, r.last_contact_at ? `last contact ${formatTime(r.last_contact_at, tz)}` : 'never contacted'),
        ),
      ),
    )
    if (page.total > page.rows.length) items.push(h('li', { class: 'small muted' }, `… and ${formatCount(page.total - page.rows.length)} more: export the CSV for the whole list.`))
    this.list.replaceChildren(...items)
  }

  private fillChoices() {
    const fill = (select: HTMLSelectElement, choices: string[], current: string | undefined) => {
      const all = current && !choices.includes(current) ? [current, ...choices] : choices
      select.replaceChildren(...all.map((c) => h('option', { value: c }, c)))
      select.value = current ?? choices[0]!
    }
    fill(this.firstSelect, FIRST_CONTACT_CHOICES, this.policy?.first_contact_within)
    fill(this.updateSelect, UPDATE_CHOICES, this.policy?.update_every)
  }

  private async save() {
    this.formError.hidden = true
    try {
      await putCommPolicy(this.ctx.incidentId, { first_contact_within: this.firstSelect.value, update_every: this.updateSelect.value })
      this.form.hidden = true
      this.ctx.onPolicyChanged()
    } catch (err) {
      this.formError.hidden = false
      setText(this.formError, `The policy was not saved: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
}
