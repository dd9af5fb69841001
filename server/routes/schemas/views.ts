import { z } from 'zod'
import type { CommunicationsSeries } from '../../metrics/communications.js'
import type { Comparison } from '../../metrics/compare.js'
import type { EtaHistory } from '../../metrics/eta-history.js'
import type { DowntimeHistogram } from '../../metrics/histogram.js'
import type { IncidentListItem } from '../../metrics/incidents.js'
import type { OverdueRow } from '../../metrics/overdue.js'
import type { RecoverySeries } from '../../metrics/recovery.js'
import type { ReportingLag } from '../../metrics/reporting-lag.js'
import type { CustomerStatus } from '../../metrics/status.js'
import type { Summary } from '../../metrics/summary.js'
import { TENANT_SORTS, type TenantRow } from '../../metrics/tenants.js'
import type { TenantTimeline } from '../../metrics/timeline.js'
import { agree, attributeName, booleanParam, durationParam, incidentId, nullableNumber, nullableTime, time, timeParam, type Same } from './common.js'

/**
 * Parameters and answers of the query API (SPEC §4 "Query", §6, §8). The answers' TypeScript types
 * live with the metrics that compute them; `Same<>` below makes a difference between a schema and
 * its type a compile error, and the OpenAPI test validates real answers against these schemas
 * (no undeclared field passes: objects are strict).
 */

// ── parameters ──────────────────────────────────────────────────────────────

export const tenantPath = z.object({ id: incidentId, tenant: z.string().min(1).max(256).meta({ description: 'tenant_id, URL-encoded' }) })

/** SPEC §4 common parameters (the attr.<name> filters are declared by the route's `filters`). */
const scope = {
  as_of: timeParam.optional().meta({ description: 'the moment T the figures are of (default now); only events with occurred_at ≤ T count' }),
  include_broadcast: booleanParam.optional().meta({ description: 'count broadcasts as communications to every tenant (default false)' }),
  known_at: timeParam
    .optional()
    .meta({ description: 'what was known then (SPEC §7): only events received (received_at) at or before this moment count (default now); composes with as_of' }),
}
const window = {
  bucket: z
    .union([z.literal('auto'), durationParam])
    .optional()
    .meta({ description: 'bucket width, at least 1s (default auto: about 200 points); at most 2,000 points over the window (500 with group_by), else 400' }),
  from: timeParam.optional().meta({ description: 'window start (default the incident\'s first event)' }),
  to: timeParam.optional().meta({ description: 'window end (default as_of; later is clamped to as_of)' }),
}
const staleAfter = durationParam.optional().meta({ description: 'a down tenant without a counted communication for longer than this is stale (default 24h)' })
const weight = attributeName.optional().meta({ description: 'numeric attribute weighting each tenant (e.g. seats): "% of users restored"' })

export const scopeQuery = z.object(scope)
export const incidentsQuery = z.object({ as_of: scope.as_of, known_at: scope.known_at })
export const summaryQuery = z.object({ ...scope, weight, stale_after: staleAfter })
export const recoveryQuery = z.object({
  ...scope,
  ...window,
  weight,
  group_by: attributeName.optional().meta({ description: 'one series per value of this attribute (the 50 largest by affected)' }),
})
export const communicationsQuery = z.object({ ...scope, ...window, stale_after: staleAfter })
export const tenantsQuery = z.object({
  ...scope,
  sort: z.enum(TENANT_SORTS).optional().meta({ description: 'default downtime_s' }),
  order: z.enum(['asc', 'desc']).optional().meta({ description: 'default desc' }),
  limit: z.int().min(0).max(1000).optional().meta({ description: 'default 100' }),
  offset: z.int().min(0).max(1_000_000_000).optional().meta({ description: 'default 0' }),
  q: z.string().max(256).optional().meta({ description: 'substring of tenant_id or name' }),
  state: z.enum(['down', 'up']).optional(),
})
export const histogramQuery = z.object({ ...scope, bins: z.int().min(1).max(200).optional().meta({ description: 'number of bins (default 20)' }) })
export const overdueQuery = z.object({
  ...scope,
  limit: z.int().min(0).max(1000).optional().meta({ description: 'default 100' }),
  offset: z.int().min(0).max(1_000_000_000).optional().meta({ description: 'default 0' }),
})

// ── answers ─────────────────────────────────────────────────────────────────

const stage = z.enum(['not_started', 'in_progress', 'completed'])

export const tenantRow = z.strictObject({
  tenant_id: z.string(),
  name: z.string(),
  attributes: z.record(z.string(), z.string()),
  state: z.enum(['down', 'up']),
  first_lost_at: time,
  last_restored_at: nullableTime,
  downtime_s: z.number(),
  outages: z.int(),
  restore_stage: stage.nullable(),
  restore_progress: nullableNumber,
  first_contact_at: nullableTime,
  first_contact_latency_s: nullableNumber,
  communications: z.int(),
  max_comm_gap_s: z.number(),
})

const commPolicy = z.strictObject({ first_contact_within: z.string(), update_every: z.string(), stall_after: z.string() })

export const summaryBody = z.strictObject({
  incident_id: z.string(),
  as_of: time,
  affected: z.int(),
  restored: z.int(),
  down: z.int(),
  recovery_pct: nullableNumber,
  weighted: z.strictObject({ weight: z.string(), affected: z.number(), restored: z.number(), recovery_pct: nullableNumber }).nullable(),
  downtime_s: z.strictObject({ median: nullableNumber, p90: nullableNumber, max: nullableNumber, total: z.number() }),
  first_contact_latency_s: z.strictObject({ median: nullableNumber, p90: nullableNumber, max: nullableNumber }),
  waiting_first_contact: z.int(),
  stale: z.int(),
  stale_after_s: z.number(),
  overdue: z.int(),
  first_contact_on_time_pct: nullableNumber,
  comm_policy: commPolicy,
  stages: z.strictObject({ not_started: z.int(), in_progress: z.int(), completed: z.int() }),
  milestones: z.strictObject({
    first_impact_at: nullableTime,
    first_contact_at: nullableTime,
    pct50_at: nullableTime,
    pct90_at: nullableTime,
    pct100_at: nullableTime,
    events: z.array(z.strictObject({ at: time, label: z.string() })),
  }),
  eta: z.strictObject({ at: time, low: time, high: time, method: z.string() }).nullable(),
})

export const recoveryBody = z.strictObject({
  bucket_s: z.number(),
  series: z.array(
    z.strictObject({
      group: z.string().nullable(),
      points: z.array(
        z.strictObject({
          t: time,
          affected: z.number(),
          restored: z.number(),
          recovery_pct: nullableNumber,
          weighted_recovery_pct: nullableNumber.optional().meta({ description: 'with weight only' }),
          not_started: z.int(),
          in_progress: z.int(),
          completed: z.int(),
        }),
      ),
    }),
  ),
})

export const communicationsBody = z.strictObject({
  bucket_s: z.number(),
  points: z.array(
    z.strictObject({
      t: time,
      sent_direct: z.int(),
      sent_broadcast: z.int(),
      waiting_first_contact: z.int(),
      stale: z.int(),
      overdue: z.int(),
      median_first_contact_latency_s: nullableNumber,
    }),
  ),
})

export const tenantPageBody = z.strictObject({ total: z.int(), rows: z.array(tenantRow) })

export const timelineBody = z.strictObject({
  incident_id: z.string(),
  tenant_id: z.string(),
  as_of: time,
  events: z.array(
    z.strictObject({
      event_id: z.string(),
      type: z.string(),
      occurred_at: time,
      direct: z.boolean(),
      progress: nullableNumber,
      channel: z.string(),
      label: z.string(),
      message: z.string(),
    }),
  ),
  row: tenantRow.nullable(),
  diagnostics: z.strictObject({ stray_restores: z.int() }),
})

export const histogramBody = z.strictObject({ bins: z.array(z.strictObject({ from_s: z.number(), to_s: z.number(), tenants: z.int() })) })

export const overdueBody = z.strictObject({
  total: z.int(),
  rows: z.array(
    z.strictObject({
      tenant_id: z.string(),
      name: z.string(),
      kind: z.enum(['first_contact', 'update']),
      due_at: time,
      overdue_s: z.number(),
      last_contact_at: nullableTime,
    }),
  ),
})

export const incidentsBody = z.strictObject({
  incidents: z.array(
    z.strictObject({
      incident_id: z.string(),
      title: z.string(),
      status: z.string(),
      first_event_at: nullableTime,
      last_event_at: nullableTime,
      affected: z.int(),
      restored: z.int(),
      recovery_pct: nullableNumber,
    }),
  ),
})

export const whoamiBody = z.union([
  z.strictObject({ scope: z.enum(['read', 'admin']) }),
  z.strictObject({ scope: z.literal('share'), incident_id: z.string(), expires_at: time, title: z.string(), status: z.string() }),
])

export const statusBody = z.strictObject({
  as_of: time,
  incident: z.strictObject({ title: z.string(), status: z.string() }),
  tenant: z.strictObject({ id: z.string(), name: z.string() }),
  affected: z.boolean(),
  state: z.enum(['down', 'up']),
  restore_stage: stage.nullable(),
  restore_progress: nullableNumber,
  down_since: nullableTime,
  downtime_s: z.number(),
  last_update_at: nullableTime,
  updates: z.array(z.strictObject({ at: time, channel: z.string(), message: z.string(), broadcast: z.boolean() })),
})

export const etaHistoryQuery = z.object({ as_of: scope.as_of, ...window })
export const etaHistoryBody = z.strictObject({
  actual_full_recovery_at: nullableTime,
  points: z.array(z.strictObject({ t: time, eta_at: nullableTime, low: nullableTime, high: nullableTime, error_s: nullableNumber })),
})

export const compareQuery = z.object({
  incidents: z.string().min(1).meta({ description: 'comma-separated incident ids, 1 to 4' }),
  as_of: scope.as_of,
  known_at: scope.known_at,
  weight,
  bucket: window.bucket,
})
const figureStats = z.strictObject({ median: nullableNumber, p90: nullableNumber, max: nullableNumber })
export const compareBody = z.strictObject({
  bucket_s: z.number(),
  incidents: z.array(
    z.strictObject({
      incident_id: z.string(),
      title: z.string(),
      status: z.string(),
      first_impact_at: nullableTime,
      affected: z.int(),
      restored: z.int(),
      recovery_pct: nullableNumber,
      weighted_recovery_pct: nullableNumber,
      downtime_s: figureStats.extend({ total: z.number() }),
      first_contact_latency_s: figureStats,
      to_pct50_s: nullableNumber,
      to_pct90_s: nullableNumber,
      to_pct100_s: nullableNumber,
      points: z.array(
        z.strictObject({ since_s: z.number(), affected: z.number(), restored: z.number(), recovery_pct: nullableNumber, weighted_recovery_pct: nullableNumber.optional() }),
      ),
    }),
  ),
})

export const reportingLagBody = z.strictObject({
  types: z.array(z.strictObject({ type: z.string(), events: z.int(), median_s: z.number(), p90_s: z.number(), max_s: z.number() })),
  most_delayed: z.array(
    z.strictObject({ event_id: z.string(), tenant_id: z.string(), type: z.string(), occurred_at: time, received_at: time, lag_s: z.number() }),
  ),
})

// ── schemas and types agree (a compile error otherwise) ─────────────────────

agree<Same<z.output<typeof summaryBody>, Summary>>(true)
agree<Same<z.output<typeof recoveryBody>, RecoverySeries>>(true)
agree<Same<z.output<typeof communicationsBody>, CommunicationsSeries>>(true)
agree<Same<z.output<typeof tenantRow>, TenantRow>>(true)
agree<Same<z.output<typeof timelineBody>, TenantTimeline>>(true)
agree<Same<z.output<typeof histogramBody>, DowntimeHistogram>>(true)
agree<Same<z.output<typeof overdueBody>['rows'][number], OverdueRow>>(true)
agree<Same<z.output<typeof incidentsBody>['incidents'][number], IncidentListItem>>(true)
agree<Same<z.output<typeof statusBody>, CustomerStatus>>(true)
agree<Same<z.output<typeof reportingLagBody>, ReportingLag>>(true)
agree<Same<z.output<typeof etaHistoryBody>, EtaHistory>>(true)
agree<Same<z.output<typeof compareBody>, Comparison>>(true)
