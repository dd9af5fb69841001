import { getScope, type TenantRow } from '../../api.js'
import { h, setText } from '../../dom.js'
import { formatTime } from '../../format.js'
import { ShareDialog } from '../share.js'
import type { IncidentState } from './state.js'

/**
 * Sharing in the header: the Share button and its dialog for admin tokens; on an incident
 * link, the note saying it is a shared view and when it expires.
 */
export class Sharing {
  readonly dialog: ShareDialog
  readonly button: HTMLButtonElement
  readonly note: HTMLElement | null

  constructor(private readonly state: IncidentState) {
    const { shared, app } = state
    this.dialog = new ShareDialog(state.incidentId, () => app.tz())
    // Sharing is for admin tokens; the button appears once /whoami says so.
    this.button = h('button', { type: 'button', class: 'share-button', hidden: true, 'data-testid': 'share-button', onclick: () => this.dialog.open() }, '⤴ Share')
    if (!shared)
      void getScope()
        .then((scope) => (this.button.hidden = scope !== 'admin'))
        .catch(() => {})
    this.note = shared ? h('span', { class: 'shared-note small muted', 'data-testid': 'shared-note' }, this.noteText()) : null
  }

  /** Customers loaded by the view become the dialog's suggestions. */
  noteTenants(rows: TenantRow[]) {
    this.dialog.noteTenants(rows)
  }

  refresh() {
    if (this.note) setText(this.note, this.noteText())
  }

  destroy() {
    this.dialog.destroy()
  }

  private noteText() {
    return this.state.shared ? `Shared view · expires ${formatTime(this.state.shared.expiresAt, this.state.app.tz())}` : ''
  }
}
