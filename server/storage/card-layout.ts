/**
 * The layout of the documents in `cards` (migration 6), one constant for their writers (the
 * materialized views migration 14 builds from it) and their reader (metrics/timeline.ts).
 *
 * - key `t` || incident_id || '\0' || tenant_id: a JSON array of these tenant_state_input
 *   columns, in this order: the tenant's stored facts (metrics/figures.ts evaluates its row from
 *   them) and its first 10,000 events in §3 order, each [event_id, occurred_at ms, type code,
 *   progress, channel, label, message] (CARD_EVENT_FIELDS);
 * - key `m` || tenant_id: a JSON array of these `tenants` columns.
 *
 * Changing a list changes what new cards hold, not the ones stored: it needs a migration that
 * recreates the view (as 14 does) and derives every incident again (TRUNCATE state_sync).
 */
export const TENANT_CARD_FIELDS = [
  'first_lost_ms',
  'starts',
  'ends',
  'stray_ms',
  'rk',
  'prog_ms',
  'prog',
  'dcomm',
  'contact_ms',
  'gap_comms',
  'gap_prefix',
  'events',
] as const
export const META_CARD_FIELDS = ['name', 'attributes'] as const
/** The elements of each event of a tenant card (the tuple tenant_state_input.events holds). */
export const CARD_EVENT_FIELDS = ['event_id', 'ms', 'type', 'progress', 'channel', 'label', 'message'] as const

export const tenantCardKey = (incidentId: string, tenantId: string) => `t${incidentId}\u0000${tenantId}`
export const metaCardKey = (tenantId: string) => `m${tenantId}`

/** The writers' SELECTs (a materialized view's query over tenant_state_input and tenants). */
export const TENANT_CARD_SELECT = `SELECT concat('t', incident_id, '\\0', tenant_id) AS key, toJSONString((${TENANT_CARD_FIELDS.join(', ')})) AS value`
export const META_CARD_SELECT = `SELECT concat('m', tenant_id) AS key, toJSONString((${META_CARD_FIELDS.join(', ')})) AS value`

/** A card as decoded: each field by name. */
export function decodeCard<F extends readonly string[]>(fields: F, json: string): Record<F[number], unknown> {
  const values = elements(JSON.parse(json))
  return Object.fromEntries(fields.map((f, i) => [f, values[i]])) as Record<F[number], unknown>
}

/** A tuple as JSON gives it: an array, or an object of its elements when the engine names them. */
export function elements(v: unknown): unknown[] {
  if (Array.isArray(v)) return v
  return v !== null && typeof v === 'object' ? Object.values(v) : []
}
