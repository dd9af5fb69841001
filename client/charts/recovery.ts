import type { ChartDataset, TooltipItem } from 'chart.js'
import type { AnnotationOptions } from 'chartjs-plugin-annotation'
import type { RecoveryPoint, Summary } from '../api.js'
import { formatCount, formatPct, formatTime, type TimeZoneMode } from '../format.js'
import { AXIS_WIDTH_PX, backgroundPlugin, Chart, chartTheme, countAxis, DASHES, FAST, fixedWidth, scaleRangesPlugin, timeAxis, withAlpha } from './setup.js'

export interface RecoveryChartData {
  overall: RecoveryPoint[]
  /** Per-segment series when grouped (group value → points). */
  segments: { group: string | null; points: RecoveryPoint[] }[]
  groupBy: string | null
  /** 'customers' plots recovery_pct; 'users' plots weighted_recovery_pct (weight = seats). */
  unit: 'customers' | 'users'
  milestones: Summary['milestones'] | null
  minMs: number
  maxMs: number
  tz: TimeZoneMode
}

type Kind = 'overall' | 'segment' | 'not_started' | 'in_progress' | 'completed'
type XY = { x: number; y: number | null }

/** Recovery % over the incident timeline, segment lines, restore stages and milestone annotations. */
export class RecoveryChart {
  private chart: Chart<'line', XY[]>
  private kinds: { kind: Kind; points: RecoveryPoint[]; label: string }[] = []
  private data: RecoveryChartData | null = null

  constructor(readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart<'line', XY[]>(canvas, {
      type: 'line',
      data: { datasets: [] },
      plugins: [backgroundPlugin, scaleRangesPlugin],
      options: { ...FAST },
    })
  }

  update(d: RecoveryChartData) {
    this.data = d
    const theme = chartTheme()
    const pctOf = (p: RecoveryPoint) => (d.unit === 'users' ? (p.weighted_recovery_pct ?? null) : p.recovery_pct)
    const xy = (pts: RecoveryPoint[], f: (p: RecoveryPoint) => number | null): XY[] => pts.map((p) => ({ x: Date.parse(p.t), y: f(p) }))
    const unitLabel = d.unit === 'users' ? 'users (seats)' : 'customers'
    this.kinds = []
    const datasets: ChartDataset<'line', XY[]>[] = []

    const stage = (kind: 'not_started' | 'in_progress' | 'completed', label: string, color: string) => {
      this.kinds.push({ kind, points: d.overall, label })
      datasets.push({
        label,
        data: xy(d.overall, (p) => p[kind]),
        yAxisID: 'y2',
        stack: 'stages',
        borderColor: withAlpha(color, 0.9),
        backgroundColor: withAlpha(color, 0.16),
        borderWidth: 1,
        fill: datasets.length === 0 ? 'origin' : '-1',
        stepped: 'after',
        pointRadius: 0,
        order: 3,
      })
    }
    // Stages: tenants still down, split by restore stage, stacked on the right axis.
    stage('not_started', 'Down · restore not started', theme.down)
    stage('in_progress', 'Down · restore in progress', theme.inProgress)
    stage('completed', 'Down · restore completed, awaiting access', theme.completed)

    this.kinds.push({ kind: 'overall', points: d.overall, label: `Recovery (% of ${unitLabel})` })
    datasets.push({
      label: `Recovery (% of ${unitLabel})`,
      data: xy(d.overall, pctOf),
      yAxisID: 'y',
      borderColor: theme.recovery,
      backgroundColor: theme.recovery,
      borderWidth: 3,
      pointRadius: 0,
      pointHoverRadius: 4,
      order: 1,
    })
    d.segments.forEach((s, i) => {
      const label = `${d.groupBy ?? 'segment'} = ${s.group ?? '(none)'}`
      this.kinds.push({ kind: 'segment', points: s.points, label })
      const color = theme.segments[i % theme.segments.length]
      datasets.push({
        label,
        data: xy(s.points, pctOf),
        yAxisID: 'y',
        borderColor: color,
        backgroundColor: color,
        borderDash: DASHES[(i + 1) % DASHES.length],
        borderWidth: 1.75,
        pointRadius: 0,
        pointHoverRadius: 3,
        order: 2,
      })
    })

    this.chart.data.datasets = datasets
    // What is drawn, for tests and assistive tech: the series names.
    this.canvas.dataset.series = datasets.map((x) => x.label).join('|')
    this.chart.options = {
      ...FAST,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: timeAxis(d.tz, d.minMs, d.maxMs, theme),
        y: {
          min: 0,
          max: 100,
          position: 'left',
          afterFit: fixedWidth,
          title: { display: true, text: `recovered, % of ${unitLabel}`, color: theme.muted },
          ticks: { color: theme.muted, stepSize: 25, callback: (v) => `${v} %` },
          grid: { color: theme.grid },
          border: { color: theme.grid },
        },
        // The stages stack to the customers still down, never more than those affected: the axis
        // ends at a round number just above the affected count (not at Chart.js's padded guess).
        y2: countAxis(theme, 'customers down, by stage', {
          position: 'right',
          stacked: true,
          fixed: true,
          max: countAxisMax(Math.max(0, ...d.overall.map((p) => p.affected))),
        }),
      },
      plugins: {
        decimation: { enabled: true, algorithm: 'lttb', samples: 400 },
        legend: { position: 'bottom', labels: { color: theme.text, boxWidth: 14, usePointStyle: false } },
        tooltip: {
          callbacks: {
            title: (items) => (items[0] ? formatTime(items[0].parsed.x ?? 0, d.tz) : ''),
            label: (item) => this.tooltipLabel(item),
          },
        },
        annotation: { annotations: milestoneAnnotations(d, theme.milestone, theme.background, this.canvas.clientWidth) },
      },
    }
    this.chart.update('none')
  }

  private tooltipLabel(item: TooltipItem<'line'>): string {
    const k = this.kinds[item.datasetIndex]
    const p = k?.points[item.dataIndex]
    if (!k || !p) return ''
    if (k.kind === 'overall' || k.kind === 'segment') {
      const pct = this.data?.unit === 'users' ? (p.weighted_recovery_pct ?? null) : p.recovery_pct
      return `${k.label}: ${formatPct(pct)} (${formatCount(p.restored)} of ${formatCount(p.affected)} customers restored)`
    }
    return `${k.label}: ${formatCount(p[k.kind])}`
  }

  toPng(): string {
    return this.canvas.toDataURL('image/png')
  }

  destroy() {
    this.chart.destroy()
  }
}

/**
 * The end of an axis of counts up to n: the first multiple of a round step (1, 2, 2.5 or 5 × 10^k,
 * an integer, at least a tenth of n) at or above n. It ends at most 20 % above n (775 → 800).
 */
function countAxisMax(n: number): number {
  const tenth = Math.max(1, n / 10)
  const pow = 10 ** Math.floor(Math.log10(tenth))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((x) => x >= tenth && Number.isInteger(x)) ?? 10 * pow
  return Math.max(step, Math.ceil(n / step) * step)
}

/**
 * Vertical lines for milestones. Labels go on the lowest row where they do not overlap a
 * neighbour, estimated from the plot width (px) and the label length.
 */
export function milestoneAnnotations(
  d: { milestones: Summary['milestones'] | null; minMs: number; maxMs: number },
  color: string,
  background: string,
  canvasWidthPx: number,
): Record<string, AnnotationOptions> {
  const m = d.milestones
  if (!m) return {}
  const marks: { at: string | null; label: string }[] = [
    { at: m.first_impact_at, label: 'First impact' },
    { at: m.first_contact_at, label: 'First contact' },
    { at: m.pct50_at, label: '50 % back' },
    { at: m.pct90_at, label: '90 % back' },
    { at: m.pct100_at, label: '100 % back' },
    ...m.events.map((e) => ({ at: e.at, label: e.label.length > 28 ? e.label.slice(0, 27) + '…' : e.label })),
  ]
  const out: Record<string, AnnotationOptions> = {}
  const shown = marks
    .filter((x): x is { at: string; label: string } => !!x.at)
    .map((x) => ({ ms: Date.parse(x.at), label: x.label }))
    .filter((x) => x.ms >= d.minMs && x.ms <= d.maxMs)
    .sort((a, b) => a.ms - b.ms)
  const plotPx = Math.max(200, canvasWidthPx - 2 * AXIS_WIDTH_PX)
  const rowEnds: number[] = []
  const ROWS = 5
  shown.forEach((x, i) => {
    // Labels are centred on their line but kept inside the plot, as the plugin draws them.
    const widthPx = x.label.length * 6.2 + 10
    const centre = ((x.ms - d.minMs) / Math.max(1, d.maxMs - d.minMs)) * plotPx
    const left = Math.min(Math.max(0, centre - widthPx / 2), Math.max(0, plotPx - widthPx))
    let row = rowEnds.findIndex((end) => end + 4 < left)
    if (row < 0) row = rowEnds.length < ROWS ? rowEnds.length : rowEnds.indexOf(Math.min(...rowEnds))
    rowEnds[row] = left + widthPx
    out[`m${i}`] = {
      type: 'line',
      scaleID: 'x',
      value: x.ms,
      borderColor: withAlphaAny(color, 0.55),
      borderWidth: 1,
      borderDash: [4, 3],
      label: {
        display: true,
        content: x.label,
        position: 'start',
        yAdjust: 2 + row * 19,
        backgroundColor: withAlphaAny(background, 0.9),
        color,
        font: { size: 11, weight: 'normal' },
        padding: { x: 4, y: 2 },
        borderRadius: 3,
      },
    }
  })
  return out
}

function withAlphaAny(c: string, a: number): string {
  return c.startsWith('#') && c.length === 7 ? withAlpha(c, a) : c
}
