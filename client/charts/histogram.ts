import type { Histogram } from '../api.js'
import { formatCount, formatDurationShort } from '../format.js'
import { backgroundPlugin, Chart, chartTheme, FAST, withAlpha } from './setup.js'

/** Downtime distribution: one bar per histogram bin from the API (a few dozen bars at most). */
export class HistogramChart {
  private chart: Chart<'bar', number[], string>
  private bins: Histogram['bins'] = []

  constructor(readonly canvas: HTMLCanvasElement) {
    this.chart = new Chart<'bar', number[], string>(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      plugins: [backgroundPlugin],
      options: { ...FAST, parsing: undefined, normalized: undefined },
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
      ...FAST,
      scales: {
        x: {
          title: { display: true, text: 'total downtime', color: theme.muted },
          ticks: { color: theme.muted, maxRotation: 0, autoSkip: true, autoSkipPadding: 8 },
          grid: { display: false },
          border: { color: theme.grid },
        },
        y: {
          beginAtZero: true,
          title: { display: true, text: 'customers', color: theme.muted },
          ticks: { color: theme.muted, precision: 0, callback: (v) => formatCount(Number(v)) },
          grid: { color: theme.grid },
          border: { color: theme.grid },
        },
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
