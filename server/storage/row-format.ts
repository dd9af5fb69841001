/**
 * The text format of an insert's bytes: JSON objects per line, or JSON arrays per line whose
 * values are the listed columns in order (about half the bytes, and cheaper to write and parse).
 * Column names come from fixed lists in the code, never from input.
 */
export type RowFormat = { name: 'JSONEachRow' } | { name: 'JSONCompactEachRow'; columns: readonly string[] }
export const JSON_EACH_ROW: RowFormat = { name: 'JSONEachRow' }
