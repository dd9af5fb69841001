import { serializeEvents } from '../../server/ingest/batcher.js'
import type { EventRow } from '../../server/ingest/types.js'

/**
 * The events bench/ingest-load.ts posts (same ids, types, times, tenants), built here as
 * `events` table rows, so the engine baseline inserts exactly the rows HTTP ingest stores.
 * Keep in step with prepareBodies() in bench/ingest-load.ts.
 */
const TYPES = ['access_lost', 'access_restored', 'restore_started', 'restore_progress', 'communication'] as const
const T0_MS = Date.parse('2022-04-05T07:38:00.000Z')

export function loadEventRow(n: number): EventRow {
  const type = TYPES[n % TYPES.length]!
  const iso = new Date(T0_MS + n * 37).toISOString()
  return {
    incident_id: 'load-incident',
    tenant_id: `tenant-${n % 50_000}`,
    event_id: `load-${n}`,
    type,
    occurred_at: iso.slice(0, 10) + ' ' + iso.slice(11, 23),
    progress: type === 'restore_progress' ? (n % 100) / 100 : null,
    channel: type === 'communication' ? 'email' : '',
    label: '',
    message: type === 'communication' ? 'We are restoring your site; next update within 24 hours.' : '',
  }
}

/** `count` bodies of `rowsPerBody` rows each as the server serializes them (serializeEvents), events numbered from 0 on. */
export function loadEventBodies(count: number, rowsPerBody: number): Buffer[] {
  const bodies: Buffer[] = []
  for (let b = 0; b < count; b++) {
    const rows: EventRow[] = []
    for (let i = 0; i < rowsPerBody; i++) rows.push(loadEventRow(b * rowsPerBody + i))
    bodies.push(serializeEvents(rows))
  }
  return bodies
}
