import type { CustomerStatus } from '../api.js'
import { h, setText } from '../dom.js'
import { formatAgo, formatMinutes, formatTime } from '../format.js'

/**
 * The customer's status page: their own service's state in the incident, in calm words and
 * without the operator's vocabulary. Every figure is the API's; only "how long ago" and "for
 * how long" are counted on from the server's as_of, so they move between polls.
 */

const CHANNEL_LABEL: Record<string, string> = {
  email: 'Email',
  ticket: 'Support ticket',
  status_page: 'Status page',
  phone: 'Phone',
  chat: 'Chat',
  social: 'Social media',
  other: 'Message',
}
const channelLabel = (c: string) => CHANNEL_LABEL[c] ?? 'Message'

const STAGE_TEXT: Record<NonNullable<CustomerStatus['restore_stage']>, string> = {
  not_started: 'We have not started restoring your service yet.',
  in_progress: 'We are restoring your service.',
  completed: 'The restore is complete; access is coming back.',
}

/** Why the page cannot show a status: each says what happened and what to do. */
export type StatusProblem = 'no_token' | 'link_expired' | 'link_revoked' | 'invalid' | 'wrong_link'

const PROBLEM: Record<StatusProblem, { title: string; text: string }> = {
  no_token: {
    title: 'This page needs your status link',
    text: 'Open the full link you received from us (by email or message). If you no longer have it, ask your contact for a new one.',
  },
  link_expired: { title: 'This status link has expired', text: 'Ask your contact for a new one.' },
  link_revoked: { title: 'This status link is no longer active', text: 'It has been withdrawn. Ask your contact for a new one.' },
  invalid: {
    title: 'This status link is not valid',
    text: 'Check that you opened the whole link from your message, or ask your contact for a new one.',
  },
  wrong_link: {
    title: 'This link does not open a service status',
    text: 'Check the link you were sent, or ask your contact for a status link.',
  },
}

export class StatusView {
  private readonly incidentTitle = h('strong', { 'data-testid': 'incident-title' })
  private readonly incidentStatus = h('span', { class: 'badge', 'data-testid': 'incident-status' })
  private readonly forWhom = h('p', { class: 'state-for', 'data-testid': 'tenant-name' })
  private readonly headline = h('h1', { id: 'headline', 'data-testid': 'headline' })
  private readonly since = h('p', { class: 'state-since', 'data-testid': 'since' })
  private readonly total = h('p', { class: 'state-total', 'data-testid': 'downtime' })
  private readonly stateCard = h('section', { class: 'state-card', 'aria-labelledby': 'headline', 'data-testid': 'state' }, this.forWhom, this.headline, this.since, this.total)
  private readonly stageText = h('label', { for: 'restore-progress', class: 'restore-label', 'data-testid': 'restore-stage' })
  private readonly progress = h('progress', { id: 'restore-progress', max: 100, 'data-testid': 'restore-progress' })
  private readonly restore = h(
    'section',
    { class: 'card restore', 'aria-labelledby': 'restore-h', 'data-testid': 'restore' },
    h('h2', { id: 'restore-h' }, 'Restore progress'),
    this.stageText,
    this.progress,
  )
  private readonly lastUpdate = h('p', { class: 'last-update', 'data-testid': 'last-update' })
  private readonly updates = h('ol', { class: 'updates', 'data-testid': 'updates' })
  /** Spoken changes (state, restore stage, new updates); the page itself is read on arrival. */
  private readonly announcer = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-testid': 'announce' })
  private readonly content: HTMLElement
  private shown: CustomerStatus | null = null
  /** Server clock minus this clock, so "for how long" counts from the server's now. */
  private skewMs = 0
  private receivedAt = 0
  private problem: StatusProblem | null = null

  constructor(
    private readonly main: HTMLElement,
    private readonly fresh: HTMLElement,
  ) {
    this.content = h(
      'div',
      { class: 'status-content' },
      h('p', { class: 'incident-line', 'data-testid': 'incident' }, 'Incident: ', this.incidentTitle, ' ', this.incidentStatus),
      this.stateCard,
      this.restore,
      h('section', { class: 'card contact', 'aria-labelledby': 'updates-h' }, h('h2', { id: 'updates-h' }, 'Updates from us'), this.lastUpdate, this.updates),
    )
  }

  /** A fresh answer from the API. */
  show(s: CustomerStatus) {
    const before = this.shown
    this.shown = s
    this.problem = null
    this.receivedAt = Date.now()
    this.skewMs = Date.parse(s.as_of) - this.receivedAt
    if (this.content.parentElement !== this.main) this.main.replaceChildren(this.content, this.announcer)

    setText(this.incidentTitle, s.incident.title)
    const resolved = s.incident.status === 'resolved'
    this.incidentStatus.className = `badge ${resolved ? 'badge-resolved' : 'badge-ongoing'}`
    setText(this.incidentStatus, resolved ? '✓ Resolved' : '● Ongoing')
    setText(this.forWhom, s.tenant.name ? `Status for ${s.tenant.name}` : 'Status for your service')

    const down = s.state === 'down'
    const headline = down ? '▼ Your service is down' : s.affected ? '▲ Your service is restored' : '● Your service is not affected'
    setText(this.headline, headline)
    this.stateCard.className = `state-card state-${down ? 'down' : s.affected ? 'restored' : 'unaffected'}`
    this.stateCard.dataset.state = s.state
    document.title = `${headline.slice(2)} · Service status`

    this.restore.hidden = !down
    if (down) {
      const stage = s.restore_stage ?? 'not_started'
      const pct = s.restore_progress !== null ? Math.round(s.restore_progress * 100) : stage === 'completed' ? 100 : stage === 'not_started' ? 0 : null
      setText(this.stageText, `${STAGE_TEXT[stage]}${pct !== null ? ` ${pct} % done.` : ''}`)
      this.stageText.dataset.stage = stage
      // No figure while in progress: an indeterminate bar (no value) rather than a made-up one.
      if (pct === null) this.progress.removeAttribute('value')
      else this.progress.value = pct
      setText(this.progress, pct === null ? 'in progress' : `${pct} %`)
    }

    this.renderUpdates(s)
    this.tick()
    this.announce(before, s, headline)
  }

  /** The page cannot show a status (expired, revoked or missing link). */
  showProblem(problem: StatusProblem) {
    this.problem = problem
    this.shown = null
    const p = PROBLEM[problem]
    document.title = `${p.title} · Service status`
    setText(this.fresh, '')
    this.main.replaceChildren(
      h('section', { class: 'state-card state-problem', 'data-testid': 'problem', 'data-problem': problem, 'aria-labelledby': 'headline' }, h('h1', { id: 'headline' }, p.title), h('p', {}, p.text)),
    )
  }

  /** A poll failed; the last status stays up with its age, and when the page tries again. */
  showRetrying(retryInMs: number) {
    if (this.problem) return
    this.fresh.dataset.live = 'false'
    const next = `trying again in ${retryInMs < 60_000 ? `${Math.ceil(retryInMs / 1000)} s` : formatMinutes(retryInMs / 1000)}`
    if (!this.shown) {
      setText(this.fresh, '')
      this.main.replaceChildren(h('p', { class: 'status-loading', 'data-testid': 'retrying' }, `We cannot reach the status service right now; ${next}.`))
      return
    }
    setText(this.fresh, `○ Reconnecting (${next}); shown as of ${formatAgo((Date.now() - this.receivedAt) / 1000)}`)
  }

  /** Move the clocks on: how long down, how long since the last update. */
  tick() {
    const s = this.shown
    if (!s) return
    const nowMs = Date.now() + this.skewMs
    const sinceAsOfS = Math.max(0, (nowMs - Date.parse(s.as_of)) / 1000)
    if (s.state === 'down' && s.down_since) {
      const downMs = Date.parse(s.down_since)
      setText(this.since, `Down for ${formatMinutes((nowMs - downMs) / 1000)}, since ${formatTime(downMs, 'local')}.`)
      // More than this interval: the service was down before, restored, and lost again.
      const totalS = s.downtime_s + sinceAsOfS
      const thisS = (nowMs - downMs) / 1000
      setText(this.total, totalS - thisS >= 60 ? `${formatMinutes(totalS)} without service in total during this incident.` : '')
    } else if (s.affected) {
      setText(this.since, `Total time without service: ${formatMinutes(s.downtime_s)}.`)
      setText(this.total, '')
    } else {
      setText(this.since, 'We have no record of your service being interrupted by this incident.')
      setText(this.total, '')
    }
    if (s.last_update_at) {
      const at = Date.parse(s.last_update_at)
      setText(this.lastUpdate, `Last update from us ${formatAgo((nowMs - at) / 1000)} (${formatTime(at, 'local')}).`)
    } else setText(this.lastUpdate, s.state === 'down' ? 'No update sent to you yet. We will be in touch.' : 'No updates sent to you.')
    for (const rel of this.updates.querySelectorAll<HTMLElement>('[data-at]')) setText(rel, formatAgo((nowMs - Number(rel.dataset.at)) / 1000))
    this.fresh.dataset.live = 'true'
    setText(this.fresh, `● Live · checked ${formatAgo((Date.now() - this.receivedAt) / 1000)}`)
  }

  private renderUpdates(s: CustomerStatus) {
    if (s.updates.length === 0) {
      this.updates.replaceChildren()
      return
    }
    this.updates.replaceChildren(
      ...s.updates.map((u) => {
        const at = Date.parse(u.at)
        return h(
          'li',
          { class: `update${u.broadcast ? ' broadcast' : ''}` },
          h(
            'p',
            { class: 'update-meta' },
            h('time', { datetime: u.at }, formatTime(at, 'local')),
            ' · ',
            h('span', { 'data-at': at }, ''),
            ' · ',
            h('span', { class: 'channel' }, channelLabel(u.channel)),
            u.broadcast ? h('span', { class: 'tag', title: 'Posted for every customer affected, not only you' }, 'To all customers') : null,
          ),
          u.message ? h('p', { class: 'update-message' }, u.message) : h('p', { class: 'update-message muted' }, `An update was sent to you by ${channelLabel(u.channel).toLowerCase()}.`),
        )
      }),
    )
  }

  /** Tell assistive technology what changed since the last answer (nothing on the first). */
  private announce(before: CustomerStatus | null, s: CustomerStatus, headline: string) {
    if (!before) return
    const said: string[] = []
    if (before.state !== s.state) said.push(`${headline.slice(2)}.`)
    else if (s.state === 'down' && before.restore_stage !== s.restore_stage && s.restore_stage) said.push(STAGE_TEXT[s.restore_stage])
    const fresh = s.updates.filter((u) => Date.parse(u.at) > Date.parse(before.updates[0]?.at ?? '1970-01-01T00:00:00Z')).length
    if (fresh > 0) said.push(fresh === 1 ? 'New update from us.' : `${fresh} new updates from us.`)
    if (said.length) setText(this.announcer, said.join(' '))
  }
}
