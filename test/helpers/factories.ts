import type { EventType } from '../../server/domain/events.js'
import type { EventRow } from '../../server/ingest/types.js'
import type { Store } from '../../server/storage/client.js'

/** Builders of `events` rows for tests that write storage directly (no ingest path involved). */

let seq = 0
export const INCIDENT = 'inc-1'

/** 'YYYY-MM-DD hh:mm:ss.sss' (UTC) from ms or an ISO string. */
export function rowTime(at: number | string): string {
  const ms = typeof at === 'number' ? at : Date.parse(at)
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
}

export function event(type: EventType, at: number | string, fields: Partial<EventRow> = {}): EventRow {
  return {
    incident_id: INCIDENT,
    tenant_id: '',
    event_id: `e${++seq}`,
    type,
    occurred_at: rowTime(at),
    progress: null,
    channel: type === 'communication' ? 'email' : '',
    label: '',
    message: '',
    ...fields,
  }
}

export const lost = (tenant: string, at: number | string, f: Partial<EventRow> = {}) => event('access_lost', at, { tenant_id: tenant, ...f })
export const restored = (tenant: string, at: number | string, f: Partial<EventRow> = {}) =>
  event('access_restored', at, { tenant_id: tenant, ...f })
export const started = (tenant: string, at: number | string, f: Partial<EventRow> = {}) =>
  event('restore_started', at, { tenant_id: tenant, ...f })
export const progress = (tenant: string, at: number | string, p: number, f: Partial<EventRow> = {}) =>
  event('restore_progress', at, { tenant_id: tenant, progress: p, ...f })
export const completed = (tenant: string, at: number | string, f: Partial<EventRow> = {}) =>
  event('restore_completed', at, { tenant_id: tenant, ...f })
export const comm = (tenant: string, at: number | string, f: Partial<EventRow> = {}) => event('communication', at, { tenant_id: tenant, ...f })
export const broadcast = (at: number | string, f: Partial<EventRow> = {}) => event('communication', at, { channel: 'status_page', ...f })
export const milestone = (label: string, at: number | string, f: Partial<EventRow> = {}) => event('milestone', at, { label, ...f })

/** Insert rows straight into the events table, in the given order, as one insert per chunk. */
export async function insertEvents(store: Store, rows: EventRow[], chunkSize = rows.length || 1): Promise<void> {
  for (let i = 0; i < rows.length; i += chunkSize) {
    const body = rows
      .slice(i, i + chunkSize)
      .map((r) => JSON.stringify(r))
      .join('\n')
    await store.insert(`${store.db}.events`, Buffer.from(body + '\n'))
  }
}

export interface TenantMeta {
  tenant_id: string
  name?: string
  attributes?: Record<string, string | number>
}

let version = 0
/** Upsert tenant metadata the way the tenants table holds it (strings + numeric map). */
export async function insertTenants(store: Store, tenants: TenantMeta[]): Promise<void> {
  if (tenants.length === 0) return
  const body = tenants
    .map((t) => {
      const attributes: Record<string, string> = {}
      const num: Record<string, number> = {}
      for (const [k, v] of Object.entries(t.attributes ?? {})) {
        attributes[k] = String(v)
        if (typeof v === 'number') num[k] = v
      }
      return JSON.stringify({ tenant_id: t.tenant_id, name: t.name ?? '', attributes, num_attributes: num, version: ++version })
    })
    .join('\n')
  await store.insert(`${store.db}.tenants`, Buffer.from(body + '\n'))
}

export async function insertIncident(
  store: Store,
  m: { incident_id: string; title?: string; description?: string; severity?: string; status?: string },
): Promise<void> {
  const row = { title: '', description: '', severity: '', status: '', ...m, version: ++version }
  await store.insert(`${store.db}.incidents`, Buffer.from(JSON.stringify(row) + '\n'))
}
