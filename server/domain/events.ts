/**
 * The words and rules events and tenants are written in (SPEC §2, §4): the event types and
 * channels, the length limits of each field, what an incident id and an attribute name may be.
 * Shared by ingest (which refuses what breaks them) and metrics (which reads parameters by
 * them), so a value is accepted or refused the same way everywhere.
 */

/** The event types of SPEC §2, in the order used for ties (access_lost before access_restored). */
export const EVENT_TYPES = [
  'access_lost',
  'access_restored',
  'restore_started',
  'restore_progress',
  'restore_completed',
  'communication',
  'milestone',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const CHANNELS = ['email', 'ticket', 'status_page', 'phone', 'chat', 'social', 'other'] as const
export type Channel = (typeof CHANNELS)[number]

/** Most characters (Unicode code points) of each event field. */
export const LIMITS = {
  eventId: 128,
  incidentId: 128,
  tenantId: 256,
  label: 256,
  message: 4096,
} as const

/** The characters of an incident id; its length is 1 to LIMITS.incidentId. */
export const INCIDENT_ID_RE = /^[A-Za-z0-9._:-]+$/

/** An incident id: 1–128 characters of A-Z a-z 0-9 . _ : - (ids go into URLs and file names as they are). */
export const isIncidentId = (s: string): boolean => s.length > 0 && s.length <= LIMITS.incidentId && INCIDENT_ID_RE.test(s)

/** Tenant metadata limits (SPEC §4 POST /api/v1/tenants): attributes per tenant, characters of a name and of an attribute value. */
export const TENANT_LIMITS = { attributes: 64, attributeKey: 64, attributeValue: 256, name: 256 } as const

/** A tenant attribute name (in metadata, filters, group_by, weight): 1–64 characters of A-Z a-z 0-9 _ . - */
export const ATTRIBUTE_NAME = new RegExp(`^[A-Za-z0-9_.-]{1,${TENANT_LIMITS.attributeKey}}$`)

/** String.prototype.isWellFormed (Node 20; not in the TS lib we target): no lone surrogates. */
export const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
