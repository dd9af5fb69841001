import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * The SQL of docs/grafana.md as Grafana would send it. A block is marked by an HTML comment
 * `<!-- grafana-sql: <name> -->` (panels, the variable) or `<!-- grafana-user -->` (the user
 * statements) on the line before its ```sql fence.
 */
export const GRAFANA_DOC = fileURLToPath(new URL('../../docs/grafana.md', import.meta.url))

export function grafanaDocBlocks(markdown = readFileSync(GRAFANA_DOC, 'utf8')): Map<string, string> {
  const blocks = new Map<string, string>()
  for (const m of markdown.matchAll(/<!-- (grafana-sql: ([\w-]+)|grafana-user) -->\n```sql\n([\s\S]*?)\n```/g)) {
    const name = m[2] ?? 'user'
    if (blocks.has(name)) throw new Error(`docs/grafana.md: two blocks named ${name}`)
    blocks.set(name, m[3]!)
  }
  return blocks
}

export interface GrafanaQueryContext {
  /** The dashboard's time range (ms since the epoch) and the panel's interval (ms). */
  fromMs: number
  toMs: number
  intervalMs: number
  /** Template variables: name → the selected (single) value. */
  vars: Record<string, string>
  /** The database the doc calls `aftermath` (tests run in a database of their own). */
  db: string
}

/**
 * Expand a query the way Grafana and grafana-clickhouse-datasource do, in their order:
 *
 * 1. Grafana (frontend) interpolates template variables: `$name` and `${name}` become the raw
 *    value; `${name:singlequote}` becomes the value in single quotes, each `'` in it escaped as `\'`.
 * 2. The plugin (backend, pkg/macros/macros.go through grafana/sqlds) replaces each macro found by
 *    `\$__name\b(?:\((.*?)\))?`:
 *      $__fromTime / $__toTime           toDateTime(<unix seconds>)
 *      $__fromTime_ms / $__toTime_ms     fromUnixTimestamp64Milli(<unix ms>)
 *      $__timeFilter(col)                col >= toDateTime(<from s>) AND col <= toDateTime(<to s>)
 *      $__timeFilter_ms(col)             col >= fromUnixTimestamp64Milli(<from ms>) AND col <= fromUnixTimestamp64Milli(<to ms>)
 *      $__interval_s                     the interval in whole seconds, at least 1
 *    Any other `$__` macro is an error here, so the doc cannot use one this expansion does not know.
 * 3. Not Grafana: the database name `aftermath.` becomes the test database's.
 */
export function expandGrafanaSql(sql: string, ctx: GrafanaQueryContext): string {
  let out = sql.replace(/\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)/g, (whole, braced: string | undefined, format: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!
    const value = ctx.vars[name]
    if (value === undefined) throw new Error(`unknown template variable ${whole}`)
    if (format === undefined) return value
    if (format === 'singlequote') return `'${value.replaceAll("'", "\\'")}'`
    throw new Error(`variable format ${format} is not expanded here`)
  })
  const seconds = (ms: number) => `toDateTime(${Math.floor(ms / 1000)})`
  const millis = (ms: number) => `fromUnixTimestamp64Milli(${ms})`
  const macros: Record<string, (args: string[]) => string> = {
    fromTime: () => seconds(ctx.fromMs),
    toTime: () => seconds(ctx.toMs),
    fromTime_ms: () => millis(ctx.fromMs),
    toTime_ms: () => millis(ctx.toMs),
    timeFilter: ([col]) => `${col} >= ${seconds(ctx.fromMs)} AND ${col} <= ${seconds(ctx.toMs)}`,
    timeFilter_ms: ([col]) => `${col} >= ${millis(ctx.fromMs)} AND ${col} <= ${millis(ctx.toMs)}`,
    interval_s: () => String(Math.max(Math.floor(ctx.intervalMs / 1000), 1)),
  }
  out = out.replace(/\$__(\w+)(?:\((.*?)\))?/g, (whole, name: string, args: string | undefined) => {
    const macro = macros[name]
    if (!macro) throw new Error(`macro ${whole} is not expanded here`)
    return macro((args ?? '').split(',').map((a) => a.trim()))
  })
  return out.replace(/\baftermath\./g, `${ctx.db}.`)
}
