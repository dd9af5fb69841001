import type { ChartDataset } from 'chart.js'
import type { EtaHistory } from '../api.js'
import { formatDuration, formatTick, formatTime, type TimeZoneMode } from '../format.js'
import { backgroundPlugin, Chart, chartTheme, FAST, fixedWidth, scaleRangesPlugin, timeAxis, withAlpha } from './setup.js'

export interface EtaHistoryChartData {
  history: EtaHistory
  minMs: number
  maxMs: number
  tz: TimeZoneMode
}

type XY = { x: number; y: number | null }

/**
 * The forecast of full recovery as it was shown at each moment (SPEC §7 eta-history): the ETA
 * (line) and its 90 % range (band) against the time it was shown, on the incident's timeline, with
 * the moment recovery actually reached 100 % as a level line. A line falling onto the level line
 * is a forecast that came true; points where no forecast was shown are gaps.
 */
export class EtaHistoryChart {
  private chart: Chart<'line', XY[]>

  constructor(readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart<'line', XY[]>(canvas, { type: 'line', data: { datasets: [] }, plugins: [backgroundPlugin, scaleRangesPlugin], options: { ...FAST } })
  }

  update(d: EtaHistoryChartData) {
    const theme = chartTheme()
    const pts = d.history.points
    const ms = (v: string | null) => (v === null ? null : Date.parse(v))
    const xy = (f: (p: EtaHistory['points'][number]) => string | null): XY[] => pts.map((p) => ({ x: Date.parse(p.t), y: ms(f(p)) }))
    const actual = ms(d.history.actual_full_recovery_at)
    // The axis follows the forecasts and the actual end; a range far wider (few restores give wide
    // ones) is cut at its edge rather than squashing the line.
    const ys = [...pts.map((p) => ms(p.eta_at)), actual].filter((v): v is number => v !== null)
    const lo = Math.min(...ys, d.minMs)
    const hi = Math.max(...ys, d.maxMs)
    const yMin = lo
    const yMax = hi + 0.15 * Math.max(1, hi - lo)
    const datasets: ChartDataset<'line', XY[]>[] = [
      { label: 'earliest in range', data: xy((p) => p.low), borderWidth: 0, pointRadius: 0, spanGaps: false, order: 2 },
      {
        label: 'latest in range',
        data: xy((p) => p.high),
        borderWidth: 0,
        pointRadius: 0,
        backgroundColor: withAlpha(theme.recovery, 0.15),
        fill: '-1',
        spanGaps: false,
        order: 2,
      },
      { label: 'forecast full recovery', data: xy((p) => p.eta_at), borderColor: theme.recovery, backgroundColor: theme.recovery, borderWidth: 2, pointRadius: 1.5, spanGaps: false, order: 1 },
    ]
    if (actual !== null) {
      datasets.push({
        label: 'actual full recovery',
        data: [
          { x: d.minMs, y: actual },
          { x: d.maxMs, y: actual },
        ],
        borderColor: theme.completed,
        borderDash: [6, 4],
        borderWidth: 1.5,
        pointRadius: 0,
        order: 0,
      })
    }
    this.chart.data.datasets = datasets
    this.canvas.dataset.series = datasets.map((s) => s.label).join('|')
    const span = Math.max(1, yMax - yMin)
    this.chart.options = {
      ...FAST,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: timeAxis(d.tz, d.minMs, d.maxMs, theme),
        y: {
          type: 'linear',
          min: yMin,
          max: yMax,
          afterFit: fixedWidth,
          title: { display: true, text: 'forecast shown', color: theme.muted },
          ticks: { color: theme.muted, maxTicksLimit: 6, callback: (v) => formatTick(Number(v), d.tz, span) },
          grid: { color: theme.grid },
          border: { color: theme.grid },
        },
      },
      plugins: {
        legend: { position: 'bottom', labels: { color: theme.text, boxWidth: 14, filter: (item) => !item.text.endsWith('in range') } },
        tooltip: {
          callbacks: {
            title: (items) => (items[0] ? `Shown ${formatTime(items[0].parsed.x ?? 0, d.tz)}` : ''),
            label: (item) => {
              const p = pts[item.dataIndex]
              if (item.dataset.label === 'actual full recovery') return `Actual full recovery: ${formatTime(actual, d.tz)}`
              if (item.dataset.label !== 'forecast full recovery' || !p?.eta_at) return ''
              const off = p.error_s === null ? '' : ` (${formatDuration(Math.abs(p.error_s))} too ${p.error_s >= 0 ? 'late' : 'early'})`
              return `Forecast: ${formatTime(p.eta_at, d.tz)}${off}`
            },
          },
        },
      },
    }
    this.chart.update('none')
  }

  toPng(): string {
    return this.canvas.toDataURL('image/png')
  }

  destroy() {
    this.chart.destroy()
  }
}
