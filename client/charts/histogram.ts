import type { Histogram } from '../api.js'
import { formatCount, formatDurationShort } from '../format.js'
import { backgroundPlugin, Chart, chartTheme, countAxis, scaleRangesPlugin, withAlpha } from './setup.js'

// Plain numbers on a category axis: Chart.js parses them (a few dozen bins, so parsing costs nothing).
const HIST_OPTIONS = { animation: false as const, responsive: true, maintainAspectRatio: false }

/** Downtime distribution: one bar per histogram bin from the API (a few dozen bars at most). */
export class HistogramChart {
  private chart: Chart<'bar', number[], string>
  private bins: Histogram['bins'] = []

  constructor(readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart<'bar', number[], string>(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      plugins: [backgroundPlugin, scaleRangesPlugin],
      options: HIST_OPTIONS,
    })
  }

  update(h: Histogram) {
    const theme = chartTheme()
    this.bins = h.bins
    this.chart.data.labels = h.bins.map((b) => `${formatDurationShort(b.from_s)}–${formatDurationShort(b.to_s)}`)
    this.chart.data.datasets = [
      {
        label: 'customers by total downtime',
        data: h.bins.map((b) => b.tenants),
        backgroundColor: withAlpha(theme.down, 0.75),
        borderColor: theme.down,
        borderWidth: { top: 2, left: 0, right: 0, bottom: 0 },
        barPercentage: 0.95,
        categoryPercentage: 1,
      },
    ]
    this.chart.options = {
      ...HIST_OPTIONS,
      scales: {
        x: {
          title: { display: true, text: 'total downtime', color: theme.muted },
          ticks: { color: theme.muted, maxRotation: 0, autoSkip: true, autoSkipPadding: 8 },
          grid: { display: false },
          border: { color: theme.grid },
        },
        y: countAxis(theme, 'customers'),
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => {
              const b = items[0] && this.bins[items[0].dataIndex]
              return b ? `Downtime ${formatDurationShort(b.from_s)} to ${formatDurationShort(b.to_s)}` : ''
            },
            label: (item) => `${formatCount(this.bins[item.dataIndex]?.tenants)} customers`,
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
