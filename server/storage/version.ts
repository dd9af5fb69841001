/**
 * Monotonic row versions for ReplacingMergeTree(version) upserts: microseconds since the epoch,
 * bumped when two writes fall in the same microsecond, so within a process a later write always
 * wins and across restarts the wall clock keeps them ordered. Stays below 2^53 until year 2255.
 */
let last = 0

export function nextVersion(nowMs: number = Date.now()): number {
  last = Math.max(last + 1, Math.floor(nowMs * 1000))
  return last
}

/** `count` consecutive versions, one per row of a batch in row order; returns the first. */
export function nextVersions(count: number, nowMs: number = Date.now()): number {
  const first = nextVersion(nowMs)
  last = first + Math.max(0, count - 1)
  return first
}
