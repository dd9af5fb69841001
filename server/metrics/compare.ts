import { badRequest } from '../errors.js'
import type { Store } from '../storage/client.js'
import { incidentHeader, assertIncident } from './incidents.js'
import { autoBucketMs, chTime, isoTime, parseAttributeName, parseIncidentId, single, type QueryScope, type RawQuery } from './filters.js'
import { recoverySeries } from './recovery.js'
import type { StateSync } from './state-sync.js'
import { summary } from './summary.js'
import { DEFAULT_STALE_AFTER_MS, eventsFrom, knownParams } from './tenant-state.js'

/** At most this many incidents side by side. */
export const MAX_COMPARED = 4

export interface ComparedIncident {
  incident_id: string
  title: string
  status: string
  first_impact_at: string | null
  affected: number
  restored: number
  recovery_pct: number | null
  weighted_recovery_pct: number | null
  downtime_s: { median: number | null; p90: number | null; max: number | null; total: number }
  first_contact_latency_s: { median: number | null; p90: number | null; max: number | null }
  /** Time from first impact until recovery first reached 50 / 90 / 100 % (null: not by as_of). */
  to_pct50_s: number | null
  to_pct90_s: number | null
  to_pct100_s: number | null
  /** Recovery at each point, by time since first impact (since_s ≥ 0). */
  points: { since_s: number; affected: number; restored: number; recovery_pct: number | null; weighted_recovery_pct?: number | null }[]
}
export interface Comparison {
  bucket_s: number
  incidents: ComparedIncident[]
}

/** `incidents=a,b,c`: 1 to MAX_COMPARED distinct incident ids. */
export function parseCompared(q: RawQuery): string[] {
  const raw = single(q, 'incidents')
  if (!raw) throw badRequest('incidents is required: a comma-separated list of incident ids')
  const ids = [...new Set(raw.split(','))]
  if (ids.length > MAX_COMPARED) throw badRequest(`at most ${MAX_COMPARED} incidents are compared at once`)
  return ids.map((id) => parseIncidentId(id))
}

/**
 * SPEC §7 compare: per incident its recovery series on the time since its first impact, and its
 * headline figures at as_of (known_at and segment filters apply to each). Each incident's series
 * runs from its first impact to its last event (nothing changes after it; as_of if earlier) with one bucket width for all (the auto bucket of the
 * longest, unless `bucket` is given), so the curves lie over each other; a point's `since_s` is
 * its distance from that incident's first impact (points sit on the bucket grid, so the first is
 * within one bucket after it).
 */
export async function compareIncidents(store: Store, state: StateSync, scope: Omit<QueryScope, 'incidentId'>, ids: string[], q: RawQuery): Promise<Comparison> {
  const weight = parseAttributeName(q, 'weight')
  for (const id of ids) await assertIncident(store, id)
  const heads = await Promise.all(
    ids.map(async (id) => {
      const s = { ...scope, incidentId: id }
      const [sum, header, lastMs] = await Promise.all([
        summary(store, state, s, { weight, staleAfterMs: DEFAULT_STALE_AFTER_MS }),
        incidentHeader(store, state, id),
        lastEventMs(store, s),
      ])
      return { s, sum, header, lastMs }
    }),
  )
  // One bucket for all: the given one, or the auto bucket of the longest span since first impact.
  const spans = heads.map(({ sum, lastMs }) => (sum.milestones.first_impact_at === null ? 0 : lastMs - Date.parse(sum.milestones.first_impact_at)))
  const bucket = single(q, 'bucket') ?? `${autoBucketMs(Math.max(...spans)) / 1000}s`
  const out: ComparedIncident[] = []
  let bucketS = 0
  for (const { s, sum, header, lastMs } of heads) {
    const fi = sum.milestones.first_impact_at === null ? null : Date.parse(sum.milestones.first_impact_at)
    let points: ComparedIncident['points'] = []
    if (fi !== null) {
      const series = await recoverySeries(store, state, s, { bucket, from: isoTime(fi), to: isoTime(Math.max(fi, lastMs)), ...(weight ? { weight } : {}) })
      bucketS = series.bucket_s
      points = series.series[0]!.points.map((p) => ({
        since_s: (Date.parse(p.t) - fi) / 1000,
        affected: p.affected,
        restored: p.restored,
        recovery_pct: p.recovery_pct,
        ...(weight ? { weighted_recovery_pct: p.weighted_recovery_pct ?? null } : {}),
      }))
    }
    const since = (at: string | null) => (at === null || fi === null ? null : (Date.parse(at) - fi) / 1000)
    out.push({
      incident_id: s.incidentId,
      title: header.title,
      status: header.status,
      first_impact_at: sum.milestones.first_impact_at,
      affected: sum.affected,
      restored: sum.restored,
      recovery_pct: sum.recovery_pct,
      weighted_recovery_pct: sum.weighted?.recovery_pct ?? null,
      downtime_s: sum.downtime_s,
      first_contact_latency_s: sum.first_contact_latency_s,
      to_pct50_s: since(sum.milestones.pct50_at),
      to_pct90_s: since(sum.milestones.pct90_at),
      to_pct100_s: since(sum.milestones.pct100_at),
      points,
    })
  }
  return { bucket_s: bucketS, incidents: out }
}

/** The incident's last event at or before as_of (known by known_at): nothing changes after it. */
async function lastEventMs(store: Store, scope: QueryScope): Promise<number> {
  const [r] = await store.rows<{ ms: number | null }>(
    `SELECT maxOrNull(toUnixTimestamp64Milli(occurred_at)) AS ms FROM ${eventsFrom(store.db, scope)}
     WHERE incident_id = {incident:String} AND occurred_at <= {as_of:DateTime64(3, 'UTC')}`,
    { incident: scope.incidentId, as_of: chTime(scope.asOfMs), ...knownParams(scope) },
  )
  return r?.ms === null || r?.ms === undefined ? scope.asOfMs : Number(r.ms)
}
