import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Decimation,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type Plugin,
  type Scale,
} from 'chart.js'
import annotationPlugin from 'chartjs-plugin-annotation'
import { formatCount, formatTick, type TimeZoneMode } from '../format.js'
import { currentTheme } from '../prefs.js'

// Only the parts the dashboard uses (no chart.js/auto). Time axes are linear scales over epoch
// milliseconds with our own tick labels, which keeps UTC/local in one formatter and needs no
// date adapter.
Chart.register(
  LineController,
  BarController,
  ScatterController,
  LineElement,
  BarElement,
  PointElement,
  LinearScale,
  CategoryScale,
  Filler,
  Tooltip,
  Legend,
  Decimation,
  annotationPlugin,
)

/** Okabe–Ito, the colour-blind-safe palette; roles follow UX.md (recovery green, down red-orange, waiting amber). */
export const OKABE_ITO = {
  orange: '#E69F00',
  skyBlue: '#56B4E9',
  bluishGreen: '#009E73',
  yellow: '#F0E442',
  blue: '#0072B2',
  vermillion: '#D55E00',
  reddishPurple: '#CC79A7',
  black: '#000000',
}

export interface ChartTheme {
  text: string
  muted: string
  grid: string
  background: string
  recovery: string
  down: string
  waiting: string
  stale: string
  direct: string
  broadcast: string
  latency: string
  inProgress: string
  completed: string
  milestone: string
  segments: string[]
}

export function chartTheme(): ChartTheme {
  const dark = currentTheme() === 'dark'
  return {
    text: dark ? '#e6edf3' : '#1f2328',
    muted: dark ? '#9aa4af' : '#59636e',
    grid: dark ? 'rgba(255,255,255,0.08)' : 'rgba(0,0,0,0.07)',
    background: dark ? '#161b22' : '#ffffff',
    recovery: OKABE_ITO.bluishGreen,
    down: OKABE_ITO.vermillion,
    waiting: OKABE_ITO.orange,
    stale: dark ? '#F5C04A' : '#B07800',
    direct: OKABE_ITO.blue === '#0072B2' && dark ? '#3D9BE0' : OKABE_ITO.blue,
    broadcast: OKABE_ITO.skyBlue,
    latency: OKABE_ITO.reddishPurple,
    inProgress: OKABE_ITO.orange,
    completed: OKABE_ITO.skyBlue,
    milestone: dark ? '#c9d1d9' : '#444c56',
    segments: [OKABE_ITO.blue, OKABE_ITO.orange, OKABE_ITO.reddishPurple, OKABE_ITO.skyBlue, OKABE_ITO.vermillion, dark ? '#e6edf3' : '#000000', OKABE_ITO.yellow],
  }
}

/** Dash patterns so segment lines differ by more than colour. */
export const DASHES: number[][] = [[], [6, 3], [2, 3], [10, 3, 2, 3], [4, 4], [1, 2], [8, 2]]

export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16)
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`
}

/**
 * Paints the card colour under the chart so PNG exports are not transparent.
 */
export const backgroundPlugin: Plugin = {
  id: 'aftermathBackground',
  beforeDraw(chart) {
    const { ctx, width, height } = chart
    ctx.save()
    ctx.globalCompositeOperation = 'destination-over'
    ctx.fillStyle = chartTheme().background
    ctx.fillRect(0, 0, width, height)
    ctx.restore()
  },
}

/**
 * Writes each scale's range as drawn to the canvas (data-scales, JSON: {"x":{"min":…,"max":…},…})
 * after every update and resize: what the axes show, for tests and tools reading the page.
 */
export const scaleRangesPlugin: Plugin = {
  id: 'aftermathScaleRanges',
  afterUpdate(chart) {
    const ranges: Record<string, { min: number; max: number }> = {}
    for (const [id, scale] of Object.entries(chart.scales)) ranges[id] = { min: scale.min, max: scale.max }
    chart.canvas.dataset.scales = JSON.stringify(ranges)
  },
}

/** Left and right axis widths (px) shared by the stacked timeline charts, so their x-axes line up. */
export const AXIS_WIDTH_PX = 64

export function fixedWidth(scale: Scale) {
  scale.width = AXIS_WIDTH_PX
}

/**
 * A count axis (customers, updates): whole numbers from zero, formatted counts. On the right it
 * draws no grid lines (the left axis does); `fixed` gives it the shared width of the stacked
 * timeline charts.
 */
export function countAxis(theme: ChartTheme, title: string, opts: { position?: 'left' | 'right'; stacked?: boolean; max?: number; fixed?: boolean } = {}) {
  const right = opts.position === 'right'
  return {
    position: opts.position ?? ('left' as const),
    beginAtZero: true,
    ...(opts.stacked ? { stacked: true } : {}),
    ...(opts.max === undefined ? {} : { max: opts.max }),
    ...(opts.fixed ? { afterFit: fixedWidth } : {}),
    title: { display: true, text: title, color: theme.muted },
    ticks: { color: theme.muted, precision: 0, callback: (v: string | number) => formatCount(Number(v)) },
    grid: right ? { display: false } : { color: theme.grid },
    border: { color: theme.grid },
  }
}

export function timeAxis(tz: TimeZoneMode, minMs: number, maxMs: number, theme: ChartTheme) {
  const span = Math.max(1, maxMs - minMs)
  const step = niceTimeStep(span)
  return {
    // Ticks on whole steps in the shown zone (local midnight when local), not at the window's edges.
    afterBuildTicks: (scale: Scale) => {
      const offsetMs = tz === 'local' && step >= 3_600_000 ? -new Date(minMs).getTimezoneOffset() * 60_000 : 0
      const ticks: { value: number }[] = []
      for (let v = Math.ceil((minMs + offsetMs) / step) * step - offsetMs; v <= maxMs; v += step) ticks.push({ value: v })
      scale.ticks = ticks
    },
    type: 'linear' as const,
    min: minMs,
    max: maxMs,
    // Bar charts pad the x-axis by default; the stacked timeline charts must share one exact range.
    offset: false,
    grid: { color: theme.grid },
    border: { color: theme.grid },
    ticks: {
      color: theme.muted,
      maxRotation: 0,
      autoSkip: true,
      autoSkipPadding: 16,
      callback: (v: string | number) => formatTick(Number(v), tz, span),
    },
  }
}

/** A tick step in ms that lands on whole hours/days for the span. */
function niceTimeStep(spanMs: number): number {
  const H = 3_600_000
  const steps = [60_000, 5 * 60_000, 15 * 60_000, 30 * 60_000, H, 2 * H, 3 * H, 6 * H, 12 * H, 24 * H, 2 * 24 * H, 7 * 24 * H, 14 * 24 * H, 30 * 24 * H]
  for (const s of steps) if (spanMs / s <= 10) return s
  return 30 * 24 * H
}

/** Chart.js performance practice (STYLE.md §8): pre-parsed, sorted data and no animation. */
export const FAST = {
  parsing: false as const,
  normalized: true as const,
  animation: false as const,
  responsive: true,
  maintainAspectRatio: false,
}

export { Chart }
