import type { TenantRow } from '../../api.js'

/** Attributes offered for "lines per" have at most this many values, none of them a number. */
const MAX_SEGMENT_LINES = 20
const NUMERIC = /^-?\d+(\.\d+)?$/

/**
 * The tenant attributes (name → values) seen in the rows loaded so far: they fill the filter
 * form's suggestions and the "lines per" choices.
 */
export class AttributeIndex {
  private readonly seen = new Map<string, Set<string>>()

  /** Notes the rows' attributes; true when a name or value was new. */
  note(rows: TenantRow[]): boolean {
    let grew = false
    for (const r of rows)
      for (const [k, v] of Object.entries(r.attributes ?? {})) {
        let set = this.seen.get(k)
        if (!set) this.seen.set(k, (set = new Set()))
        if (!set.has(v)) {
          set.add(v)
          grew = true
        }
      }
    return grew
  }

  names(): string[] {
    return [...this.seen.keys()].sort()
  }

  values(name: string): string[] {
    return [...(this.seen.get(name) ?? [])].sort()
  }

  /**
   * Lines per segment make sense for a few named segments (tier, region), not for a number such
   * as seats (thousands of values: the API keeps only the 50 largest groups, a useless chart).
   */
  segments(): string[] {
    return this.names().filter((n) => {
      const values = this.seen.get(n)!
      if (values.size > MAX_SEGMENT_LINES) return false
      for (const v of values) if (NUMERIC.test(v)) return false
      return true
    })
  }
}
