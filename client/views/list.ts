import { ApiError, getRecovery, listIncidents, type Incident } from '../api.js'
import type { Chart } from '../charts/setup.js'
import { drawSparkline } from '../charts/sparkline.js'
import { h } from '../dom.js'
import { formatCount, formatPct, formatTime } from '../format.js'
import { statusBadge, stateMessage } from './parts.js'
import type { AppContext, View } from './view.js'

const SPARK_POINTS = 48
const SPARK_CONCURRENCY = 4

/** Every incident, ongoing first, with its recovery so far and a sparkline. */
export function listView(ctx: AppContext): View {
  const body = h('div', { class: 'list-body' }, stateMessage('loading', 'Loading incidents…'))
  const counts = h('p', { class: 'muted' }, '')
  const el = h('main', { class: 'page', 'data-view': 'list' }, h('div', { class: 'page-head' }, h('h1', {}, 'Incidents'), counts), body)
  const ctrl = new AbortController()
  let sparks: Chart<'line', { x: number; y: number | null }[]>[] = []

  const load = async () => {
    try {
      const incidents = await listIncidents(ctrl.signal)
      render(incidents)
    } catch (err) {
      if (ctrl.signal.aborted) return
      body.replaceChildren(
        stateMessage('error', `Could not load incidents: ${err instanceof Error ? err.message : String(err)}`, { label: 'Retry', onClick: () => void load() }),
      )
      if (err instanceof ApiError && err.status === 401) return
    }
  }

  const render = (incidents: Incident[]) => {
    sparks.forEach((c) => c.destroy())
    sparks = []
    if (incidents.length === 0) {
      body.replaceChildren(
        stateMessage(
          'empty',
          'No incidents yet. Send events to POST /api/v1/events (see the README), or start the server with AFTERMATH_DEMO=1 for the demo incident.',
        ),
      )
      return
    }
    // Ongoing first, then the most recent activity first.
    const sorted = [...incidents].sort(
      (a, b) => Number(b.status === 'ongoing') - Number(a.status === 'ongoing') || Date.parse(b.last_event_at ?? '') - Date.parse(a.last_event_at ?? ''),
    )
    const ongoing = incidents.filter((i) => i.status !== 'resolved').length
    counts.textContent = `${formatCount(incidents.length)} incidents · ${formatCount(ongoing)} ongoing. Open one for its recovery, communications and customers.`
    const tz = ctx.tz()
    const jobs: (() => Promise<void>)[] = []
    const rows = sorted.map((inc) => {
      const canvas = h('canvas', { 'aria-label': `recovery over time for ${inc.title ?? inc.incident_id}`, role: 'img' })
      const sparkCell = h('td', { class: 'spark' }, h('div', { class: 'spark-box' }, canvas))
      jobs.push(async () => {
        const first = Date.parse(inc.first_event_at ?? '')
        const last = inc.status === 'ongoing' ? Date.now() : Date.parse(inc.last_event_at ?? '')
        const spanS = Number.isFinite(first) && Number.isFinite(last) ? Math.max(60, (last - first) / 1000) : 86_400
        // A coarse bucket: about SPARK_POINTS points, in whole minutes.
        const bucket = `${Math.max(1, Math.ceil(spanS / SPARK_POINTS / 60))}m`
        try {
          const range = Number.isFinite(first) && Number.isFinite(last) ? { from: new Date(first).toISOString(), to: new Date(Math.max(last, first + 60_000)).toISOString() } : {}
          const r = await getRecovery(inc.incident_id, {}, { bucket, ...range }, ctrl.signal)
          const pts = r.series.find((s) => s.group === null)?.points ?? r.series[0]?.points ?? []
          if (!ctrl.signal.aborted) sparks.push(drawSparkline(canvas, pts, range.from ? { minMs: first, maxMs: Math.max(last, first + 60_000) } : {}))
        } catch {
          if (!ctrl.signal.aborted) sparkCell.replaceChildren(h('span', { class: 'muted small' }, 'no chart'))
        }
      })
      const href = `/incidents/${encodeURIComponent(inc.incident_id)}`
      const link = h('a', { href, 'data-nav': true, class: 'incident-link' }, inc.title || inc.incident_id)
      return h(
        'tr',
        { 'data-incident': inc.incident_id },
        h('td', {}, statusBadge(inc.status)),
        h('td', {}, link, h('div', { class: 'muted small mono' }, inc.incident_id)),
        h('td', { class: 'num', 'data-field': 'affected' }, formatCount(inc.affected)),
        h('td', { class: 'num', 'data-field': 'restored' }, formatCount(inc.restored)),
        h('td', { class: 'num strong', 'data-field': 'recovery_pct' }, formatPct(inc.recovery_pct)),
        sparkCell,
        h('td', { class: 'small' }, formatTime(inc.first_event_at, tz)),
        h('td', { class: 'small' }, formatTime(inc.last_event_at, tz)),
      )
    })
    const table = h(
      'table',
      { class: 'data incidents' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Incident'),
          h('th', { scope: 'col', class: 'num' }, 'Affected'),
          h('th', { scope: 'col', class: 'num' }, 'Restored'),
          h('th', { scope: 'col', class: 'num' }, 'Recovery'),
          h('th', { scope: 'col' }, 'Recovery over time'),
          h('th', { scope: 'col' }, 'First event'),
          h('th', { scope: 'col' }, 'Last event'),
        ),
      ),
      h('tbody', {}, ...rows),
    )
    body.replaceChildren(h('div', { class: 'card table-wrap' }, table))
    void runLimited(jobs, SPARK_CONCURRENCY)
  }

  void load()
  return {
    el,
    refresh: () => void load(),
    destroy() {
      ctrl.abort()
      sparks.forEach((c) => c.destroy())
    },
  }
}

async function runLimited(jobs: (() => Promise<void>)[], limit: number) {
  let next = 0
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]!()
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker))
}
