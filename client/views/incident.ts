import {
  downloadExport,
  getScope,
  getCommunications,
  getHistogram,
  getRecovery,
  getSummary,
  getTenants,
  listIncidents,
  subscribeStream,
  type Histogram,
  type Incident,
  type RecoveryPoint,
  type Summary,
  type TenantRow,
  type TenantSort,
  type ViewParams,
} from '../api.js'
import { CommunicationsChart, type CommunicationsChartData } from '../charts/communications.js'
import { OverduePanel } from './overdue.js'
import { HistogramChart } from '../charts/histogram.js'
import { RecoveryChart, type RecoveryChartData } from '../charts/recovery.js'
import { downloadBlob, downloadDataUrl, h, setText } from '../dom.js'
import { formatCount, formatDuration, formatPct, formatPctChange, formatTime, toIso } from '../format.js'
import { Drilldown } from './drilldown.js'
import { ShareDialog } from './share.js'
import { stateBadge, statusBadge, stateMessage } from './parts.js'
import { CustomersTable, type TableState } from './table.js'
import type { AppContext, SharedView, View } from './view.js'

/** Weighted recovery ("% of users") uses this numeric tenant attribute (SPEC §3). */
const WEIGHT = 'seats'
const DAY_MS = 86_400_000
const HIST_BINS = 20
const WORST_LIMIT = 10
const SLIDER_STEPS = 1000
/** Attributes offered for "lines per" have at most this many values, none of them a number. */
const MAX_SEGMENT_LINES = 20
const NUMERIC = /^-?\d+(\.\d+)?$/
/** Live chart/table refreshes at most this often; the key figures follow every stream update. */
const LIVE_MIN_INTERVAL_MS = 3000

interface State {
  asOf: string | null
  attrs: [string, string][]
  unit: 'customers' | 'users'
  groupBy: string
  includeBroadcast: boolean
  /** stale_after as the API takes it ('' = the server's default, 24 h). */
  staleAfter: string
  table: TableState
}

/** The choices of "Stale after" (SPEC §3 stale_after); the first is the server's default. */
const STALE_AFTER = [
  ['', '24 h'],
  ['4h', '4 h'],
  ['12h', '12 h'],
  ['48h', '2 days'],
  ['72h', '3 days'],
  ['7d', '7 days'],
] as const

const SORTS: TenantSort[] = ['downtime_s', 'first_contact_latency_s', 'max_comm_gap_s', 'first_lost_at', 'tenant_id']

function stateFromUrl(): State {
  const q = new URLSearchParams(location.search)
  const attrs: [string, string][] = []
  for (const [k, v] of q) if (k.startsWith('attr.') && k.length > 5) attrs.push([k.slice(5), v])
  const sort = q.get('sort') as TenantSort | null
  return {
    asOf: q.get('as_of'),
    attrs,
    unit: q.get('unit') === 'users' ? 'users' : 'customers',
    groupBy: q.get('group_by') ?? '',
    includeBroadcast: q.get('include_broadcast') === 'true',
    staleAfter: STALE_AFTER.some(([v]) => v && v === q.get('stale_after')) ? q.get('stale_after')! : '',
    table: {
      sort: sort && SORTS.includes(sort) ? sort : 'downtime_s',
      order: q.get('order') === 'asc' ? 'asc' : 'desc',
      q: q.get('q') ?? '',
      state: q.get('state') === 'down' || q.get('state') === 'up' ? (q.get('state') as 'down' | 'up') : '',
      offset: Math.max(0, Number(q.get('offset')) || 0),
    },
  }
}

function stateToUrl(s: State) {
  const q = new URLSearchParams()
  if (s.asOf) q.set('as_of', s.asOf)
  for (const [k, v] of s.attrs) q.append(`attr.${k}`, v)
  if (s.unit === 'users') q.set('unit', 'users')
  if (s.groupBy) q.set('group_by', s.groupBy)
  if (s.includeBroadcast) q.set('include_broadcast', 'true')
  if (s.staleAfter) q.set('stale_after', s.staleAfter)
  if (s.table.sort !== 'downtime_s') q.set('sort', s.table.sort)
  if (s.table.order !== 'desc') q.set('order', s.table.order)
  if (s.table.q) q.set('q', s.table.q)
  if (s.table.state) q.set('state', s.table.state)
  if (s.table.offset) q.set('offset', String(s.table.offset))
  const qs = q.toString()
  history.replaceState(history.state, '', location.pathname + (qs ? `?${qs}` : ''))
}

/** The incident view: header, hero, recovery and communications charts, downtime, customers. */
export function incidentView(ctx: AppContext, incidentId: string): View {
  const state = stateFromUrl()
  /** An incident link: this incident only, read-only (no list to go back to, no sharing). */
  const shared = ctx.shared()
  const viewParams = (): ViewParams => ({ asOf: state.asOf ?? undefined, attrs: state.attrs, includeBroadcast: state.includeBroadcast })
  let meta: Incident | null = null
  let ctrl: AbortController | null = null
  let unsubscribe: (() => void) | null = null
  let streamKey = ''
  let firstUpdate = true
  let lastSummary: Summary | null = null
  /** The worst-hit list shows this load's figures; a request for it is under way. */
  let worstFresh = false
  let worstLoading = false
  let recoveryData: RecoveryChartData | null = null
  let commData: CommunicationsChartData | null = null
  let histData: Histogram | null = null
  /** The recovery series point about 24 h before the moment shown, for the daily change. */
  let dayAgoPoint: RecoveryPoint | null = null
  let streamConnected = false
  let loading = false
  let lastLoadAt = 0
  let liveTimer: ReturnType<typeof setTimeout> | undefined
  let destroyed = false
  const attrsSeen = new Map<string, Set<string>>()

  // ---------- header ----------
  const title = h('h1', { class: 'inc-title' }, incidentId)
  const statusSlot = h('span', {})
  const liveIndicator = h('span', { class: 'live', 'data-testid': 'live', role: 'status' })
  const asOfText = h('strong', { 'data-testid': 'as-of' }, '…')
  const slider = h('input', { type: 'range', min: 0, max: SLIDER_STEPS, step: 1, value: SLIDER_STEPS, 'aria-label': 'Time travel: the moment shown', 'data-testid': 'time-slider', class: 'slider' })
  const sliderValue = h('span', { class: 'slider-value small muted', 'aria-hidden': 'true' })
  const liveButton = h('button', { type: 'button', class: 'ghost', 'data-testid': 'live-button' }, 'Live')
  const filterChips = h('div', { class: 'chips', 'aria-label': 'Segment filters' })
  const attrName = h('input', { list: 'attr-names', placeholder: 'attribute (tier)', 'aria-label': 'Filter attribute name', size: 12 })
  const attrValue = h('input', { list: 'attr-values', placeholder: 'value (enterprise)', 'aria-label': 'Filter attribute value', size: 14 })
  const attrNames = h('datalist', { id: 'attr-names' })
  const attrValues = h('datalist', { id: 'attr-values' })
  const filterForm = h('form', { class: 'filter-form' }, attrName, attrValue, attrNames, attrValues, h('button', { type: 'submit' }, 'Add filter'))
  const broadcastBox = h('input', { type: 'checkbox', id: 'include-broadcast' })
  broadcastBox.checked = state.includeBroadcast
  const staleSelect = h(
    'select',
    { 'aria-label': 'Stale after: a customer still down with no update for longer counts as stale', 'data-testid': 'stale-after' },
    ...STALE_AFTER.map(([value, label]) => h('option', { value }, label)),
  )
  staleSelect.value = state.staleAfter
  const shareDialog = new ShareDialog(incidentId, () => ctx.tz())
  // Sharing is for admin tokens; the button appears once /whoami says so.
  const shareButton = h('button', { type: 'button', class: 'share-button', hidden: true, 'data-testid': 'share-button', onclick: () => shareDialog.open() }, '⤴ Share')
  if (!shared)
    void getScope()
      .then((scope) => (shareButton.hidden = scope !== 'admin'))
      .catch(() => {})
  const sharedNote = shared ? h('span', { class: 'shared-note small muted', 'data-testid': 'shared-note' }, `Shared view · expires ${formatTime(shared.expiresAt, ctx.tz())}`) : null
  const csvButton = h('button', { type: 'button', class: 'ghost' }, '↓ Customers CSV')
  const reportButton = h('button', { type: 'button', class: 'ghost' }, '↓ Report (Markdown)')

  const header = h(
    'header',
    { class: 'inc-head' },
    h(
      'div',
      { class: 'inc-head-row' },
      shared ? null : h('a', { href: '/', 'data-nav': true, class: 'back' }, '← All incidents'),
      title,
      statusSlot,
      liveIndicator,
      h('span', { class: 'spacer' }),
      sharedNote,
      shareButton,
    ),
    h(
      'div',
      { class: 'inc-head-row time-row' },
      h('span', { class: 'as-of' }, 'As of ', asOfText),
      h('label', { class: 'slider-wrap' }, h('span', { class: 'small muted' }, 'Time travel'), slider, sliderValue),
      liveButton,
    ),
    h(
      'div',
      { class: 'inc-head-row filter-row' },
      h('span', { class: 'small muted' }, 'Segment:'),
      filterChips,
      filterForm,
      h('label', { class: 'check small' }, broadcastBox, ' Count broadcasts as contact'),
      h('label', { class: 'small' }, 'Stale after ', staleSelect),
      h('span', { class: 'spacer' }),
      csvButton,
      reportButton,
    ),
  )

  // ---------- hero + KPIs ----------
  const heroPct = h('div', { class: 'hero-pct', 'data-kpi': 'recovery_pct' }, '—')
  const heroRestored = h('div', { class: 'hero-sub', 'data-kpi': 'restored_of_affected' }, '')
  const heroUsers = h('div', { class: 'hero-sub small', 'data-kpi': 'weighted_recovery_pct' }, '')
  const heroChange = h('div', { class: 'hero-change', 'data-kpi': 'change_24h' }, '')
  const etaValue = h('div', { class: 'eta-value', 'data-kpi': 'eta' }, '—')
  const etaRange = h('div', { class: 'eta-range small', 'data-kpi': 'eta_range' }, '')
  const etaMethod = h('p', { class: 'eta-method small muted', 'data-kpi': 'eta_method' }, '')
  const hero = h(
    'section',
    { class: 'hero card', 'aria-label': 'Recovery at a glance' },
    h('div', { class: 'hero-main' }, h('div', { class: 'hero-label' }, 'Customers back'), heroPct, heroRestored, heroUsers, heroChange),
    h('div', { class: 'hero-eta' }, h('div', { class: 'hero-label' }, 'Estimated full recovery'), etaValue, etaRange, etaMethod),
  )

  const kpi = (key: string, label: string) => {
    const value = h('div', { class: 'kpi-value', 'data-kpi': key }, '—')
    const context = h('div', { class: 'kpi-context small muted' }, '')
    return { card: h('div', { class: `kpi kpi-${key}` }, h('div', { class: 'kpi-label' }, label), value, context), value, context }
  }
  const kDown = kpi('down', '▼ Still down')
  const kMedian = kpi('downtime_median', 'Median downtime')
  const kP90 = kpi('downtime_p90', 'p90 downtime')
  const kMax = kpi('downtime_max', 'Worst downtime')
  const kContact = kpi('first_contact_median', 'Median time to first contact')
  const kWaiting = kpi('waiting_first_contact', '○ Waiting for first contact')
  const kStale = kpi('stale', '⚠ Stale')
  const kOverdue = kpi('overdue', '! Overdue for contact')
  const kpis = h('section', { class: 'kpis', 'aria-label': 'Key figures' }, ...[kDown, kMedian, kP90, kMax, kContact, kWaiting, kStale, kOverdue].map((k) => k.card))

  // ---------- charts ----------
  const chartCard = (titleText: string, help: string, heightClass: string, tools: HTMLElement[] = []) => {
    const canvas = h('canvas', { role: 'img', 'aria-label': titleText })
    const overlay = h('div', { class: 'overlay', hidden: true })
    const png = h('button', { type: 'button', class: 'ghost small', title: 'Download this chart as PNG' }, '↓ PNG')
    const card = h(
      'section',
      { class: 'card chart-card' },
      h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, titleText), h('p', { class: 'small muted' }, help)), h('div', { class: 'card-tools' }, ...tools, png)),
      h('div', { class: `chart-box ${heightClass}` }, canvas, overlay),
    )
    const setOverlay = (kind: 'loading' | 'empty' | 'error' | null, text = '') => {
      overlay.hidden = kind === null
      overlay.className = `overlay overlay-${kind ?? 'none'}`
      overlay.replaceChildren(...(kind ? [stateMessage(kind, text)] : []))
    }
    return { card, canvas, png, setOverlay }
  }

  const unitCustomers = h('button', { type: 'button', class: 'seg', 'aria-pressed': String(state.unit === 'customers') }, 'Customers')
  const unitUsers = h('button', { type: 'button', class: 'seg', 'aria-pressed': String(state.unit === 'users') }, 'Users (seats)')
  const groupSelect = h('select', { 'aria-label': 'Lines per segment' }, h('option', { value: '' }, 'No segment lines'))
  const rec = chartCard(
    'Recovery over the incident',
    'Share of affected customers with access again (line, left axis); customers still down by restore stage (shaded, right axis). Dashed lines mark milestones.',
    'h-main',
    [h('div', { class: 'segmented', role: 'group', 'aria-label': 'Count recovery by' }, unitCustomers, unitUsers), groupSelect],
  )
  rec.canvas.dataset.chart = 'recovery'
  const com = chartCard(
    'Communications over the same timeline',
    'Updates sent per interval (bars, right axis); customers still waiting for a first update and customers gone stale (lines, left axis).',
    'h-comm',
  )
  com.canvas.dataset.chart = 'communications'
  const hist = chartCard('Downtime distribution', 'Affected customers by total time without access.', 'h-side')
  hist.canvas.dataset.chart = 'histogram'
  const worstList = h('ol', { class: 'worst', 'data-testid': 'worst' })
  const worstCard = h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, 'Worst-hit customers'), h('p', { class: 'small muted' }, `The ${WORST_LIMIT} longest total downtimes. Select one for its timeline.`))), worstList)

  const overdue = new OverduePanel({
    incidentId,
    view: () => viewParams(),
    tz: () => ctx.tz(),
    onOpen: (tenantId) => openTenant(tenantId),
    onPolicyChanged: () => void load(true),
  })

  const recoveryChart = new RecoveryChart(rec.canvas)
  const commChart = new CommunicationsChart(com.canvas)
  const histChart = new HistogramChart(hist.canvas)
  rec.png.addEventListener('click', () => downloadDataUrl(recoveryChart.toPng(), `${incidentId}-recovery.png`))
  com.png.addEventListener('click', () => downloadDataUrl(commChart.toPng(), `${incidentId}-communications.png`))
  hist.png.addEventListener('click', () => downloadDataUrl(histChart.toPng(), `${incidentId}-downtime.png`))

  // ---------- customers ----------
  const drill = new Drilldown()
  const openTenant = (tenantId: string) => void drill.open(incidentId, tenantId, viewParams(), ctx.tz())
  const table = new CustomersTable(incidentId, state.table, {
    view: viewParams,
    tz: ctx.tz,
    onOpen: openTenant,
    onState: (t) => {
      state.table = t
      stateToUrl(state)
      // Sorted or searched away from the worst-hit order before that list was filled: ask for it.
      if (!worstFresh && !worstLoading && !tableIsWorstOrder() && ctrl) loadWorst(ctrl.signal)
    },
    onRows: (rows) => {
      noteAttributes(rows)
      shareDialog.noteTenants(rows)
      // The default table order is the worst-hit order: its first rows are that list.
      if (tableIsWorstOrder()) renderWorst(rows.slice(0, WORST_LIMIT))
    },
  })
  const customersCard = h(
    'section',
    { class: 'card' },
    h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, 'Customers'), h('p', { class: 'small muted' }, 'Every affected customer. Sort with the column headers; Enter or a click opens a customer’s timeline.'))),
    table.el,
  )

  const errorBanner = h('div', { class: 'banner', hidden: true, role: 'alert' })
  const el = h(
    'main',
    { class: 'page incident', 'data-view': 'incident', 'data-incident': incidentId },
    header,
    errorBanner,
    hero,
    kpis,
    // The overdue list beside both timeline charts, which stay the same width (one x axis for the eye).
    h('div', { class: 'timelines' }, rec.card, com.card, overdue.el),
    h('div', { class: 'grid2' }, hist.card, worstCard),
    customersCard,
    drill.dialog,
    shareDialog.dialog,
  )

  // ---------- interactions ----------
  const windowMs = () => {
    const start = Date.parse(meta?.first_event_at ?? '')
    const last = Date.parse(meta?.last_event_at ?? '')
    const end = meta?.status === 'resolved' && Number.isFinite(last) ? last : Date.now()
    return { start: Number.isFinite(start) ? start : end - DAY_MS, end: Math.max(end, Number.isFinite(start) ? start + 60_000 : end) }
  }
  const sliderToMs = (v: number) => {
    const w = windowMs()
    return Math.round(w.start + ((w.end - w.start) * v) / SLIDER_STEPS)
  }
  const syncSlider = () => {
    const w = windowMs()
    if (!state.asOf) slider.value = String(SLIDER_STEPS)
    else slider.value = String(Math.round(((Date.parse(state.asOf) - w.start) / (w.end - w.start)) * SLIDER_STEPS))
    sliderValue.textContent = formatTime(state.asOf ? Date.parse(state.asOf) : w.end, ctx.tz())
    slider.setAttribute('aria-valuetext', state.asOf ? sliderValue.textContent : `now (${sliderValue.textContent})`)
    liveButton.textContent = meta?.status === 'resolved' ? 'Latest' : '● Live'
    liveButton.disabled = !state.asOf
  }
  slider.addEventListener('input', () => {
    sliderValue.textContent = formatTime(sliderToMs(Number(slider.value)), ctx.tz())
    slider.setAttribute('aria-valuetext', sliderValue.textContent)
  })
  slider.addEventListener('change', () => {
    const v = Number(slider.value)
    // Whole seconds: as_of is shown to the second and a shared link stays short.
    state.asOf = v >= SLIDER_STEPS ? null : toIso(Math.floor(sliderToMs(v) / 1000) * 1000)
    changed()
  })
  liveButton.addEventListener('click', () => {
    state.asOf = null
    changed()
  })
  filterForm.addEventListener('submit', (e) => {
    e.preventDefault()
    const name = attrName.value.trim()
    const value = attrValue.value.trim()
    if (!name || !value) {
      ;(name ? attrValue : attrName).focus()
      return
    }
    if (!state.attrs.some(([n, v]) => n === name && v === value)) state.attrs.push([name, value])
    attrName.value = ''
    attrValue.value = ''
    changed()
  })
  attrName.addEventListener('input', () => fillValues())
  broadcastBox.addEventListener('change', () => {
    state.includeBroadcast = broadcastBox.checked
    changed()
  })
  staleSelect.addEventListener('change', () => {
    state.staleAfter = staleSelect.value
    changed()
  })
  const setUnit = (u: State['unit']) => {
    state.unit = u
    unitCustomers.setAttribute('aria-pressed', String(u === 'customers'))
    unitUsers.setAttribute('aria-pressed', String(u === 'users'))
    changed(false)
  }
  unitCustomers.addEventListener('click', () => setUnit('customers'))
  unitUsers.addEventListener('click', () => setUnit('users'))
  groupSelect.addEventListener('change', () => {
    state.groupBy = groupSelect.value
    changed(false)
  })
  const exportClick = async (button: HTMLButtonElement, kind: 'tenants.csv' | 'report.md') => {
    const label = button.textContent
    button.disabled = true
    button.textContent = 'Preparing…'
    try {
      const blob = await downloadExport(incidentId, kind, viewParams())
      downloadBlob(blob, `${incidentId}-${kind === 'tenants.csv' ? 'customers.csv' : 'report.md'}`)
    } catch (err) {
      showBanner(`Export failed: ${err instanceof Error ? err.message : String(err)}. Try again.`)
    } finally {
      button.disabled = false
      button.textContent = label
    }
  }
  csvButton.addEventListener('click', () => void exportClick(csvButton, 'tenants.csv'))
  reportButton.addEventListener('click', () => void exportClick(reportButton, 'report.md'))

  function changed(resetTable = true) {
    if (resetTable) state.table = { ...state.table, offset: 0 }
    stateToUrl(state)
    void load(false)
  }

  function showBanner(text: string | null) {
    errorBanner.hidden = !text
    errorBanner.textContent = text ?? ''
  }

  function renderChips() {
    filterChips.replaceChildren(
      ...(state.attrs.length === 0
        ? [h('span', { class: 'small muted' }, 'all customers')]
        : state.attrs.map(([n, v], i) =>
            h(
              'span',
              { class: 'chip' },
              `${n} = ${v}`,
              h(
                'button',
                {
                  type: 'button',
                  'aria-label': `Remove filter ${n} = ${v}`,
                  onclick: () => {
                    state.attrs.splice(i, 1)
                    changed()
                  },
                },
                '✕',
              ),
            ),
          )),
    )
  }

  function noteAttributes(rows: TenantRow[]) {
    let grew = false
    for (const r of rows)
      for (const [k, v] of Object.entries(r.attributes ?? {})) {
        let set = attrsSeen.get(k)
        if (!set) attrsSeen.set(k, (set = new Set()))
        if (!set.has(v)) {
          set.add(v)
          grew = true
        }
      }
    if (!grew) return
    const names = [...attrsSeen.keys()].sort()
    attrNames.replaceChildren(...names.map((n) => h('option', { value: n })))
    const current = groupSelect.value || state.groupBy
    const segments = names.filter((n) => isSegmentAttribute(attrsSeen.get(n)!))
    groupSelect.replaceChildren(h('option', { value: '' }, 'No segment lines'), ...segments.map((n) => h('option', { value: n }, `Lines per ${n}`)))
    if (current && !segments.includes(current)) groupSelect.append(h('option', { value: current }, `Lines per ${current}`))
    groupSelect.value = current
    fillValues()
  }

  /**
   * Lines per segment make sense for a few named segments (tier, region), not for a number such
   * as seats (thousands of values: the API keeps only the 50 largest groups, a useless chart).
   */
  function isSegmentAttribute(values: Set<string>): boolean {
    if (values.size > MAX_SEGMENT_LINES) return false
    for (const v of values) if (NUMERIC.test(v)) return false
    return true
  }

  function fillValues() {
    const values = [...(attrsSeen.get(attrName.value.trim()) ?? [])].sort()
    attrValues.replaceChildren(...values.map((v) => h('option', { value: v })))
  }

  // ---------- live ----------
  function setLive() {
    const live = meta?.status !== 'resolved' && !state.asOf
    const key = JSON.stringify([state.attrs, state.includeBroadcast, state.staleAfter])
    if (unsubscribe && key !== streamKey) {
      unsubscribe()
      unsubscribe = null
      streamConnected = false
    }
    if (live && !unsubscribe) {
      streamKey = key
      unsubscribe = subscribeStream(incidentId, viewParams(), { weight: WEIGHT, staleAfter: state.staleAfter || undefined }, {
        // The update carries the summary for this view's filters: show it at once, then
        // refresh the charts and tables behind it.
        onUpdate: (s) => {
          if (state.asOf) return
          renderSummary(s)
          // The first update after connecting repeats what a fresh load already shows; after a
          // reconnect it may not, so the rest of the view catches up then.
          const fresh = firstUpdate && Date.now() - lastLoadAt < LIVE_MIN_INTERVAL_MS
          firstUpdate = false
          if (!fresh) scheduleLiveRefresh()
        },
        onStatus: (connected) => {
          streamConnected = connected
          if (connected) firstUpdate = true
          renderLive()
        },
      })
    } else if (!live && unsubscribe) {
      unsubscribe()
      unsubscribe = null
      streamConnected = false
    }
    renderLive()
  }

  function renderLive() {
    liveIndicator.className = 'live'
    if (meta?.status === 'resolved') {
      liveIndicator.textContent = state.asOf ? '↺ Viewing the past' : ''
      liveIndicator.classList.add(state.asOf ? 'live-past' : 'live-off')
    } else if (state.asOf) {
      liveIndicator.textContent = '↺ Viewing the past — press Live to follow the incident'
      liveIndicator.classList.add('live-past')
    } else if (streamConnected) {
      liveIndicator.textContent = '● Live — updates as events arrive'
      liveIndicator.classList.add('live-on')
    } else {
      liveIndicator.textContent = '○ Connecting to live updates…'
      liveIndicator.classList.add('live-wait')
    }
    el.dataset.live = String(streamConnected && !state.asOf)
  }

  function scheduleLiveRefresh() {
    if (liveTimer !== undefined || destroyed) return
    const wait = Math.max(0, lastLoadAt + LIVE_MIN_INTERVAL_MS - Date.now())
    liveTimer = setTimeout(() => {
      liveTimer = undefined
      if (loading) {
        scheduleLiveRefresh()
        return
      }
      void load(true)
      // An open customer timeline follows the incident too.
      void drill.refresh(viewParams(), ctx.tz())
    }, wait)
  }

  // ---------- loading ----------
  async function load(soft: boolean) {
    ctrl?.abort()
    const c = (ctrl = new AbortController())
    const signal = c.signal
    loading = true
    lastLoadAt = Date.now()
    renderChips()
    if (!soft) {
      el.classList.add('busy')
      for (const card of [rec, com, hist]) card.setOverlay('loading', 'Loading…')
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
      // event … as_of), so they need nothing from the incident list. Title, status and window
      // are fetched on the first load and on live refreshes (time travel and filters keep them).
      const view = viewParams()
      const tz = ctx.tz()
      const summaryP = getSummary(incidentId, view, { weight: WEIGHT, staleAfter: state.staleAfter || undefined }, signal)
      const metaP: Promise<Incident | null> = shared
        ? meta
          ? Promise.resolve(meta)
          : summaryP.then((s) => sharedMeta(shared, s))
        : !meta || (soft && !state.asOf)
          ? listIncidents(signal).then((list) => list.find((i) => i.incident_id === incidentId) ?? null)
          : Promise.resolve(meta)
      const histP = getHistogram(incidentId, view, HIST_BINS, signal)
      // A resolved incident's timeline ends at its last event, not at now (which may be years on).
      const seriesTo = (m: Incident | null) => (m?.status === 'resolved' && !state.asOf && m.last_event_at ? { to: m.last_event_at } : {})
      const rangeP = meta || state.asOf ? Promise.resolve(seriesTo(meta)) : metaP.then(seriesTo)
      // The weighted series only when the chart shows users: it costs the server a join.
      const weight = state.unit === 'users' ? WEIGHT : undefined
      const recoveryP = rangeP.then((r) => getRecovery(incidentId, view, { weight, ...r }, signal))
      const segmentsP = state.groupBy ? rangeP.then((r) => getRecovery(incidentId, view, { weight, groupBy: state.groupBy, ...r }, signal)) : Promise.resolve(null)
      const commP = rangeP.then((r) => getCommunications(incidentId, view, { ...r, staleAfter: state.staleAfter || undefined }, signal))
      const tableP = table.load(soft)
      worstFresh = false
      worstLoading = false
      const worstP = tableIsWorstOrder() ? null : loadWorst(signal)
      const overdueP = overdue.load(signal)
      // Rejections are handled by their sections; these keep an early failure from being "unhandled".
      for (const p of [summaryP, recoveryP, segmentsP, commP, histP]) p?.catch(() => {})

      meta = await metaP
      if (signal.aborted) return
      if (!meta) {
        el.replaceChildren(
          header,
          shared
            ? stateMessage('empty', 'This incident has no events yet. Reload the page later.')
            : stateMessage('empty', `No incident “${incidentId}” has any events yet. Check the id, or go back to the incident list.`, { label: 'All incidents', onClick: () => ctx.navigate('/') }),
        )
        return
      }
      title.textContent = meta.title || meta.incident_id
      document.title = `${meta.title || meta.incident_id} · Aftermath`
      statusSlot.replaceChildren(statusBadge(meta.status))
      syncSlider()
      setLive()
      const startMs = windowMs().start
      const dayAgoMs = (state.asOf ? Date.parse(state.asOf) : Date.now()) - DAY_MS
      /** x range of the timeline charts: the incident's first event to the series' last point (as_of). */
      const xRange = (lastT: string | undefined) => {
        const maxMs = lastT ? Date.parse(lastT) : state.asOf ? Date.parse(state.asOf) : Date.now()
        return { minMs: Math.min(startMs, maxMs - 60_000), maxMs }
      }

      let summary: Summary | null = null
      await Promise.all([
        section(
          summaryP,
          (s) => {
            summary = s
            renderSummary(s)
            // Milestones arrive with the summary; the charts may already be drawn without them.
            if (recoveryData) recoveryChart.update((recoveryData = { ...recoveryData, milestones: s.milestones }))
            if (commData) commChart.update((commData = { ...commData, milestones: s.milestones }))
          },
          (m) => showBanner(`Could not load the key figures: ${m}. They will retry on the next update; or reload the page.`),
        ),
        section(
          Promise.all([recoveryP, segmentsP]),
          ([r, g]) => {
            const overall = r.series.find((x) => x.group === null) ?? r.series[0]
            const points = overall?.points ?? []
            dayAgoPoint = dayAgoMs >= startMs ? (points.filter((p) => Date.parse(p.t) <= dayAgoMs).at(-1) ?? null) : null
            renderChange()
            recoveryData = {
              overall: points,
              segments: g?.series.filter((x) => x.group !== null) ?? [],
              groupBy: state.groupBy || null,
              unit: state.unit,
              milestones: summary?.milestones ?? null,
              ...xRange(points.at(-1)?.t),
              tz,
            }
            recoveryChart.update(recoveryData)
            rec.setOverlay(points.length ? null : 'empty', 'No customer had lost access at this moment. Move the time slider later, or clear the segment filter.')
          },
          (m) => rec.setOverlay('error', `Could not load recovery: ${m}`),
        ),
        section(
          commP,
          (cm) => {
            commData = { points: cm.points, bucketS: cm.bucket_s, milestones: summary?.milestones ?? null, ...xRange(cm.points.at(-1)?.t), tz }
            commChart.update(commData)
            com.setOverlay(cm.points.length ? null : 'empty', 'No communications data at this moment.')
          },
          (m) => com.setOverlay('error', `Could not load communications: ${m}`),
        ),
        section(
          histP,
          (hs) => {
            histData = hs
            histChart.update(hs)
            hist.setOverlay(hs.bins.some((b) => b.tenants > 0) ? null : 'empty', 'No downtime yet: no customer has lost access at this moment.')
          },
          (m) => hist.setOverlay('error', `Could not load the downtime distribution: ${m}`),
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
        loading = false
        el.classList.remove('busy')
      }
    }
  }

  /** The worst-hit list on its own request (when the table is not in that order). */
  async function loadWorst(signal: AbortSignal): Promise<void> {
    worstLoading = true
    try {
      const page = await getTenants(incidentId, viewParams(), { sort: 'downtime_s', order: 'desc', limit: WORST_LIMIT }, signal)
      if (signal.aborted) return
      renderWorst(page.rows)
      noteAttributes(page.rows)
    } catch (err) {
      if (!signal.aborted) worstList.replaceChildren(h('li', {}, stateMessage('error', `Could not load the worst-hit customers: ${err instanceof Error ? err.message : String(err)}`)))
    } finally {
      if (!signal.aborted) worstLoading = false
    }
  }

  function tableIsWorstOrder() {
    const t = state.table
    return t.sort === 'downtime_s' && t.order === 'desc' && !t.q && !t.state && t.offset === 0
  }

  /** Change of recovery % against the series point 24 h before: two API figures, each at its own moment. */
  function renderChange() {
    const s = lastSummary
    heroChange.className = 'hero-change'
    if (!s) return
    if (meta?.status === 'resolved' && !state.asOf) {
      setText(heroChange, `✓ Resolved — final figures. Last event ${formatTime(meta.last_event_at, ctx.tz())}.`)
      return
    }
    const was = dayAgoPoint?.recovery_pct ?? null
    if (dayAgoPoint && was !== null && s.recovery_pct !== null) {
      const change = s.recovery_pct - was
      heroChange.classList.add(change > 0 ? 'up' : 'flat')
      setText(heroChange, `${change > 0 ? '▲' : change < 0 ? '▼' : '■'} ${formatPctChange(change)} in the last 24 h (${formatPct(was)} at ${formatTime(dayAgoPoint.t, ctx.tz())})`)
    } else setText(heroChange, 'Less than 24 h of incident so far: no daily change yet.')
  }

  function renderSummary(s: Summary) {
    lastSummary = s
    const tz = ctx.tz()
    asOfText.textContent = formatTime(s.as_of, tz)
    asOfText.dataset.asOf = s.as_of
    setText(heroPct, formatPct(s.recovery_pct))
    setText(heroRestored, `${formatCount(s.restored)} of ${formatCount(s.affected)} affected customers have access again`)
    setText(heroUsers, s.weighted && s.weighted.affected > 0 ? `${formatPct(s.weighted.recovery_pct)} of users (${formatCount(s.weighted.restored)} of ${formatCount(s.weighted.affected)} seats)` : '')
    renderChange()

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

    setText(kDown.value, formatCount(s.down))
    setText(kDown.context, `of ${formatCount(s.affected)} affected · ${formatCount(s.stages.not_started)} not started, ${formatCount(s.stages.in_progress)} in progress, ${formatCount(s.stages.completed)} awaiting access`)
    setText(kMedian.value, formatDuration(s.downtime_s.median))
    setText(kMedian.context, 'half of affected customers were down longer')
    setText(kP90.value, formatDuration(s.downtime_s.p90))
    setText(kP90.context, '1 in 10 customers were down longer')
    setText(kMax.value, formatDuration(s.downtime_s.max))
    setText(kMax.context, `total across customers ${formatDuration(s.downtime_s.total)}`)
    setText(kContact.value, formatDuration(s.first_contact_latency_s.median))
    setText(kContact.context, `from losing access to the first update · p90 ${formatDuration(s.first_contact_latency_s.p90)}`)
    setText(kWaiting.value, formatCount(s.waiting_first_contact))
    setText(kWaiting.context, 'affected customers with no update yet')
    setText(kStale.value, formatCount(s.stale))
    setText(kStale.context, `down with no update in ${formatDuration(s.stale_after_s)}`)
    kWaiting.card.classList.toggle('alert', s.waiting_first_contact > 0)
    kStale.card.classList.toggle('alert', s.stale > 0)
    setText(kOverdue.value, formatCount(s.overdue))
    setText(kOverdue.context, `past the policy (first contact ${s.comm_policy.first_contact_within}, update ${s.comm_policy.update_every}) · first contact on time ${formatPct(s.first_contact_on_time_pct)}`)
    // Amber when anyone is overdue; red when more than a quarter of the customers still down are.
    kOverdue.card.classList.toggle('alert', s.overdue > 0 && s.overdue * 4 <= s.down)
    kOverdue.card.classList.toggle('critical', s.overdue > 0 && s.overdue * 4 > s.down)
    kOverdue.card.dataset.level = s.overdue === 0 ? 'ok' : s.overdue * 4 > s.down ? 'critical' : 'alert'
    overdue.setPolicy(s.comm_policy)
  }

  function renderWorst(rows: TenantRow[]) {
    worstFresh = true
    if (rows.length === 0) {
      worstList.replaceChildren(h('li', {}, stateMessage('empty', 'No customer has lost access at this moment.')))
      return
    }
    const max = Math.max(...rows.map((r) => r.downtime_s), 1)
    worstList.replaceChildren(
      ...rows.map((r) => {
        const bar = h('span', { class: 'bar' })
        bar.style.width = `${Math.max(1, (r.downtime_s / max) * 100)}%`
        const btn = h(
          'button',
          { type: 'button', class: 'worst-row', 'data-tenant': r.tenant_id, onclick: () => openTenant(r.tenant_id) },
          h('span', { class: 'worst-name' }, r.name || r.tenant_id),
          h('span', { class: 'worst-value' }, formatDuration(r.downtime_s)),
          stateBadge(r.state),
          h('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar),
        )
        return h('li', {}, btn)
      }),
    )
  }

  void load(false)

  return {
    el,
    // Theme or time zone changed: redraw from the figures already fetched, at once.
    refresh() {
      if (lastSummary) renderSummary(lastSummary)
      const tz = ctx.tz()
      if (recoveryData) recoveryChart.update((recoveryData = { ...recoveryData, tz }))
      if (commData) commChart.update((commData = { ...commData, tz }))
      if (histData) histChart.update(histData)
      syncSlider()
      table.rerender()
      if (sharedNote && shared) setText(sharedNote, `Shared view · expires ${formatTime(shared.expiresAt, ctx.tz())}`)
    },
    destroy() {
      destroyed = true
      ctrl?.abort()
      unsubscribe?.()
      clearTimeout(liveTimer)
      recoveryChart.destroy()
      commChart.destroy()
      histChart.destroy()
      table.destroy()
      drill.destroy()
      shareDialog.destroy()
    },
  }
}

/**
 * An incident link cannot read the incident list, which holds the title, status and first
 * event: the title and status come from /whoami when the server sends them, the start of the
 * time slider from the summary's first impact.
 */
function sharedMeta(shared: SharedView, s: Summary): Incident {
  return {
    incident_id: shared.incidentId,
    title: shared.title || shared.incidentId,
    status: shared.status || 'ongoing',
    first_event_at: s.milestones.first_impact_at,
    last_event_at: null,
    affected: s.affected,
    restored: s.restored,
    recovery_pct: s.recovery_pct,
  }
}
