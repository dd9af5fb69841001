import type { ChartDataset, TooltipItem } from 'chart.js'
import type { CommPoint, Summary } from '../api.js'
import { formatCount, formatDuration, formatDurationShort, formatTime, type TimeZoneMode } from '../format.js'
import { milestoneAnnotations } from './recovery.js'
import { backgroundPlugin, Chart, chartTheme, countAxis, FAST, scaleRangesPlugin, timeAxis, withAlpha } from './setup.js'

export interface CommunicationsChartData {
  points: CommPoint[]
  bucketS: number
  milestones: Summary['milestones'] | null
  minMs: number
  maxMs: number
  tz: TimeZoneMode
}

type XY = { x: number; y: number | null }
type Field = 'sent_direct' | 'sent_broadcast' | 'waiting_first_contact' | 'stale' | 'median_first_contact_latency_s'

/**
 * Communications on the same x range and axis widths as the recovery chart: updates sent per
 * bucket (bars, right axis), customers waiting for a first contact and stale (lines, left axis),
 * median first-contact latency (dotted, its own axis on the right edge's inside).
 */
export class CommunicationsChart {
  private chart: Chart<'bar' | 'line', XY[]>
  private fields: Field[] = []
  private points: CommPoint[] = []
  private bucketS = 0

  constructor(readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart<'bar' | 'line', XY[]>(canvas, {
      type: 'bar',
      data: { datasets: [] },
      plugins: [backgroundPlugin, scaleRangesPlugin],
      options: { ...FAST },
    })
  }

  update(d: CommunicationsChartData) {
    const theme = chartTheme()
    this.points = d.points
    this.bucketS = d.bucketS
    const xy = (f: Field): XY[] => d.points.map((p) => ({ x: Date.parse(p.t), y: p[f] }))
    // A bucket's values are its state at the bucket's end (SPEC §3); bars sit over the bucket they count.
    const bar = (f: Field): XY[] => d.points.map((p) => ({ x: Date.parse(p.t) - (d.bucketS * 1000) / 2, y: p[f] }))
    this.fields = ['waiting_first_contact', 'stale', 'sent_direct', 'sent_broadcast', 'median_first_contact_latency_s']
    const datasets: ChartDataset<'bar' | 'line', XY[]>[] = [
      {
        type: 'line',
        label: 'Waiting for first contact (customers)',
        data: xy('waiting_first_contact'),
        yAxisID: 'y',
        borderColor: theme.waiting,
        backgroundColor: withAlpha(theme.waiting, 0.15),
        fill: 'origin',
        stepped: 'after',
        borderWidth: 2.5,
        pointRadius: 0,
        order: 1,
      },
      {
        type: 'line',
        label: 'Stale: down, no update within the stale window (customers)',
        data: xy('stale'),
        yAxisID: 'y',
        borderColor: theme.stale,
        backgroundColor: theme.stale,
        borderDash: [6, 3],
        stepped: 'after',
        borderWidth: 2,
        pointRadius: 0,
        order: 1,
      },
      {
        type: 'bar',
        label: 'Updates sent · direct',
        data: bar('sent_direct'),
        yAxisID: 'y2',
        stack: 'sent',
        backgroundColor: withAlpha(theme.direct, 0.8),
        borderColor: theme.direct,
        borderWidth: 0,
        barPercentage: 1,
        categoryPercentage: 0.9,
        order: 2,
      },
      {
        type: 'bar',
        label: 'Updates sent · broadcast',
        data: bar('sent_broadcast'),
        yAxisID: 'y2',
        stack: 'sent',
        backgroundColor: withAlpha(theme.broadcast, 0.55),
        borderColor: theme.broadcast,
        borderWidth: { top: 2, left: 0, right: 0, bottom: 0 },
        barPercentage: 1,
        categoryPercentage: 0.9,
        order: 2,
      },
      {
        type: 'line',
        label: 'Median first-contact latency (hover for values)',
        data: xy('median_first_contact_latency_s'),
        yAxisID: 'y3',
        borderColor: theme.latency,
        backgroundColor: theme.latency,
        borderDash: [2, 3],
        borderWidth: 1,
        pointRadius: 1.5,
        spanGaps: false,
        order: 0,
      },
    ]
    this.chart.data.datasets = datasets
    this.chart.options = {
      ...FAST,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: timeAxis(d.tz, d.minMs, d.maxMs, theme),
        y: countAxis(theme, 'customers', { fixed: true }),
        y2: countAxis(theme, 'updates sent per bucket', { position: 'right', stacked: true, fixed: true }),
        y3: {
          display: false,
          beginAtZero: true,
          ticks: { callback: (v) => formatDurationShort(Number(v)) },
        },
      },
      plugins: {
        legend: { position: 'bottom', labels: { color: theme.text, boxWidth: 14 } },
        tooltip: {
          callbacks: {
            title: (items) => this.tooltipTitle(items, d.tz),
            label: (item) => this.tooltipLabel(item),
          },
        },
        annotation: { annotations: milestoneAnnotations(d, theme.milestone, theme.background, this.canvas.clientWidth) },
      },
    }
    this.chart.update('none')
  }

  private tooltipTitle(items: TooltipItem<'bar' | 'line'>[], tz: TimeZoneMode): string {
    const p = items[0] && this.points[items[0].dataIndex]
    if (!p) return ''
    const end = Date.parse(p.t)
    return `${formatTime(end - this.bucketS * 1000, tz)} → ${formatTime(end, tz)}`
  }

  private tooltipLabel(item: TooltipItem<'bar' | 'line'>): string {
    const f = this.fields[item.datasetIndex]
    const p = this.points[item.dataIndex]
    if (!f || !p) return ''
    const label = item.dataset.label ?? f
    if (f === 'median_first_contact_latency_s') {
      const v = p[f]
      return v === null ? 'Median first-contact latency: no customer first contacted in this bucket' : `Median first-contact latency: ${formatDuration(v)}`
    }
    return `${label}: ${formatCount(p[f])}`
  }

  toPng(): string {
    return this.canvas.toDataURL('image/png')
  }

  destroy() {
    this.chart.destroy()
  }
}
