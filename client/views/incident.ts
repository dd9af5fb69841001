import { getCommunications, getEtaHistory, getHistogram, getRecovery, getSummary, type Summary, type TenantRow } from '../api.js'
import { h } from '../dom.js'
import { Drilldown } from './drilldown.js'
import { AttributeIndex } from './incident/attributes.js'
import { SegmentFilters } from './incident/filters.js'
import { exportButtons, IncidentHeader } from './incident/header.js'
import { KeyFigures } from './incident/kpis.js'
import { LiveUpdates } from './incident/live.js'
import { fetchMeta, seriesRange, windowMs } from './incident/meta.js'
import { Sharing } from './incident/sharing.js'
import { createState, DAY_MS, staleAfter, viewParams, WEIGHT } from './incident/state.js'
import { TimeTravel } from './incident/time-travel.js'
import { IncidentCharts, type XRange } from './incident/charts.js'
import { stateToUrl } from './incident/url-state.js'
import { WorstHit } from './incident/worst.js'
import { OverduePanel } from './overdue.js'
import { stateMessage } from './parts.js'
import { CustomersTable } from './table.js'
import type { AppContext, View } from './view.js'

const HIST_BINS = 20

/**
 * The incident view: header, hero, recovery and communications charts, downtime, customers.
 * The parts live in ./incident/; this puts them on the page, shares one state object between
 * them (incident/state.ts), and loads every figure of the view at once.
 */
export function incidentView(ctx: AppContext, incidentId: string): View {
  const state = createState(ctx, incidentId)
  const { url } = state
  let ctrl: AbortController | null = null

  const attributes = new AttributeIndex()
  const live = new LiveUpdates(state, {
    onSummary: (s) => showSummary(s),
    onRefresh: () => {
      void load(true)
      // An open customer timeline follows the incident too.
      void drill.refresh(viewParams(state), ctx.tz())
    },
    onLive: (on) => (el.dataset.live = String(on)),
  })
  const timeTravel = new TimeTravel(state, () => changed())
  const filters = new SegmentFilters(state, attributes, () => changed(), exportButtons(state, (m) => showBanner(m)))
  const sharing = new Sharing(state)
  const header = new IncidentHeader(state, { live: live.indicator, timeTravel, filters, sharing })
  const figures = new KeyFigures(state)
  const charts = new IncidentCharts(state, () => changed(false))
  const drill = new Drilldown()
  const openTenant = (tenantId: string) => void drill.open(incidentId, tenantId, viewParams(state), ctx.tz())
  const overdue = new OverduePanel({ incidentId, view: () => viewParams(state), tz: () => ctx.tz(), onOpen: openTenant, onPolicyChanged: () => void load(true) })
  const worst = new WorstHit(state, { onOpen: openTenant, onRows: noteAttributes })
  const table = new CustomersTable(incidentId, url.table, {
    view: () => viewParams(state),
    tz: ctx.tz,
    onOpen: openTenant,
    onState: (t) => {
      url.table = t
      stateToUrl(url)
      worst.tableChanged(ctrl?.signal)
    },
    onRows: (rows) => {
      noteAttributes(rows)
      sharing.noteTenants(rows)
      worst.tableRows(rows)
    },
  })

  const errorBanner = h('div', { class: 'banner', hidden: true, role: 'alert' })
  const el = h(
    'main',
    { class: 'page incident', 'data-view': 'incident', 'data-incident': incidentId },
    header.el,
    errorBanner,
    figures.hero,
    figures.kpis,
    // The overdue list beside both timeline charts, which stay the same width (one x axis for the eye).
    h('div', { class: 'timelines' }, charts.recovery.card, charts.communications.card, overdue.el, charts.etaHistory.card),
    h('div', { class: 'grid2' }, charts.histogram.card, worst.card),
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, 'Customers'), h('p', { class: 'small muted' }, 'Every affected customer. Sort with the column headers; Enter or a click opens a customer’s timeline.'))),
      table.el,
    ),
    drill.dialog,
    sharing.dialog.dialog,
  )

  /** A control changed the url state: write the address and load the view again. */
  function changed(resetTable = true) {
    if (resetTable) url.table = { ...url.table, offset: 0 }
    stateToUrl(url)
    void load(false)
  }

  function showBanner(text: string | null) {
    errorBanner.hidden = !text
    errorBanner.textContent = text ?? ''
  }

  function showSummary(s: Summary) {
    state.summary = s
    timeTravel.showAsOf(s.as_of)
    figures.render(s)
    overdue.setPolicy(s.comm_policy)
  }

  function noteAttributes(rows: TenantRow[]) {
    if (!attributes.note(rows)) return
    filters.attributesChanged()
    charts.setSegmentChoices(attributes.segments())
  }

  async function load(soft: boolean) {
    ctrl?.abort()
    const c = (ctrl = new AbortController())
    const signal = c.signal
    state.loading = true
    state.lastLoadAt = Date.now()
    filters.renderChips()
    if (!soft) {
      el.classList.add('busy')
      charts.setLoading()
    }
    const section = async <T>(p: Promise<T>, ok: (v: T) => void, fail: (msg: string) => void) => {
      try {
        const v = await p
        if (!signal.aborted) ok(v)
      } catch (err) {
        if (!signal.aborted) fail(err instanceof Error ? err.message : String(err))
      }
    }
    try {
      // Every request goes out at once; the series use the server's default window (first
      // event … as_of), so they need nothing from the incident list but a resolved incident's end.
      const view = viewParams(state)
      const tz = ctx.tz()
      const summaryP = getSummary(incidentId, view, { weight: WEIGHT, staleAfter: staleAfter(state) }, signal)
      const metaP = fetchMeta(state, summaryP, soft, signal)
      const histP = getHistogram(incidentId, view, HIST_BINS, signal)
      const rangeP = state.meta || url.asOf ? Promise.resolve(seriesRange(state.meta, url.asOf)) : metaP.then((m) => seriesRange(m, url.asOf))
      // The weighted series only when the chart shows users: it costs the server a join.
      const weight = url.unit === 'users' ? WEIGHT : undefined
      const groupBy = url.groupBy
      const recoveryP = rangeP.then((r) => getRecovery(incidentId, view, { weight, ...r }, signal))
      const segmentsP = groupBy ? rangeP.then((r) => getRecovery(incidentId, view, { weight, groupBy, ...r }, signal)) : Promise.resolve(null)
      const commP = rangeP.then((r) => getCommunications(incidentId, view, { ...r, staleAfter: staleAfter(state) }, signal))
      const etaP = rangeP.then((r) => getEtaHistory(incidentId, view, r, signal))
      const tableP = table.load(soft)
      const worstP = worst.load(signal)
      const overdueP = overdue.load(signal)
      // Rejections are handled by their sections; these keep an early failure from being "unhandled".
      for (const p of [summaryP, recoveryP, segmentsP, commP, histP, etaP]) p?.catch(() => {})

      const meta = (state.meta = await metaP)
      if (signal.aborted) return
      if (!meta) return showMissing()
      header.showMeta(meta)
      timeTravel.sync()
      live.sync()
      const startMs = windowMs(meta).start
      const dayAgoMs = (url.asOf ? Date.parse(url.asOf) : Date.now()) - DAY_MS
      /** x range of the timeline charts: the incident's first event to the series' last point (as_of). */
      const xRange = (lastT: string | undefined): XRange => {
        const maxMs = lastT ? Date.parse(lastT) : url.asOf ? Date.parse(url.asOf) : Date.now()
        return { minMs: Math.min(startMs, maxMs - 60_000), maxMs }
      }

      let summary: Summary | null = null
      await Promise.all([
        section(
          summaryP,
          (s) => {
            summary = s
            showSummary(s)
            charts.setMilestones(s.milestones)
          },
          (m) => showBanner(`Could not load the key figures: ${m}. They will retry on the next update; or reload the page.`),
        ),
        section(
          Promise.all([recoveryP, segmentsP]),
          ([r, g]) => figures.noteSeries(charts.showRecovery(r, g, summary?.milestones ?? null, xRange, tz), dayAgoMs, startMs),
          (m) => charts.recovery.setOverlay('error', `Could not load recovery: ${m}`),
        ),
        section(
          commP,
          (cm) => charts.showCommunications(cm, summary?.milestones ?? null, xRange, tz),
          (m) => charts.communications.setOverlay('error', `Could not load communications: ${m}`),
        ),
        section(
          etaP,
          (eh) => charts.showEtaHistory(eh, xRange, tz),
          (m) => charts.etaHistory.setOverlay('error', `Could not load the forecast's history: ${m}`),
        ),
        section(
          histP,
          (hs) => charts.showHistogram(hs),
          (m) => charts.histogram.setOverlay('error', `Could not load the downtime distribution: ${m}`),
        ),
        worstP,
        tableP,
        overdueP,
      ])
      if (!signal.aborted && summary) showBanner(null)
    } catch (err) {
      if (!signal.aborted) showBanner(`Could not load this incident: ${err instanceof Error ? err.message : String(err)}. Check that the server is running, then reload.`)
    } finally {
      if (!signal.aborted) {
        state.loading = false
        el.classList.remove('busy')
      }
    }
  }

  /** The incident has no events (or is unknown): say so instead of empty charts. */
  function showMissing() {
    el.replaceChildren(
      header.el,
      state.shared
        ? stateMessage('empty', 'This incident has no events yet. Reload the page later.')
        : stateMessage('empty', `No incident “${incidentId}” has any events yet. Check the id, or go back to the incident list.`, { label: 'All incidents', onClick: () => ctx.navigate('/') }),
    )
  }

  void load(false)

  return {
    el,
    // Theme or time zone changed: redraw from the figures already fetched, at once.
    refresh() {
      if (state.summary) showSummary(state.summary)
      charts.refresh()
      timeTravel.sync()
      table.rerender()
      sharing.refresh()
    },
    destroy() {
      state.destroyed = true
      ctrl?.abort()
      live.destroy()
      charts.destroy()
      table.destroy()
      drill.destroy()
      sharing.destroy()
    },
  }
}
