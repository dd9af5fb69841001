import { DEFAULT_COMM_POLICY, type CommPolicy } from '../domain/comm-policy.js'
import type { Store } from '../storage/client.js'
import type { StateSync } from './state-sync.js'

/** The incident's communication policy (SPEC §6), read once per change of incident metadata; the defaults without one. */
export function incidentPolicy(store: Store, state: StateSync, incidentId: string): Promise<CommPolicy> {
  return state.cached(incidentId, 'comm policy', 'incidents', async () => {
    const [row] = await store.rows<{ f: number; u: number; s: number }>(
      `SELECT first_contact_within_ms AS f, update_every_ms AS u, stall_after_ms AS s FROM ${store.db}.incidents FINAL WHERE incident_id = {incident:String} LIMIT 1`,
      { incident: incidentId },
    )
    return row ? { firstContactWithinMs: Number(row.f), updateEveryMs: Number(row.u), stallAfterMs: Number(row.s) } : DEFAULT_COMM_POLICY
  })
}
