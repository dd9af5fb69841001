import type { BroadcastIndex } from './broadcasts.js'
import { upperBound } from './incident-log.js'
import { KEY_TYPES, keysAfter, keysAfterSql, keyType, keyTypeSql, OPEN_END_MS, packKey, packKeySql } from './packing.js'
import { BC_COUNT, BC_LAST, BC_TIMES, BROADCAST_UNCOVERED, overdueSpansSql, staleSpansSql } from './spans.js'

/**
 * The metric catalogue: every per-tenant figure at a moment T (SPEC §3, §6), each as its SQL
 * expression over a `tenant_state` row (tenant-state.ts describes the stored facts) and, for the
 * figures a tenants-table row is made of, its JavaScript twin, side by side in one order.
 *
 * - `sql` is read by `tenantStateSql` (tenant-state.ts), which selects the requested figures and
 *   their `deps` for every affected tenant (views over all tenants: summary, series, histogram,
 *   CSV). `bsql`/`bdeps` replace them with include_broadcast=true. An empty `sql` is a stored column.
 * - `js` is evaluated by `rowAt` in declaration order (a figure reads earlier ones from `r`), for
 *   a single row or a page (tenants page, timeline, status page): ClickHouse spends 10-15 ms of CPU
 *   planning a row's ~20 lambda expressions, more than reading it.
 * - Figures without `js` are SQL only (series spans, the ETA's closes, the communication policy
 *   counts). The property tests check both forms against the reference.
 *
 * Times are Int64 ms in ClickHouse and exact JS numbers here (OPEN_END < 2^53). Adding a figure:
 * one entry here (and, for a new stored fact, a column in the derivation: tenant-state.ts).
 */

/** T in SQL. */
const T = '{as_of_ms:Int64}'

/** The stored facts a row is evaluated from (tenant_state columns; arrays of Int64 come back as numbers). */
export interface StoredState {
  first_lost_ms: number
  starts: number[]
  ends: number[]
  stray_ms: number[]
  rk: number[]
  prog_ms: number[]
  prog: number[]
  dcomm: number[]
  contact_ms: number
  gap_comms: number[]
  gap_prefix: number[]
}
export const STORED_STATE_COLUMNS = ['first_lost_ms', 'starts', 'ends', 'stray_ms', 'rk', 'prog_ms', 'prog', 'dcomm', 'contact_ms', 'gap_comms', 'gap_prefix'] as const

/** Normalize a row as JSON gives it (Int64 may arrive as numbers or strings). */
export function storedState(raw: Record<string, unknown>): StoredState {
  const nums = (v: unknown) => (Array.isArray(v) ? v.map(Number) : [])
  const state = {} as Record<string, unknown>
  for (const c of STORED_STATE_COLUMNS) state[c] = c === 'first_lost_ms' || c === 'contact_ms' ? Number(raw[c]) : nums(raw[c])
  return state as unknown as StoredState
}

type Stage = 'not_started' | 'in_progress' | 'completed'
/** One tenant's row at T: the figures with a JS twin (JS-side intermediates included). */
export interface RowAt {
  first_lost_ms: number
  outages: number
  down: boolean
  downtime_ms: number
  /** Start of the latest outage interval up to T (the open one while down). */
  cur_start_ms: number
  down_since_ms: number | null
  last_restored_ms: number | null
  restore_key: number
  restore_stage: Stage | null
  progress_idx: number
  restore_progress: number | null
  /** Direct communications at or after the first loss and at or before T. */
  direct_after: number[]
  first_contact_ms: number | null
  first_contact_latency_ms: number | null
  communications: number
  end_ms: number
  gap_k: number
  max_gap_ms: number
  /** access_restored events at or before T that found the tenant up (diagnostics). */
  strays: number
}

interface Context {
  s: StoredState
  t: number
  /** The incident's broadcasts with include_broadcast=true, else undefined. */
  b?: BroadcastIndex
}
interface Figure {
  sql: string
  deps: string[]
  bsql?: string
  bdeps?: string[]
  js?: (r: RowAt, c: Context) => unknown
}
const stored: Figure = { sql: '', deps: [] }
/** The broadcasts at or after the first loss and at or before T, as an index range [lo, hi). */
const broadcastRange = ({ s, t, b }: Context) => ({ lo: b!.countBefore(s.first_lost_ms), hi: b!.countUpTo(t) })

export const FIGURES = {
  first_lost_ms: { ...stored, js: (_r, { s }) => s.first_lost_ms },
  min_ms: stored,
  starts: stored,
  ends: stored,
  rk: stored,
  dcomm: stored,
  rdeltas: stored,
  cdeltas: stored,
  contact_ms: stored,
  stray_ms: stored,
  prog_ms: stored,
  prog: stored,
  gap_comms: stored,
  gap_prefix: stored,

  outages: { sql: `arrayCount(s -> s <= ${T}, starts)`, deps: ['starts'], js: (_r, { s, t }) => upperBound(s.starts, t) },
  down: { sql: `ends[outages] > ${T}`, deps: ['ends', 'outages'], js: (r, { s, t }) => s.ends[r.outages - 1]! > t },
  downtime_ms: {
    sql: `toInt64(arraySum((s, e) -> if(s <= ${T}, least(e, ${T}) - s, 0), starts, ends))`,
    deps: ['starts', 'ends'],
    js: (r, { s, t }) => {
      let ms = 0
      for (let i = 0; i < r.outages; i++) ms += Math.min(s.ends[i]!, t) - s.starts[i]!
      return ms
    },
  },
  cur_start_ms: { sql: 'starts[outages]', deps: ['starts', 'outages'], js: (r, { s }) => s.starts[r.outages - 1]! },
  down_since_ms: { sql: 'if(down, cur_start_ms, NULL)', deps: ['down', 'cur_start_ms'], js: (r) => (r.down ? r.cur_start_ms : null) },
  last_restored_ms: { sql: 'if(down, NULL, ends[outages])', deps: ['down', 'ends', 'outages'], js: (r, { s }) => (r.down ? null : s.ends[r.outages - 1]!) },
  /** Interval ends up to T (a restore), for the ETA's trailing window. */
  closes_at: { sql: `arrayFilter(e -> e <= ${T}, ends)`, deps: ['ends'] },
  /** The latest restore_* event at or before T (0 when none): only one in the current outage counts. */
  restore_key: {
    sql: `arrayLast(r -> r < ${keysAfterSql(T)}, rk)`,
    deps: ['rk'],
    js: (_r, { s, t }) => {
      const k = upperBound(s.rk, keysAfter(t) - 1)
      return k > 0 ? s.rk[k - 1]! : 0
    },
  },
  restore_stage: {
    sql: `if(down, multiIf(restore_key < ${packKeySql('cur_start_ms', 0)}, 'not_started', ${keyTypeSql('restore_key')} = ${KEY_TYPES.restore_completed}, 'completed', 'in_progress'), NULL)`,
    deps: ['down', 'restore_key', 'cur_start_ms'],
    js: (r) =>
      !r.down ? null : r.restore_key < packKey(r.cur_start_ms, 0) ? 'not_started' : keyType(r.restore_key) === KEY_TYPES.restore_completed ? 'completed' : 'in_progress',
  },
  /** The latest restore_progress at or before T (at equal times the greatest event_id: the last in prog order). */
  progress_idx: { sql: `arrayCount(t -> t <= ${T}, prog_ms)`, deps: ['prog_ms'], js: (_r, { s, t }) => upperBound(s.prog_ms, t) },
  restore_progress: {
    sql: 'if(down AND progress_idx > 0 AND prog_ms[progress_idx] >= cur_start_ms, prog[progress_idx], NULL)',
    deps: ['down', 'progress_idx', 'cur_start_ms', 'prog'],
    js: (r, { s }) => (r.down && r.progress_idx > 0 && s.prog_ms[r.progress_idx - 1]! >= r.cur_start_ms ? s.prog[r.progress_idx - 1]! : null),
  },
  direct_after: {
    sql: `arrayFilter(c -> c >= first_lost_ms AND c <= ${T}, dcomm)`,
    deps: ['first_lost_ms', 'dcomm'],
    js: (_r, { s, t }) => s.dcomm.filter((c) => c >= s.first_lost_ms && c <= t),
  },
  /** Counted communications at or after the first loss and at or before T, ascending: with include_broadcast, a copy of the broadcasts per tenant (only MAX_GAP's SQL reads it; callers bound its cost, see checkBroadcastCost). */
  comms_after: {
    sql: 'direct_after',
    deps: ['direct_after'],
    bsql: `arraySort(arrayConcat(direct_after, arrayFilter(x -> x >= first_lost_ms, ${BC_TIMES})))`,
    bdeps: ['direct_after', 'first_lost_ms'],
  },
  /** Direct communications at or after the first loss, at any time (series look past no T). */
  comms_all: { sql: 'arrayFilter(c -> c >= first_lost_ms, dcomm)', deps: ['first_lost_ms', 'dcomm'] },
  /**
   * include_broadcast only: the first broadcast at or after the first loss (and at or before T;
   * OPEN_END if none) and its rank among the broadcasts up to T (ties share the lowest; 0 if
   * none), found by an ASOF join, so no tenant copies the broadcast list.
   */
  fb_ms: { sql: `if(fb.j_rank = 0, ${OPEN_END_MS}, fb.j_ms)`, deps: [] },
  fb_rank: { sql: 'fb.j_rank', deps: [] },
  first_contact_ms: {
    sql: `if(contact_ms <= ${T}, contact_ms, NULL)`,
    deps: ['contact_ms'],
    bsql: `if(least(if(contact_ms <= ${T}, contact_ms, ${OPEN_END_MS}), fb_ms) < ${OPEN_END_MS}, least(if(contact_ms <= ${T}, contact_ms, ${OPEN_END_MS}), fb_ms), NULL)`,
    bdeps: ['contact_ms', 'fb_ms'],
    js: (r, c) => {
      if (c.b === undefined) return c.s.contact_ms <= c.t ? c.s.contact_ms : null
      const { lo, hi } = broadcastRange(c)
      const first = Math.min(r.direct_after[0] ?? Infinity, lo < hi ? c.b.times[lo]! : Infinity)
      return first === Infinity ? null : first
    },
  },
  first_contact_latency_ms: {
    sql: 'first_contact_ms - first_lost_ms',
    deps: ['first_contact_ms', 'first_lost_ms'],
    js: (r) => (r.first_contact_ms === null ? null : r.first_contact_ms - r.first_lost_ms),
  },
  /** First counted contact at any time (OPEN_END if none), for series. */
  contact_all_ms: { sql: 'contact_ms', deps: ['contact_ms'], bsql: 'least(contact_ms, fb_ms)', bdeps: ['contact_ms', 'fb_ms'] },
  communications: {
    sql: 'length(direct_after)',
    deps: ['direct_after'],
    bsql: `length(direct_after) + if(fb_rank = 0, 0, ${BC_COUNT} - fb_rank + 1)`,
    bdeps: ['direct_after', 'fb_rank'],
    js: (r, c) => {
      if (c.b === undefined) return r.direct_after.length
      const { lo, hi } = broadcastRange(c)
      return r.direct_after.length + Math.max(0, hi - lo)
    },
  },
  /** The later of the first loss and the last counted communication up to T. */
  last_anchor_ms: {
    sql: `greatest(first_lost_ms, arrayLast(c -> c <= ${T}, dcomm))`,
    deps: ['first_lost_ms', 'dcomm'],
    bsql: `greatest(first_lost_ms, arrayLast(c -> c <= ${T}, dcomm), if(${BC_LAST} >= first_lost_ms, ${BC_LAST}, 0))`,
  },
  /** Stale spans [L, R) over all time (series), as (L, R) tuples: see staleSpansSql. */
  stale_spans: {
    sql: staleSpansSql('comms_all', '{stale_ms:Int64}'),
    deps: ['first_lost_ms', 'comms_all', 'starts', 'ends'],
    bsql: `arrayFilter(x -> x.1 < x.2, arrayFlatten(arrayMap(a -> arrayMap(u -> (greatest(a.1, u.1), least(a.2, u.2)), ${BROADCAST_UNCOVERED}), ${staleSpansSql('comms_all', '{stale_ms:Int64}')})))`,
    bdeps: ['first_lost_ms', 'comms_all', 'starts', 'ends', 'fb_ms'],
  },
  stale: { sql: `down AND ${T} - last_anchor_ms > {stale_ms:Int64}`, deps: ['down', 'last_anchor_ms'] },
  /** The last counted communication at or after the first loss and at or before T (NULL if none). */
  last_contact_ms: {
    sql: `nullIf(arrayLast(c -> c >= first_lost_ms AND c <= ${T}, dcomm), 0)`,
    deps: ['first_lost_ms', 'dcomm'],
    bsql: `nullIf(greatest(arrayLast(c -> c >= first_lost_ms AND c <= ${T}, dcomm), if(${BC_LAST} >= first_lost_ms, ${BC_LAST}, 0)), 0)`,
  },
  /**
   * SPEC §6 at T: while down, the moment the next contact was due: the first loss plus
   * first_contact_within before any contact, else the last contact plus update_every.
   */
  overdue_due_ms: {
    sql: `if(NOT down, NULL, if(first_contact_ms IS NULL, first_lost_ms + {fcw_ms:Int64}, last_contact_ms + {ue_ms:Int64}))`,
    deps: ['down', 'first_contact_ms', 'first_lost_ms', 'last_contact_ms'],
  },
  overdue: { sql: `ifNull(overdue_due_ms < ${T}, false)`, deps: ['overdue_due_ms'] },
  overdue_kind: { sql: `if(first_contact_ms IS NULL, 'first_contact', 'update')`, deps: ['first_contact_ms'] },
  /** first_contact_on_time_pct: the tenant counts (contacted, or its deadline passed), and was contacted in time. */
  fc_counted: { sql: `first_contact_ms IS NOT NULL OR ${T} - first_lost_ms > {fcw_ms:Int64}`, deps: ['first_contact_ms', 'first_lost_ms'] },
  fc_on_time: { sql: `first_contact_ms IS NOT NULL AND first_contact_ms - first_lost_ms <= {fcw_ms:Int64}`, deps: ['first_contact_ms', 'first_lost_ms'] },
  /** Overdue spans [L, R) over all time (series), as (L, R) tuples: see overdueSpansSql. */
  overdue_spans: {
    sql: overdueSpansSql(false),
    deps: ['first_lost_ms', 'comms_all', 'contact_all_ms', 'starts', 'ends'],
    bsql: overdueSpansSql(true),
    bdeps: ['first_lost_ms', 'comms_all', 'contact_all_ms', 'starts', 'ends', 'fb_ms'],
  },
  end_ms: { sql: `if(down, ${T}, ends[outages])`, deps: ['down', 'ends', 'outages'], js: (r, { s, t }) => (r.down ? t : s.ends[r.outages - 1]!) },
  starts_at: { sql: 'arraySlice(starts, 1, outages)', deps: ['starts', 'outages'] },
  ends_at: { sql: `arrayMap(e -> least(e, ${T}), arraySlice(ends, 1, outages))`, deps: ['ends', 'outages'] },
  gap_k: { sql: `arrayCount(c -> c <= ${T}, gap_comms)`, deps: ['gap_comms'], js: (_r, { s, t }) => upperBound(s.gap_comms, t) },
  /**
   * max_comm_gap_s. Direct only: from the precomputed gaps (the points up to T are a prefix of all
   * of them). With broadcasts: over the points first loss, each counted communication while down, end.
   */
  max_gap_ms: {
    sql: `greatest(if(gap_k = 0, toInt64(0), gap_prefix[gap_k]), end_ms - if(gap_k = 0, first_lost_ms, gap_comms[gap_k]))`,
    deps: ['first_lost_ms', 'end_ms', 'gap_k'],
    bsql: `arrayMax(arrayDifference(arrayConcat([first_lost_ms],
          if(outages = 1, arrayFilter(c -> c <= end_ms, comms_after),
                          arrayFilter(c -> arrayExists((s, e) -> s <= c AND c <= e, starts_at, ends_at), comms_after)),
          [end_ms])))`,
    bdeps: ['first_lost_ms', 'end_ms', 'outages', 'comms_after', 'starts_at', 'ends_at'],
    js: (r, { s, t, b }) =>
      b === undefined
        ? Math.max(r.gap_k === 0 ? 0 : s.gap_prefix[r.gap_k - 1]!, r.end_ms - (r.gap_k === 0 ? s.first_lost_ms : s.gap_comms[r.gap_k - 1]!))
        : maxGapWithBroadcasts(s, t, r.outages, r.end_ms, r.direct_after, b),
  },
  strays: { sql: `arrayCount(x -> x <= ${T}, stray_ms)`, deps: ['stray_ms'], js: (_r, { s, t }) => upperBound(s.stray_ms, t) },
} satisfies Record<string, Figure>

export type TenantColumn = keyof typeof FIGURES

/** The figures with a JS twin, in evaluation order. */
const JS_FIGURES = Object.entries(FIGURES as Record<string, Figure>).filter(([, f]) => f.js !== undefined) as [keyof RowAt, Required<Pick<Figure, 'js'>>][]

/**
 * The row at T of a tenant affected at T (first_lost_ms <= T), from the JS twins. `broadcasts`:
 * the incident's broadcasts when include_broadcast=true (those at or before T count as
 * communications to every tenant); undefined otherwise.
 */
export function rowAt(s: StoredState, t: number, broadcasts?: BroadcastIndex): RowAt {
  const r = {} as Record<keyof RowAt, unknown>
  const c: Context = { s, t, b: broadcasts }
  for (const [name, f] of JS_FIGURES) r[name] = f.js(r as RowAt, c)
  return r as RowAt
}

/**
 * max_comm_gap_s counting broadcasts: the longest stretch between consecutive points of [first
 * loss, each direct or broadcast communication inside an outage interval up to T, the end].
 * The few points that are not broadcasts (first loss, end, direct communications) split each
 * outage's run of broadcasts into runs with no other point inside; a run contributes its first
 * and last time and its longest inner gap (BroadcastIndex.maxGap), so the cost does not grow
 * with the number of broadcasts.
 */
function maxGapWithBroadcasts(s: StoredState, t: number, outages: number, endMs: number, direct: number[], b: BroadcastIndex): number {
  const within = (c: number) => {
    for (let i = 0; i < outages; i++) if (s.starts[i]! <= c && c <= Math.min(s.ends[i]!, t)) return true
    return false
  }
  const points = [s.first_lost_ms, ...direct.filter(within), endMs].sort((x, y) => x - y)
  const items: { first: number; last: number; inner: number }[] = points.map((p) => ({ first: p, last: p, inner: 0 }))
  for (let i = 0; i < outages; i++) {
    let from = b.countBefore(s.starts[i]!)
    const to = b.countUpTo(Math.min(s.ends[i]!, t))
    if (from >= to) continue
    // Split the run at every other point strictly inside it.
    for (const p of points) {
      if (p <= b.times[from]! || p >= b.times[to - 1]!) continue
      const cut = b.countUpTo(p)
      items.push({ first: b.times[from]!, last: b.times[cut - 1]!, inner: b.maxGap(from, cut - 1) })
      from = cut
    }
    items.push({ first: b.times[from]!, last: b.times[to - 1]!, inner: b.maxGap(from, to - 1) })
  }
  items.sort((x, y) => x.first - y.first || x.last - y.last)
  let gap = 0
  for (let k = 0; k < items.length; k++) {
    gap = Math.max(gap, items[k]!.inner)
    if (k > 0) gap = Math.max(gap, items[k]!.first - items[k - 1]!.last)
  }
  return gap
}
