import { subscribeStream, type Summary } from '../../api.js'
import { h } from '../../dom.js'
import { staleAfter, viewParams, WEIGHT, type IncidentState } from './state.js'

/** Live chart/table refreshes at most this often; the key figures follow every stream update. */
const LIVE_MIN_INTERVAL_MS = 3000

/**
 * Live updates: while the incident is ongoing and the view is at now, the stream's summary is
 * shown at once (onSummary) and the rest of the view refreshes behind it (onRefresh), at most
 * every LIVE_MIN_INTERVAL_MS. The indicator says whether the view follows the incident.
 */
export class LiveUpdates {
  readonly indicator = h('span', { class: 'live', 'data-testid': 'live', role: 'status' })
  private unsubscribe: (() => void) | null = null
  /** The filters the stream was opened with: another view needs another stream. */
  private streamKey = ''
  private connected = false
  private firstUpdate = true
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly state: IncidentState,
    private readonly env: { onSummary(s: Summary): void; onRefresh(): void; onLive(live: boolean): void },
  ) {}

  /** Opens, keeps or closes the stream for the view now shown. */
  sync() {
    const { meta, url } = this.state
    const live = meta?.status !== 'resolved' && !url.asOf
    const key = JSON.stringify([url.attrs, url.includeBroadcast, url.staleAfter])
    if (this.unsubscribe && key !== this.streamKey) this.close()
    if (live && !this.unsubscribe) {
      this.streamKey = key
      this.unsubscribe = subscribeStream(this.state.incidentId, viewParams(this.state), { weight: WEIGHT, staleAfter: staleAfter(this.state) }, {
        // The update carries the summary for this view's filters: show it at once, then
        // refresh the charts and tables behind it.
        onUpdate: (s) => {
          if (this.state.url.asOf) return
          this.env.onSummary(s)
          // The first update after connecting repeats what a fresh load already shows; after a
          // reconnect it may not, so the rest of the view catches up then.
          const fresh = this.firstUpdate && Date.now() - this.state.lastLoadAt < LIVE_MIN_INTERVAL_MS
          this.firstUpdate = false
          if (!fresh) this.scheduleRefresh()
        },
        onStatus: (connected) => {
          this.connected = connected
          if (connected) this.firstUpdate = true
          this.render()
        },
      })
    } else if (!live && this.unsubscribe) this.close()
    this.render()
  }

  destroy() {
    this.unsubscribe?.()
    clearTimeout(this.timer)
  }

  private close() {
    this.unsubscribe?.()
    this.unsubscribe = null
    this.connected = false
  }

  private render() {
    const { meta, url } = this.state
    const el = this.indicator
    el.className = 'live'
    if (meta?.status === 'resolved') {
      el.textContent = url.asOf ? '↺ Viewing the past' : ''
      el.classList.add(url.asOf ? 'live-past' : 'live-off')
    } else if (url.asOf) {
      el.textContent = '↺ Viewing the past — press Live to follow the incident'
      el.classList.add('live-past')
    } else if (this.connected) {
      el.textContent = '● Live — updates as events arrive'
      el.classList.add('live-on')
    } else {
      el.textContent = '○ Connecting to live updates…'
      el.classList.add('live-wait')
    }
    this.env.onLive(this.connected && !url.asOf)
  }

  private scheduleRefresh() {
    if (this.timer !== undefined || this.state.destroyed) return
    const wait = Math.max(0, this.state.lastLoadAt + LIVE_MIN_INTERVAL_MS - Date.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.state.loading) {
        this.scheduleRefresh()
        return
      }
      this.env.onRefresh()
    }, wait)
  }
}
