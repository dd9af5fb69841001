import type { ChartDataset } from 'chart.js'
import type { AnnotationOptions } from 'chartjs-plugin-annotation'
import type { TimelineEvent } from '../api.js'
import { formatTime, type TimeZoneMode } from '../format.js'
import { backgroundPlugin, Chart, chartTheme, FAST, scaleRangesPlugin, timeAxis, withAlpha } from './setup.js'

type XY = { x: number; y: number | null }

/**
 * One customer's timeline: shaded boxes while it was without access (between its
 * access_lost and access_restored events, as listed), its restore progress, and marks for
 * updates sent to it.
 */
export class TenantTimelineChart {
  private chart: Chart<'line' | 'scatter', XY[]>
  private events: TimelineEvent[][] = []

  constructor(readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart<'line' | 'scatter', XY[]>(canvas, { type: 'line', data: { datasets: [] }, plugins: [backgroundPlugin, scaleRangesPlugin], options: { ...FAST } })
  }

  /** x spans the events and endMs (epoch ms, the end of the customer's window), with a little margin. */
  update(events: TimelineEvent[], endMs: number, tz: TimeZoneMode) {
    const theme = chartTheme()
    const times = events.map((e) => Date.parse(e.occurred_at))
    const minMs = Math.min(...times, endMs)
    const maxMs = Math.max(endMs, ...times)
    const pad = Math.max(60_000, (maxMs - minMs) * 0.03)

    const boxes: Record<string, AnnotationOptions> = {}
    let openAt: number | null = null
    let n = 0
    const progress: XY[] = []
    const progressEvents: TimelineEvent[] = []
    const comms: TimelineEvent[] = []
    for (const e of events) {
      const t = Date.parse(e.occurred_at)
      if (e.type === 'access_lost' && openAt === null) openAt = t
      else if (e.type === 'access_restored' && openAt !== null) {
        boxes[`d${n++}`] = downBox(openAt, t, theme.down)
        openAt = null
      } else if (e.type === 'restore_started' || e.type === 'restore_progress' || e.type === 'restore_completed') {
        const pct = e.type === 'restore_started' ? 0 : e.type === 'restore_completed' ? 100 : Math.round((e.progress ?? 0) * 1000) / 10
        progress.push({ x: t, y: pct })
        progressEvents.push(e)
      } else if (e.type === 'communication') comms.push(e)
    }
    if (openAt !== null) boxes[`d${n++}`] = downBox(openAt, maxMs, theme.down)
    this.events = [progressEvents, comms]

    const datasets: ChartDataset<'line' | 'scatter', XY[]>[] = [
      {
        type: 'line',
        label: 'Restore progress',
        data: progress,
        borderColor: theme.inProgress,
        backgroundColor: theme.inProgress,
        stepped: 'after',
        borderWidth: 2,
        pointRadius: 3,
      },
      {
        type: 'scatter',
        label: 'Update sent (dark: direct, light: broadcast)',
        data: comms.map((e) => ({ x: Date.parse(e.occurred_at), y: 100 })),
        borderColor: comms.map((e) => (e.direct === false ? theme.broadcast : theme.direct)),
        backgroundColor: comms.map((e) => (e.direct === false ? theme.broadcast : theme.direct)),
        pointStyle: 'triangle',
        pointRadius: 6,
      },
    ]
    this.chart.data.datasets = datasets
    this.chart.options = {
      ...FAST,
      interaction: { mode: 'nearest', intersect: true },
      scales: {
        x: timeAxis(tz, minMs - pad, maxMs + pad, theme),
        y: {
          min: 0,
          max: 108,
          ticks: { color: theme.muted, stepSize: 25, callback: (v) => (Number(v) <= 100 ? `${v} %` : '') },
          title: { display: true, text: 'restore progress', color: theme.muted },
          grid: { color: theme.grid },
        },
      },
      plugins: {
        legend: { position: 'bottom', labels: { color: theme.text, boxWidth: 14 } },
        tooltip: {
          callbacks: {
            title: (items) => (items[0] ? formatTime(items[0].parsed.x ?? 0, tz, { seconds: true }) : ''),
            label: (item) => {
              const e = this.events[item.datasetIndex]?.[item.dataIndex]
              if (!e) return ''
              if (e.type === 'communication') return `${e.direct === false ? 'Broadcast' : 'Update sent'}${e.channel ? ` (${e.channel})` : ''}${e.message ? `: ${e.message.slice(0, 80)}` : ''}`
              return `${e.type.replace('_', ' ')}${e.type === 'restore_progress' ? ` ${item.parsed.y} %` : ''}`
            },
          },
        },
        annotation: { annotations: boxes },
      },
    }
    this.chart.update('none')
  }

  destroy() {
    this.chart.destroy()
  }
}

function downBox(fromMs: number, toMs: number, color: string): AnnotationOptions {
  return {
    type: 'box',
    xMin: fromMs,
    xMax: toMs,
    backgroundColor: withAlpha(color, 0.12),
    borderColor: withAlpha(color, 0.5),
    borderWidth: 1,
    label: { display: true, content: 'without access', position: { x: 'start', y: 'end' }, color, font: { size: 11 } },
  }
}
