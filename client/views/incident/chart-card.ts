import { h } from '../../dom.js'
import { stateMessage } from '../parts.js'

export interface ChartCard {
  card: HTMLElement
  canvas: HTMLCanvasElement
  png: HTMLButtonElement
  /** Covers the chart with a loading, empty or error state; null uncovers it. */
  setOverlay(kind: 'loading' | 'empty' | 'error' | null, text?: string): void
}

/** A chart's card: title, one line of help, tools, a PNG download, the canvas and its overlay. */
export function chartCard(chart: string, titleText: string, help: string, heightClass: string, tools: HTMLElement[] = []): ChartCard {
  const canvas = h('canvas', { role: 'img', 'aria-label': titleText })
  canvas.dataset.chart = chart
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
