import type { RecoveryPoint, Summary } from '../../api.js'
import { h, setText } from '../../dom.js'
import { formatCount, formatDuration, formatPct, formatPctChange, formatTime } from '../../format.js'
import type { IncidentState } from './state.js'

/**
 * The hero (recovery %, restored of affected, the change over 24 h, the ETA) and the key
 * figures beneath it. Every figure is the summary's; the daily change sets it against the
 * recovery series point about 24 h before the moment shown.
 */
export class KeyFigures {
  readonly hero: HTMLElement
  readonly kpis: HTMLElement
  private readonly heroPct = h('div', { class: 'hero-pct', 'data-kpi': 'recovery_pct' }, '—')
  private readonly heroRestored = h('div', { class: 'hero-sub', 'data-kpi': 'restored_of_affected' }, '')
  private readonly heroUsers = h('div', { class: 'hero-sub small', 'data-kpi': 'weighted_recovery_pct' }, '')
  private readonly heroChange = h('div', { class: 'hero-change', 'data-kpi': 'change_24h' }, '')
  private readonly etaValue = h('div', { class: 'eta-value', 'data-kpi': 'eta' }, '—')
  private readonly etaRange = h('div', { class: 'eta-range small', 'data-kpi': 'eta_range' }, '')
  private readonly etaMethod = h('p', { class: 'eta-method small muted', 'data-kpi': 'eta_method' }, '')
  private readonly down = kpi('down', '▼ Still down')
  private readonly median = kpi('downtime_median', 'Median downtime')
  private readonly p90 = kpi('downtime_p90', 'p90 downtime')
  private readonly max = kpi('downtime_max', 'Worst downtime')
  private readonly contact = kpi('first_contact_median', 'Median time to first contact')
  private readonly waiting = kpi('waiting_first_contact', '○ Waiting for first contact')
  private readonly stale = kpi('stale', '⚠ Stale')
  private readonly overdue = kpi('overdue', '! Overdue for contact')
  /** The recovery series point about 24 h before the moment shown, for the daily change. */
  private dayAgo: RecoveryPoint | null = null

  constructor(private readonly state: IncidentState) {
    const { heroPct, heroRestored, heroUsers, heroChange, etaValue, etaRange, etaMethod } = this
    this.hero = h(
      'section',
      { class: 'hero card', 'aria-label': 'Recovery at a glance' },
      h('div', { class: 'hero-main' }, h('div', { class: 'hero-label' }, 'Customers back'), heroPct, heroRestored, heroUsers, heroChange),
      h('div', { class: 'hero-eta' }, h('div', { class: 'hero-label' }, 'Estimated full recovery'), etaValue, etaRange, etaMethod),
    )
    const cards = [this.down, this.median, this.p90, this.max, this.contact, this.waiting, this.stale, this.overdue]
    this.kpis = h('section', { class: 'kpis', 'aria-label': 'Key figures' }, ...cards.map((k) => k.card))
  }

  /** The recovery series arrived: keep its point at or before dayAgoMs (none before the incident's start). */
  noteSeries(points: RecoveryPoint[], dayAgoMs: number, startMs: number) {
    this.dayAgo = dayAgoMs >= startMs ? (points.filter((p) => Date.parse(p.t) <= dayAgoMs).at(-1) ?? null) : null
    this.renderChange()
  }

  /** Shows the summary; state.summary must already hold it (the daily change reads it there). */
  render(s: Summary) {
    setText(this.heroPct, formatPct(s.recovery_pct))
    setText(this.heroRestored, `${formatCount(s.restored)} of ${formatCount(s.affected)} affected customers have access again`)
    setText(this.heroUsers, s.weighted && s.weighted.affected > 0 ? `${formatPct(s.weighted.recovery_pct)} of users (${formatCount(s.weighted.restored)} of ${formatCount(s.weighted.affected)} seats)` : '')
    this.renderChange()
    this.renderEta(s)

    const { down, median, p90, max, contact, waiting, stale, overdue } = this
    setText(down.value, formatCount(s.down))
    setText(down.context, `of ${formatCount(s.affected)} affected · ${formatCount(s.stages.not_started)} not started, ${formatCount(s.stages.in_progress)} in progress, ${formatCount(s.stages.completed)} awaiting access`)
    setText(median.value, formatDuration(s.downtime_s.median))
    setText(median.context, 'half of affected customers were down longer')
    setText(p90.value, formatDuration(s.downtime_s.p90))
    setText(p90.context, '1 in 10 customers were down longer')
    setText(max.value, formatDuration(s.downtime_s.max))
    setText(max.context, `total across customers ${formatDuration(s.downtime_s.total)}`)
    setText(contact.value, formatDuration(s.first_contact_latency_s.median))
    setText(contact.context, `from losing access to the first update · p90 ${formatDuration(s.first_contact_latency_s.p90)}`)
    setText(waiting.value, formatCount(s.waiting_first_contact))
    setText(waiting.context, 'affected customers with no update yet')
    setText(stale.value, formatCount(s.stale))
    setText(stale.context, `down with no update in ${formatDuration(s.stale_after_s)}`)
    waiting.card.classList.toggle('alert', s.waiting_first_contact > 0)
    stale.card.classList.toggle('alert', s.stale > 0)
    setText(overdue.value, formatCount(s.overdue))
    setText(overdue.context, `past the policy (first contact ${s.comm_policy.first_contact_within}, update ${s.comm_policy.update_every}) · first contact on time ${formatPct(s.first_contact_on_time_pct)}`)
    // Amber when anyone is overdue; red when more than a quarter of the customers still down are.
    overdue.card.classList.toggle('alert', s.overdue > 0 && s.overdue * 4 <= s.down)
    overdue.card.classList.toggle('critical', s.overdue > 0 && s.overdue * 4 > s.down)
    overdue.card.dataset.level = s.overdue === 0 ? 'ok' : s.overdue * 4 > s.down ? 'critical' : 'alert'
  }

  private renderEta(s: Summary) {
    const tz = this.state.app.tz()
    const { etaValue, etaRange, etaMethod } = this
    if (s.eta && s.eta.at) {
      setText(etaValue, formatTime(s.eta.at, tz))
      setText(etaRange, s.eta.low && s.eta.high ? `likely between ${formatTime(s.eta.low, tz)} and ${formatTime(s.eta.high, tz)}` : '')
      setText(etaMethod, `How: ${s.eta.method}`)
    } else if (s.affected > 0 && s.down === 0) {
      setText(etaValue, 'All customers restored')
      setText(etaRange, s.milestones.pct100_at ? `100 % reached ${formatTime(s.milestones.pct100_at, tz)}` : '')
      setText(etaMethod, '')
    } else if (s.affected === 0) {
      setText(etaValue, '—')
      setText(etaRange, 'No customer has lost access at this moment.')
      setText(etaMethod, '')
    } else {
      setText(etaValue, 'No estimate yet')
      setText(etaRange, 'No customer was restored in the recent window, so no restore rate to project from.')
      setText(etaMethod, s.eta?.method ? `How: ${s.eta.method}` : '')
    }
  }

  /** Change of recovery % against the series point 24 h before: two API figures, each at its own moment. */
  private renderChange() {
    const { summary: s, meta, url } = this.state
    const heroChange = this.heroChange
    heroChange.className = 'hero-change'
    if (!s) return
    if (meta?.status === 'resolved' && !url.asOf) {
      setText(heroChange, `✓ Resolved — final figures. Last event ${formatTime(meta.last_event_at, this.state.app.tz())}.`)
      return
    }
    const was = this.dayAgo?.recovery_pct ?? null
    if (this.dayAgo && was !== null && s.recovery_pct !== null) {
      const change = s.recovery_pct - was
      heroChange.classList.add(change > 0 ? 'up' : 'flat')
      setText(heroChange, `${change > 0 ? '▲' : change < 0 ? '▼' : '■'} ${formatPctChange(change)} in the last 24 h (${formatPct(was)} at ${formatTime(this.dayAgo.t, this.state.app.tz())})`)
    } else setText(heroChange, 'Less than 24 h of incident so far: no daily change yet.')
  }
}

function kpi(key: string, label: string) {
  const value = h('div', { class: 'kpi-value', 'data-kpi': key }, '—')
  const context = h('div', { class: 'kpi-context small muted' }, '')
  return { card: h('div', { class: `kpi kpi-${key}` }, h('div', { class: 'kpi-label' }, label), value, context), value, context }
}
