/**
 * The two packed encodings of tenant_state, each in its SQL form and its JS twin side by side.
 *
 * Changes (rdeltas, cdeltas): ms * 16 + code, code < 16 (RECOVERY_CODES, COMMS_CODES), so a plain
 * Int64 sort orders a tenant's changes by time.
 * Keys (acc, rk): ms * 8 + type, type the events' Enum8 value (1 access_lost, 2 access_restored,
 * 3 restore_started, 4 restore_progress, 5 restore_completed), so events sort by (time, type).
 */

/**
 * Codes of rdeltas and what each changes: affected, down, and the number of down tenants per
 * restore stage. A stage change inside an outage is one code; changes that keep the stage (a
 * second restore_progress) produce none.
 */
export const RECOVERY_CODES: Record<number, { affected: number; down: number; not_started: number; in_progress: number; completed: number }> = {
  1: { affected: 1, down: 1, not_started: 1, in_progress: 0, completed: 0 }, // first outage starts
  2: { affected: 0, down: 1, not_started: 1, in_progress: 0, completed: 0 }, // a later outage starts
  3: { affected: 0, down: -1, not_started: -1, in_progress: 0, completed: 0 }, // outage ends before any restore step
  4: { affected: 0, down: -1, not_started: 0, in_progress: -1, completed: 0 }, // ends while in progress
  5: { affected: 0, down: -1, not_started: 0, in_progress: 0, completed: -1 }, // ends after restore_completed
  6: { affected: 0, down: 0, not_started: -1, in_progress: 1, completed: 0 }, // not started → in progress
  7: { affected: 0, down: 0, not_started: -1, in_progress: 0, completed: 1 }, // not started → completed
  8: { affected: 0, down: 0, not_started: 0, in_progress: -1, completed: 1 }, // in progress → completed
  9: { affected: 0, down: 0, not_started: 0, in_progress: 1, completed: -1 }, // completed → in progress again
}

/** Codes of cdeltas. */
export const COMMS_CODES = { affected: 1, contacted: 2, staleFrom: 3, staleTo: 4, overdueFrom: 5, overdueTo: 6 } as const

/** The event types a key packs (the events table's Enum8 values). */
export const KEY_TYPES = { access_lost: 1, access_restored: 2, restore_started: 3, restore_progress: 4, restore_completed: 5 } as const

/** "Never" / "still open": a moment beyond any as_of (an open outage's end, a missing first contact). */
export const OPEN_END = 9_000_000_000_000_000
/** SQL for OPEN_END: beyond any as_of, and ×16 still fits an Int64. */
export const OPEN_END_MS = 'toInt64(9000000000000000)'

/** Codes of a change are 0 to CHANGE_CODES - 1. */
export const CHANGE_CODES = 16
const CHANGE = CHANGE_CODES
const KEY = 8

/** An SQL operand, parenthesised unless it is a plain name or number. */
const operand = (e: string | number) => (/^[\w.{}:]+$/.test(String(e)) ? String(e) : `(${e})`)

export const packChangeSql = (msExpr: string, codeExpr: string | number) => `${operand(msExpr)} * ${CHANGE} + ${operand(codeExpr)}`
export const changeMsSql = (x: string) => `intDiv(${x}, ${CHANGE})`
export const changeCodeSql = (x: string) => `${operand(x)} % ${CHANGE}`
/** The least packed change after moment ms: the changes at or before ms are those below it. */
export const changesAfterSql = (msExpr: string) => `(${msExpr} + 1) * ${CHANGE}`

export const packChange = (ms: number, code: number) => ms * CHANGE + code
export const changeMs = (v: number) => Math.floor(v / CHANGE)
export const changeCode = (v: number) => v - changeMs(v) * CHANGE

export const packKeySql = (msExpr: string, typeExpr: string | number) => `${operand(msExpr)} * ${KEY} + ${operand(typeExpr)}`
export const keyMsSql = (x: string) => `intDiv(${x}, ${KEY})`
export const keyTypeSql = (x: string) => `${operand(x)} % ${KEY}`
/** The least key after moment ms: the keys at or before ms are those below it. */
export const keysAfterSql = (msExpr: string) => `(${msExpr} + 1) * ${KEY}`

export const packKey = (ms: number, type: number) => ms * KEY + type
export const keyMs = (v: number) => Math.floor(v / KEY)
export const keyType = (v: number) => v % KEY
/** The least key after moment ms. */
export const keysAfter = (ms: number) => (ms + 1) * KEY
