import { HttpError } from '../errors.js'
import type { Store } from '../storage/client.js'
import { etaHistory, type EtaHistory } from './eta-history.js'
import { reportingLag, type ReportingLag } from './reporting-lag.js'
import type { QueryScope } from './filters.js'
import type { StateSync } from './state-sync.js'
import { DEFAULT_STALE_AFTER_MS } from './tenant-state.js'
import { summary, type Summary } from './summary.js'
import { overdueTenants, type OverdueRow } from './overdue.js'
import { tenantPage, type TenantRow } from './tenants.js'

/**
 * A duration in the Markdown report: its two largest units, rounded to the second ("3 d 4 h",
 * "5 h 12 min", "7 min 3 s", "12 s"); an em dash for null. (The dashboard's client/format.ts
 * rounds differently, for charts and tables.)
 */
export function formatReportDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—'
  const s = Math.round(seconds)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`
  if (m > 0) return sec > 0 ? `${m} min ${sec} s` : `${m} min`
  return `${sec} s`
}

/** Text from tenants (names, ids, labels) cannot inject Markdown structure, links or HTML. */
export function mdText(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').replace(/([\\`*_{}[\]()<>#|!~])/g, '\\$1')
}

const pct = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)} %`)
const when = (iso: string | null) => (iso === null ? '—' : iso.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC'))
/** A tenant id as a code span inside a table cell: backticks and line breaks cannot end it, `|` cannot split the cell (GFM). */
const idSpan = (id: string) => `\`${id.replace(/[`\r\n]/g, ' ').replace(/\|/g, '\\|')}\``
const who = (r: TenantRow) => (r.name ? `${mdText(r.name)} (${idSpan(r.tenant_id)})` : idSpan(r.tenant_id))

export interface ReportInput {
  title: string
  summary: Summary
  worstDowntime: TenantRow[]
  worstGaps: TenantRow[]
  /** Overdue at T under the policy (SPEC §6): the most overdue first, and how many in all. */
  overdue: { total: number; rows: OverdueRow[] }
  /** SPEC §7: how late events arrived, and the ETA as it was shown over time (null: too costly to compute here). */
  knew?: { lag: ReportingLag; etaHistory: EtaHistory | null }
}

/** An outage reported later than this after it began is listed as reported late. */
export const LATE_REPORT_S = 3600
/** ETA history lines in the report (spread evenly over the points that had an ETA). */
const ETA_LINES = 8

/** A postmortem-ready Markdown summary at T. */
export async function incidentReport(store: Store, state: StateSync, scope: QueryScope, title: string): Promise<string> {
  const [s, worstDowntime, worstGaps, overdue, lag, etaHist] = await Promise.all([
    summary(store, state, scope, { staleAfterMs: DEFAULT_STALE_AFTER_MS }),
    tenantPage(store, state, scope, { sort: 'downtime_s', order: 'desc', limit: 10, offset: 0 }),
    tenantPage(store, state, scope, { sort: 'max_comm_gap_s', order: 'desc', limit: 10, offset: 0 }),
    overdueTenants(store, state, scope, { limit: 10, offset: 0 }),
    reportingLag(store, scope),
    // The history's default window and bucket; left out (not failed) when too many points need computing afresh.
    etaHistory(store, state, scope, {}).catch((err: unknown) => {
      if (err instanceof HttpError && err.status === 400) return null
      throw err
    }),
  ])
  return renderReport({ title, summary: s, worstDowntime: worstDowntime.rows, worstGaps: worstGaps.rows, overdue, knew: { lag, etaHistory: etaHist } })
}

export function renderReport({ title, summary: s, worstDowntime, worstGaps, overdue, knew }: ReportInput): string {
  const out: string[] = []
  out.push(`# ${mdText(title)} — impact report`, '')
  out.push(`Incident \`${s.incident_id}\`, figures as of ${when(s.as_of)}.`, '')
  out.push('## Key figures', '')
  out.push('| | |', '|---|---|')
  out.push(`| Affected tenants | ${s.affected} |`)
  out.push(`| Restored | ${s.restored} (${pct(s.recovery_pct)}) |`)
  out.push(`| Still down | ${s.down} |`)
  if (s.weighted) out.push(`| Restored, weighted by ${mdText(s.weighted.weight)} | ${pct(s.weighted.recovery_pct)} |`)
  out.push(`| Downtime, median / p90 / max | ${formatReportDuration(s.downtime_s.median)} / ${formatReportDuration(s.downtime_s.p90)} / ${formatReportDuration(s.downtime_s.max)} |`)
  out.push(`| Downtime, total over all tenants | ${formatReportDuration(s.downtime_s.total)} |`)
  out.push(
    `| First contact latency, median / p90 / max | ${formatReportDuration(s.first_contact_latency_s.median)} / ${formatReportDuration(s.first_contact_latency_s.p90)} / ${formatReportDuration(s.first_contact_latency_s.max)} |`,
  )
  out.push(`| Waiting for first contact | ${s.waiting_first_contact} |`)
  out.push(`| Stale (down, no update for more than ${formatReportDuration(s.stale_after_s)}) | ${s.stale} |`)
  if (s.down > 0) out.push(`| Restore stage of those down | ${s.stages.not_started} not started, ${s.stages.in_progress} in progress, ${s.stages.completed} completed |`)
  if (s.eta) out.push(`| Forecast full recovery | ${when(s.eta.at)} (range ${when(s.eta.low)} – ${when(s.eta.high)}) |`)
  out.push('')
  if (s.eta) out.push(`Forecast method: ${s.eta.method}`, '')

  out.push('## Milestones', '')
  const m = s.milestones
  const lines: [string, string][] = [
    [m.first_impact_at ?? '', 'First impact'],
    [m.first_contact_at ?? '', 'First communication'],
    [m.pct50_at ?? '', '50 % of affected tenants restored'],
    [m.pct90_at ?? '', '90 % of affected tenants restored'],
    [m.pct100_at ?? '', 'All affected tenants restored'],
    ...m.events.map((e): [string, string] => [e.at, mdText(e.label)]),
  ]
  const reached = lines.filter(([at]) => at !== '').sort((a, b) => a[0].localeCompare(b[0]))
  if (reached.length === 0) out.push('No milestones yet.')
  for (const [at, label] of reached) out.push(`- **${when(at)}** — ${label}`)
  out.push('')

  out.push('## Worst-hit customers', '')
  if (worstDowntime.length === 0) out.push('No affected tenants.')
  else {
    out.push('| Customer | Downtime | Outages | State | First contact after |', '|---|---|---|---|---|')
    for (const r of worstDowntime)
      out.push(`| ${who(r)} | ${formatReportDuration(r.downtime_s)} | ${r.outages} | ${r.state === 'down' ? 'still down' : 'restored'} | ${formatReportDuration(r.first_contact_latency_s)} |`)
  }
  out.push('')

  out.push('## Communication gaps', '')
  out.push('Longest stretch each customer went without an update while down.', '')
  if (worstGaps.length === 0) out.push('No affected tenants.')
  else {
    out.push('| Customer | Longest gap | Updates | First contact after |', '|---|---|---|---|')
    for (const r of worstGaps) out.push(`| ${who(r)} | ${formatReportDuration(r.max_comm_gap_s)} | ${r.communications} | ${formatReportDuration(r.first_contact_latency_s)} |`)
  }
  out.push('')
  if (s.waiting_first_contact > 0) {
    out.push(`${s.waiting_first_contact} affected tenant${s.waiting_first_contact === 1 ? ' has' : 's have'} had no update at all.`, '')
  }

  const p = s.comm_policy
  out.push('## Communications against the policy', '')
  out.push(`Policy: a first contact within ${p.first_contact_within} of losing access, then an update at least every ${p.update_every} while down.`, '')
  out.push('| | |', '|---|---|')
  out.push(`| First contacts within the policy | ${pct(s.first_contact_on_time_pct)} |`)
  out.push(`| Overdue for a contact now | ${s.overdue} |`)
  out.push('')
  if (overdue.rows.length > 0) {
    out.push('| Customer | What is due | Overdue for | Last contact |', '|---|---|---|---|')
    for (const r of overdue.rows)
      out.push(`| ${r.name ? `${mdText(r.name)} (${idSpan(r.tenant_id)})` : idSpan(r.tenant_id)} | ${r.kind === 'first_contact' ? 'first contact' : 'update'} | ${formatReportDuration(r.overdue_s)} | ${r.last_contact_at ? when(r.last_contact_at) : 'never'} |`)
    if (overdue.total > overdue.rows.length) out.push('', `… and ${overdue.total - overdue.rows.length} more (overdue.csv has every one).`)
    out.push('')
  }
  if (knew) out.push(...whatWeKnew(knew.lag, knew.etaHistory))
  return out.join('\n')
}

/** "What we knew, when" (SPEC §7): outages reported late, the reporting lag per event type, the ETA's accuracy over time. */
function whatWeKnew(lag: ReportingLag, history: EtaHistory | null): string[] {
  const out: string[] = ['## What we knew, when', '']
  const late = lag.most_delayed.filter((e) => e.type === 'access_lost' && e.lag_s > LATE_REPORT_S)
  if (late.length === 0) out.push(`No outage among the most delayed events was reported more than ${formatReportDuration(LATE_REPORT_S)} after it began.`, '')
  else {
    out.push('Outages reported late: the figures showed them only from the time they arrived.', '')
    out.push('| Customer | Began | Reported | Late by |', '|---|---|---|---|')
    for (const e of late) out.push(`| ${idSpan(e.tenant_id)} | ${when(e.occurred_at)} | ${when(e.received_at)} | ${formatReportDuration(e.lag_s)} |`)
    out.push('')
  }
  out.push('Reporting lag (from when an event occurred to when Aftermath received it):', '')
  if (lag.types.length === 0) out.push('No events.', '')
  else {
    out.push('| Event type | Events | Median | p90 | Max |', '|---|---|---|---|---|')
    for (const t of lag.types) out.push(`| ${t.type} | ${t.events} | ${formatReportDuration(t.median_s)} | ${formatReportDuration(t.p90_s)} | ${formatReportDuration(t.max_s)} |`)
    out.push('')
  }
  const withEta = (history?.points ?? []).filter((p) => p.eta_at !== null)
  out.push('The forecast of full recovery as it was shown at the time:', '')
  if (history === null) out.push('Not computed here: too many moments had late arrivals (GET …/eta-history with a wider bucket gives it).', '')
  else if (withEta.length === 0) out.push('No forecast was shown.', '')
  else {
    const step = Math.max(1, Math.ceil(withEta.length / ETA_LINES))
    const picked = withEta.filter((_, i) => i % step === 0 || i === withEta.length - 1)
    out.push('| At | Forecast then | Off by |', '|---|---|---|')
    for (const p of picked) {
      const off = p.error_s === null ? 'not recovered yet' : `${formatReportDuration(Math.abs(p.error_s))} ${p.error_s >= 0 ? 'too late' : 'too early'}`
      out.push(`| ${when(p.t)} | ${when(p.eta_at)} | ${off} |`)
    }
    out.push('')
    if (history.actual_full_recovery_at) out.push(`Recovery actually reached 100 % at ${when(history.actual_full_recovery_at)}.`, '')
  }
  return out
}
