import type { Communications, EtaHistory, Histogram, Recovery, RecoveryPoint, Summary } from '../../api.js'
import { EtaHistoryChart, type EtaHistoryChartData } from '../../charts/eta-history.js'
import { CommunicationsChart, type CommunicationsChartData } from '../../charts/communications.js'
import { HistogramChart } from '../../charts/histogram.js'
import { RecoveryChart, type RecoveryChartData } from '../../charts/recovery.js'
import { downloadDataUrl, h } from '../../dom.js'
import type { TimeZoneMode } from '../../format.js'
import { chartCard, type ChartCard } from './chart-card.js'
import type { IncidentState } from './state.js'

type Milestones = Summary['milestones'] | null
/** x range of a timeline chart (epoch ms). */
export type XRange = { minMs: number; maxMs: number }

/**
 * The three charts: recovery (with its customers/users toggle and "lines per" choice) and
 * communications over one timeline, and the downtime distribution. Each keeps the figures it
 * last drew, so a theme or time zone change redraws without fetching.
 */
export class IncidentCharts {
  readonly recovery: ChartCard
  readonly communications: ChartCard
  readonly histogram: ChartCard
  readonly etaHistory: ChartCard
  private readonly recoveryChart: RecoveryChart
  private readonly commChart: CommunicationsChart
  private readonly histChart: HistogramChart
  private readonly etaChart: EtaHistoryChart
  private etaData: EtaHistoryChartData | null = null
  private readonly groupSelect = h('select', { 'aria-label': 'Lines per segment' }, h('option', { value: '' }, 'No segment lines'))
  private recoveryData: RecoveryChartData | null = null
  private commData: CommunicationsChartData | null = null
  private histData: Histogram | null = null

  /** onChange: the unit or the segment lines changed (url written). */
  constructor(
    private readonly state: IncidentState,
    onChange: () => void,
  ) {
    const { url, incidentId } = state
    const unitCustomers = h('button', { type: 'button', class: 'seg', 'aria-pressed': String(url.unit === 'customers') }, 'Customers')
    const unitUsers = h('button', { type: 'button', class: 'seg', 'aria-pressed': String(url.unit === 'users') }, 'Users (seats)')
    this.recovery = chartCard(
      'recovery',
      'Recovery over the incident',
      'Share of affected customers with access again (line, left axis); customers still down by restore stage (shaded, right axis). Dashed lines mark milestones.',
      'h-main',
      [h('div', { class: 'segmented', role: 'group', 'aria-label': 'Count recovery by' }, unitCustomers, unitUsers), this.groupSelect],
    )
    this.communications = chartCard(
      'communications',
      'Communications over the same timeline',
      'Updates sent per interval (bars, right axis); customers still waiting for a first update and customers gone stale (lines, left axis).',
      'h-comm',
    )
    this.histogram = chartCard('histogram', 'Downtime distribution', 'Affected customers by total time without access.', 'h-side')
    this.etaHistory = chartCard(
      'eta-history',
      'The forecast as it was shown',
      'Forecast of full recovery shown at each moment, from what had arrived by then (line, with its 90 % range); dashed: when recovery actually reached 100 %.',
      'h-comm',
    )

    this.recoveryChart = new RecoveryChart(this.recovery.canvas)
    this.commChart = new CommunicationsChart(this.communications.canvas)
    this.histChart = new HistogramChart(this.histogram.canvas)
    this.etaChart = new EtaHistoryChart(this.etaHistory.canvas)
    this.etaHistory.png.addEventListener('click', () => downloadDataUrl(this.etaChart.toPng(), `${incidentId}-forecast-history.png`))
    this.recovery.png.addEventListener('click', () => downloadDataUrl(this.recoveryChart.toPng(), `${incidentId}-recovery.png`))
    this.communications.png.addEventListener('click', () => downloadDataUrl(this.commChart.toPng(), `${incidentId}-communications.png`))
    this.histogram.png.addEventListener('click', () => downloadDataUrl(this.histChart.toPng(), `${incidentId}-downtime.png`))

    const setUnit = (u: 'customers' | 'users') => {
      url.unit = u
      unitCustomers.setAttribute('aria-pressed', String(u === 'customers'))
      unitUsers.setAttribute('aria-pressed', String(u === 'users'))
      onChange()
    }
    unitCustomers.addEventListener('click', () => setUnit('customers'))
    unitUsers.addEventListener('click', () => setUnit('users'))
    this.groupSelect.addEventListener('change', () => {
      url.groupBy = this.groupSelect.value
      onChange()
    })
  }

  setLoading() {
    for (const card of [this.recovery, this.communications, this.histogram, this.etaHistory]) card.setOverlay('loading', 'Loading…')
  }

  /** Milestones arrive with the summary; the charts may already be drawn without them. */
  setMilestones(milestones: Milestones) {
    if (this.recoveryData) this.recoveryChart.update((this.recoveryData = { ...this.recoveryData, milestones }))
    if (this.commData) this.commChart.update((this.commData = { ...this.commData, milestones }))
  }

  /** Draws the recovery series (overall, and per segment when grouped); returns the overall points. */
  showRecovery(r: Recovery, segments: Recovery | null, milestones: Milestones, xRange: (lastT: string | undefined) => XRange, tz: TimeZoneMode): RecoveryPoint[] {
    const { url } = this.state
    const overall = r.series.find((x) => x.group === null) ?? r.series[0]
    const points = overall?.points ?? []
    this.recoveryData = {
      overall: points,
      segments: segments?.series.filter((x) => x.group !== null) ?? [],
      groupBy: url.groupBy || null,
      unit: url.unit,
      milestones,
      ...xRange(points.at(-1)?.t),
      tz,
    }
    this.recoveryChart.update(this.recoveryData)
    this.recovery.setOverlay(points.length ? null : 'empty', 'No customer had lost access at this moment. Move the time slider later, or clear the segment filter.')
    return points
  }

  showCommunications(cm: Communications, milestones: Milestones, xRange: (lastT: string | undefined) => XRange, tz: TimeZoneMode) {
    this.commData = { points: cm.points, bucketS: cm.bucket_s, milestones, ...xRange(cm.points.at(-1)?.t), tz }
    this.commChart.update(this.commData)
    this.communications.setOverlay(cm.points.length ? null : 'empty', 'No communications data at this moment.')
  }

  showEtaHistory(history: EtaHistory, xRange: (lastT: string | undefined) => XRange, tz: TimeZoneMode) {
    this.etaData = { history, ...xRange(history.points.at(-1)?.t), tz }
    this.etaChart.update(this.etaData)
    const shown = history.points.some((p) => p.eta_at !== null)
    this.etaHistory.setOverlay(shown ? null : 'empty', 'No forecast was shown over this window: nobody had been restored yet, or nothing had arrived by then.')
  }

  showHistogram(hs: Histogram) {
    this.histData = hs
    this.histChart.update(hs)
    this.histogram.setOverlay(hs.bins.some((b) => b.tenants > 0) ? null : 'empty', 'No downtime yet: no customer has lost access at this moment.')
  }

  /** The "lines per" choices: the attributes fit for segment lines, and the one chosen even if not. */
  setSegmentChoices(segments: string[]) {
    const select = this.groupSelect
    const current = select.value || this.state.url.groupBy
    select.replaceChildren(h('option', { value: '' }, 'No segment lines'), ...segments.map((n) => h('option', { value: n }, `Lines per ${n}`)))
    if (current && !segments.includes(current)) select.append(h('option', { value: current }, `Lines per ${current}`))
    select.value = current
  }

  /** Theme or time zone changed: redraw from the figures already fetched. */
  refresh() {
    const tz = this.state.app.tz()
    if (this.recoveryData) this.recoveryChart.update((this.recoveryData = { ...this.recoveryData, tz }))
    if (this.commData) this.commChart.update((this.commData = { ...this.commData, tz }))
    if (this.histData) this.histChart.update(this.histData)
    if (this.etaData) this.etaChart.update((this.etaData = { ...this.etaData, tz }))
  }

  destroy() {
    this.recoveryChart.destroy()
    this.commChart.destroy()
    this.histChart.destroy()
    this.etaChart.destroy()
  }
}
