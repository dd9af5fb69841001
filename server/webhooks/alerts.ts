import type { Logger } from 'pino'
import { formatDurationText } from '../domain/time.js'
import { listIncidents } from '../metrics/incidents.js'
import { overdueTenants, type OverdueRow } from '../metrics/overdue.js'
import { incidentPolicy } from '../metrics/policy.js'
import type { StateSync } from '../metrics/state-sync.js'
import { summary } from '../metrics/summary.js'
import { tenantStateSql } from '../metrics/tenant-state.js'
import type { Store } from '../storage/client.js'
import { withLane } from '../storage/lanes.js'
import type { Deliverer } from './deliver.js'
import { deliveryId, type Delivery, type DeliveryType, type Webhook, type WebhookStore } from './store.js'

/** A tenant.overdue delivery lists at most this many tenants (SPEC §6); more go in further deliveries. */
export const MAX_TENANTS_PER_DELIVERY = 1000
/** Overdue tenants looked at per incident and evaluation (the most overdue first). */
const MAX_OVERDUE_PER_EVALUATION = 10_000

export interface AlertDeps {
  store: Store
  state: StateSync
  hooks: WebhookStore
  deliverer: Deliverer
  log: Logger
  now(): Date
  /** Whether this server evaluates (the holder of the shared-work lease, SPEC §9); default always. */
  leader?: () => boolean
}

/** Something to report once to each webhook that wants it: its key (what makes it the same report) and its data. */
interface Report {
  key: string
  data: unknown
  text: string
}

/**
 * Evaluates the alerts of SPEC §6 against the present, for every ongoing incident that a
 * webhook listens to, and writes a delivery to the outbox for what is new to each webhook:
 *   tenant.overdue            tenants that became overdue, each once per overdue episode (its
 *                             due time), at most 1,000 per delivery
 *   incident.recovery_stalled tenants down and none restored for the policy's stall_after, once
 *                             per stall (its last restore, or first impact)
 *   incident.milestone        recovery reached 50/90/100 %, or a milestone event, once each
 */
export async function evaluateAlerts(deps: AlertDeps): Promise<{ incidents: number; deliveries: number; ms: number }> {
  const started = performance.now()
  const hooks = await deps.hooks.list()
  if (hooks.length === 0) return { incidents: 0, deliveries: 0, ms: 0 }
  const nowMs = deps.now().getTime()
  await deps.state.fresh()
  const ongoing = (await listIncidents(deps.store, nowMs)).filter((i) => i.status === 'ongoing' && i.affected > 0)
  let deliveries = 0
  let incidents = 0
  for (const incident of ongoing) {
    const listening = hooks.filter((h) => h.incident_id === '' || h.incident_id === incident.incident_id)
    if (listening.length === 0) continue
    incidents++
    const scope = { incidentId: incident.incident_id, asOfMs: nowMs, filters: [], includeBroadcast: false }
    const wants = (e: DeliveryType) => listening.filter((h) => h.events.includes(e as never))
    const out: Delivery[] = []
    if (wants('tenant.overdue').length) {
      const overdue = await overdueList(deps, scope)
      out.push(...(await newReports(deps, wants('tenant.overdue'), 'tenant.overdue', incident.incident_id, overdue.map(overdueReport), MAX_TENANTS_PER_DELIVERY)))
    }
    if (wants('incident.milestone').length || wants('incident.recovery_stalled').length) {
      const s = await summary(deps.store, deps.state, scope, { staleAfterMs: 86_400_000 })
      const milestones: Report[] = []
      for (const [key, pct] of [['pct50', 50], ['pct90', 90], ['pct100', 100]] as const) {
        const at = s.milestones[`${key}_at`]
        if (at) milestones.push({ key, data: { milestone: `recovery_${pct}`, at, recovery_pct: s.recovery_pct }, text: `Recovery reached ${pct} % at ${at}` })
      }
      for (const m of s.milestones.events) milestones.push({ key: `event:${m.at}:${m.label}`, data: { milestone: 'event', at: m.at, label: m.label }, text: `Milestone: ${m.label} (${m.at})` })
      out.push(...(await newReports(deps, wants('incident.milestone'), 'incident.milestone', incident.incident_id, milestones, 1)))
      const policy = await incidentPolicy(deps.store, deps.state, incident.incident_id)
      if (s.down > 0 && s.milestones.first_impact_at) {
        const lastRestoreMs = await lastRestore(deps.store, scope)
        const sinceMs = lastRestoreMs ?? Date.parse(s.milestones.first_impact_at)
        if (nowMs - sinceMs > policy.stallAfterMs) {
          const since = new Date(sinceMs).toISOString()
          const report: Report = {
            key: `stall:${sinceMs}`,
            data: { down: s.down, affected: s.affected, recovery_pct: s.recovery_pct, last_restore_at: lastRestoreMs === null ? null : since, stall_after: formatDurationText(policy.stallAfterMs) },
            text: `Recovery stalled: ${s.down} of ${s.affected} tenants down and none restored since ${since}`,
          }
          out.push(...(await newReports(deps, wants('incident.recovery_stalled'), 'incident.recovery_stalled', incident.incident_id, [report], 1)))
        }
      }
    }
    await deps.hooks.putDeliveries(out)
    deliveries += out.length
  }
  if (deliveries > 0) deps.deliverer.wake()
  return { incidents, deliveries, ms: performance.now() - started }
}

/** Every overdue tenant at the moment, most overdue first, up to MAX_OVERDUE_PER_EVALUATION. */
async function overdueList(deps: AlertDeps, scope: Parameters<typeof overdueTenants>[2]): Promise<OverdueRow[]> {
  const rows: OverdueRow[] = []
  for (let offset = 0; offset < MAX_OVERDUE_PER_EVALUATION; offset += 1000) {
    const page = await overdueTenants(deps.store, deps.state, scope, { limit: 1000, offset })
    rows.push(...page.rows)
    if (rows.length >= page.total) break
  }
  return rows
}

const overdueReport = (r: OverdueRow): Report => ({
  // One overdue episode: the tenant and when its contact was due.
  key: `${r.tenant_id}\u0000${r.due_at}`,
  data: r,
  text: `${r.name || r.tenant_id}: ${r.kind === 'first_contact' ? 'no first contact' : 'no update'} for ${Math.round(r.overdue_s / 60)} min past due`,
})

/** The latest restore (an outage's end) at or before T, of any tenant; null when none yet. */
async function lastRestore(store: Store, scope: Parameters<typeof overdueTenants>[2]): Promise<number | null> {
  const core = tenantStateSql(store, scope, { columns: ['closes_at'] })
  const [row] = await store.rows<{ ms: number }>(`SELECT max(arrayMax(arrayPushFront(closes_at, 0))) AS ms FROM (${core.sql})`, core.params)
  const v = Number(row?.ms ?? 0)
  return v > 0 ? v : null
}

/** The deliveries that report to each webhook what it has not been told yet, `perDelivery` reports each. */
async function newReports(deps: AlertDeps, hooks: Webhook[], type: DeliveryType, incidentId: string, reports: Report[], perDelivery: number): Promise<Delivery[]> {
  const out: Delivery[] = []
  for (const hook of hooks) {
    const told = await deps.hooks.reported(hook.id, type, incidentId, reports.map((r) => r.key))
    const fresh = reports.filter((r) => !told.has(r.key))
    for (let i = 0; i < fresh.length; i += perDelivery) out.push(makeDelivery(hook, type, incidentId, fresh.slice(i, i + perDelivery)))
  }
  return out
}

/** A delivery of `reports` to `hook`, created now (wall clock), its body in the hook's format (SPEC §6). */
export function makeDelivery(hook: Webhook, type: DeliveryType, incidentId: string, reports: Report[], nowMs = Date.now()): Delivery {
  const keys = reports.map((r) => r.key)
  const id = deliveryId(hook.id, type, incidentId, keys)
  const createdAt = new Date(nowMs).toISOString()
  const data = type === 'tenant.overdue' ? { tenants: reports.map((r) => r.data) } : (reports[0]?.data ?? {})
  const body =
    hook.format === 'slack'
      ? JSON.stringify({ text: `[Aftermath] ${incidentId}: ${type}\n${reports.map((r) => `• ${r.text}`).join('\n')}` })
      : JSON.stringify({ id, type, incident_id: incidentId, created_at: createdAt, data })
  return {
    webhook_id: hook.id,
    id,
    type,
    incident_id: incidentId,
    keys,
    body,
    created_at: createdAt,
    status: 'pending',
    attempts: 0,
    next_attempt_at: createdAt,
    last_attempt_at: null,
    last_status: 0,
    last_error: '',
  }
}

/** Evaluates alerts every `intervalMs` (ongoing incidents, against the present). */
export class AlertLoop {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<Awaited<ReturnType<typeof evaluateAlerts>> | null> | null = null
  private closed = false
  /** Cost of the evaluations so far (bench: the alert evaluation's cost per incident per minute). */
  readonly stats = { evaluations: 0, incidents: 0, ms: 0 }

  constructor(
    private readonly deps: AlertDeps,
    private readonly intervalMs: number,
  ) {}

  start() {
    const tick = () => {
      if (this.closed) return
      if (this.deps.leader?.() ?? true) void this.runOnce()
      this.timer = setTimeout(tick, this.intervalMs)
      this.timer.unref()
    }
    this.timer = setTimeout(tick, Math.min(this.intervalMs, 1000))
    this.timer.unref()
  }

  /** One evaluation now (unless one is running): what it did, or null when it failed. */
  runOnce() {
    this.running ??= withLane('internal', () => evaluateAlerts(this.deps))
      .then((r) => {
        this.stats.evaluations++
        this.stats.incidents += r.incidents
        this.stats.ms += r.ms
        return r
      })
      .catch((err) => {
        this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'webhook alerts not evaluated')
        return null
      })
      .finally(() => {
        this.running = null
      })
    return this.running
  }

  async close() {
    this.closed = true
    clearTimeout(this.timer)
    await this.running
  }
}
