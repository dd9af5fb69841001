import { h } from '../../dom.js'
import { formatTime, toIso } from '../../format.js'
import { windowMs } from './meta.js'
import type { IncidentState } from './state.js'

const SLIDER_STEPS = 1000

/**
 * The moment shown ("As of …", always visible) and the time-travel slider over the incident's
 * window; Live (Latest, once resolved) returns to now. A change sets url.asOf and calls onChange.
 */
export class TimeTravel {
  readonly el: HTMLElement
  private readonly asOfText = h('strong', { 'data-testid': 'as-of' }, '…')
  private readonly slider = h('input', {
    type: 'range',
    min: 0,
    max: SLIDER_STEPS,
    step: 1,
    value: SLIDER_STEPS,
    'aria-label': 'Time travel: the moment shown',
    'data-testid': 'time-slider',
    class: 'slider',
  })
  private readonly sliderValue = h('span', { class: 'slider-value small muted', 'aria-hidden': 'true' })
  private readonly liveButton = h('button', { type: 'button', class: 'ghost', 'data-testid': 'live-button' }, 'Live')

  constructor(
    private readonly state: IncidentState,
    onChange: () => void,
  ) {
    this.el = h(
      'div',
      { class: 'inc-head-row time-row' },
      h('span', { class: 'as-of' }, 'As of ', this.asOfText),
      h('label', { class: 'slider-wrap' }, h('span', { class: 'small muted' }, 'Time travel'), this.slider, this.sliderValue),
      this.liveButton,
    )
    this.slider.addEventListener('input', () => {
      this.sliderValue.textContent = formatTime(this.sliderToMs(Number(this.slider.value)), state.app.tz())
      this.slider.setAttribute('aria-valuetext', this.sliderValue.textContent)
    })
    this.slider.addEventListener('change', () => {
      const v = Number(this.slider.value)
      // Whole seconds: as_of is shown to the second and a shared link stays short.
      state.url.asOf = v >= SLIDER_STEPS ? null : toIso(Math.floor(this.sliderToMs(v) / 1000) * 1000)
      onChange()
    })
    this.liveButton.addEventListener('click', () => {
      state.url.asOf = null
      onChange()
    })
  }

  /** The moment the figures shown are for (the summary's as_of). */
  showAsOf(asOf: string) {
    this.asOfText.textContent = formatTime(asOf, this.state.app.tz())
    this.asOfText.dataset.asOf = asOf
  }

  /** Slider position, its label and the Live button, from url.asOf and the incident's window. */
  sync() {
    const { url, meta } = this.state
    const w = windowMs(meta)
    if (!url.asOf) this.slider.value = String(SLIDER_STEPS)
    else this.slider.value = String(Math.round(((Date.parse(url.asOf) - w.start) / (w.end - w.start)) * SLIDER_STEPS))
    this.sliderValue.textContent = formatTime(url.asOf ? Date.parse(url.asOf) : w.end, this.state.app.tz())
    this.slider.setAttribute('aria-valuetext', url.asOf ? this.sliderValue.textContent : `now (${this.sliderValue.textContent})`)
    this.liveButton.textContent = meta?.status === 'resolved' ? 'Latest' : '● Live'
    this.liveButton.disabled = !url.asOf
  }

  private sliderToMs(v: number) {
    const w = windowMs(this.state.meta)
    return Math.round(w.start + ((w.end - w.start) * v) / SLIDER_STEPS)
  }
}
