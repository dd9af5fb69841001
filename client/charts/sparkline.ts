import type { RecoveryPoint } from '../api.js'
import { Chart, chartTheme, FAST, withAlpha } from './setup.js'

/** A tiny recovery % line for the incident list: no axes, no tooltip, drawn once. */
export function drawSparkline(canvas: HTMLCanvasElement, points: RecoveryPoint[], range: { minMs?: number; maxMs?: number } = {}): Chart<'line', { x: number; y: number | null }[]> {
  const theme = chartTheme()
  return new Chart<'line', { x: number; y: number | null }[]>(canvas, {
    type: 'line',
    data: {
      datasets: [
        {
          data: points.map((p) => ({ x: Date.parse(p.t), y: p.recovery_pct })),
          borderColor: theme.recovery,
          backgroundColor: withAlpha(theme.recovery, 0.15),
          fill: 'origin',
          borderWidth: 1.5,
          pointRadius: 0,
        },
      ],
    },
    options: {
      ...FAST,
      events: [],
      layout: { padding: 2 },
      scales: { x: { type: 'linear', display: false, min: range.minMs, max: range.maxMs }, y: { display: false, min: 0, max: 100 } },
      plugins: { legend: { display: false }, tooltip: { enabled: false } },
    },
  })
}
