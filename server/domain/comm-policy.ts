import { formatDurationText } from './time.js'

/**
 * An incident's communication policy (SPEC §6): a first contact within `firstContactWithinMs` of
 * a tenant's first loss, then an update at least every `updateEveryMs` while it is down; an
 * incident whose tenants are down with none restored for `stallAfterMs` has stalled.
 */
export interface CommPolicy {
  firstContactWithinMs: number
  updateEveryMs: number
  stallAfterMs: number
}

export const DEFAULT_COMM_POLICY: CommPolicy = { firstContactWithinMs: 4 * 3_600_000, updateEveryMs: 24 * 3_600_000, stallAfterMs: 6 * 3_600_000 }

/** The policy as the API writes it: `{ "first_contact_within": "4h", "update_every": "24h", "stall_after": "6h" }`. */
export function commPolicyJson(p: CommPolicy): { first_contact_within: string; update_every: string; stall_after: string } {
  return { first_contact_within: formatDurationText(p.firstContactWithinMs), update_every: formatDurationText(p.updateEveryMs), stall_after: formatDurationText(p.stallAfterMs) }
}
