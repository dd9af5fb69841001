import { parse } from 'csv-parse'
import { createReadStream } from 'node:fs'
import { extname } from 'node:path'
import { createInterface } from 'node:readline'
import type { TenantMeta } from '../scenarios/types.js'
import { UsageError } from './errors.js'
import type { HttpTarget } from './http.js'
import { countBytes, sendMetadata } from './replay.js'
import { startSender, type EventSender } from './sender.js'

export type FileFormat = 'ndjson' | 'csv'

export interface ImportOptions {
  target: HttpTarget
  format?: FileFormat
  batchSize?: number
  concurrency?: number
  /** A rejected line, as "file:line", with the field and the reason (from the server, or a local CSV parse error). */
  onRejected: (ref: string, field: string, message: string) => void
  onUnlisted?: (count: number, first: string, last: string) => void
  onStart?: (sender: EventSender<string>) => void
  /** Incremented by the bytes read, for "% done". */
  bytesRead?: { n: number }
}

const REQUIRED_COLUMNS = ['event_id', 'incident_id', 'type', 'occurred_at'] as const

export function formatOf(path: string, forced?: FileFormat): FileFormat {
  if (forced) return forced
  const ext = extname(path).toLowerCase()
  if (ext === '.csv') return 'csv'
  if (ext === '.ndjson' || ext === '.jsonl' || ext === '.json') return 'ndjson'
  throw new UsageError(`${path}: cannot tell the format from the extension; use --format ndjson|csv`)
}

/**
 * Send NDJSON or CSV event files to the server. Every event carries its "file:line" so the
 * server's per-event errors (errors[].index = position in the request) map back to the
 * line it came from. CSV records the parser cannot read are reported locally and skipped.
 * Returns the sender (accepted/rejected totals) and the number of lines rejected locally.
 */
export async function importFiles(files: string[], opts: ImportOptions): Promise<{ sender: EventSender<string>; localRejected: number }> {
  for (const f of files) formatOf(f, opts.format)
  const sender = startSender(opts)
  let localRejected = 0
  for (const file of files) {
    if (formatOf(file, opts.format) === 'ndjson') {
      for await (const { line, lineNo } of readLines(file, opts.bytesRead)) await sender.push(line, `${file}:${lineNo}`)
    } else {
      for await (const item of readCsv(file, REQUIRED_COLUMNS, opts.bytesRead)) {
        if ('error' in item) {
          localRejected++
          opts.onRejected(`${file}:${item.lineNo}`, 'csv', item.error)
        } else {
          await sender.push(JSON.stringify(csvEvent(item.record)), `${file}:${item.lineNo}`)
        }
      }
    }
  }
  await sender.finish()
  return { sender, localRejected }
}

/** Upsert tenants from an NDJSON file (TenantMeta per line) or a CSV file (tenant_id, name, other columns = attributes). */
export async function importTenants(target: HttpTarget, file: string, format?: FileFormat): Promise<number> {
  async function* tenants(): AsyncGenerator<TenantMeta> {
    if (formatOf(file, format) === 'ndjson') {
      for await (const { line, lineNo } of readLines(file)) {
        try {
          yield JSON.parse(line) as TenantMeta
        } catch {
          throw new UsageError(`${file}:${lineNo}: not a JSON object`)
        }
      }
      return
    }
    for await (const item of readCsv(file, ['tenant_id'])) {
      if ('error' in item) throw new UsageError(`${file}:${item.lineNo}: ${item.error}`)
      const { tenant_id, name, ...rest } = item.record
      const attributes: Record<string, string | number> = {}
      for (const [k, v] of Object.entries(rest)) if (v !== '') attributes[k] = numeric(v) ?? v
      yield { tenant_id: tenant_id!, name: name ?? '', attributes }
    }
  }
  return sendMetadata(target, tenants())
}

async function* readLines(file: string, bytesRead?: { n: number }): AsyncGenerator<{ line: string; lineNo: number }> {
  const rl = createInterface({ input: countBytes(createReadStream(file), bytesRead), crlfDelay: Infinity })
  let lineNo = 0
  for await (const line of rl) {
    lineNo++
    if (line.trim() !== '') yield { line, lineNo }
  }
}

type CsvItem = { record: Record<string, string>; lineNo: number } | { error: string; lineNo: number }

/** CSV records with the 1-based line each starts on (header = line 1); unreadable records come back as errors. */
async function* readCsv(file: string, required: readonly string[], bytesRead?: { n: number }): AsyncGenerator<CsvItem> {
  const parser = countBytes(createReadStream(file), bytesRead).pipe(
    parse({ columns: true, info: true, bom: true, skip_empty_lines: true, skip_records_with_error: true }),
  )
  const skipped: CsvItem[] = []
  parser.on('skip', (err: Error & { lines?: number }) => {
    skipped.push({ error: err.message.replace(/ on line \d+$/, ''), lineNo: err.lines ?? 0 })
  })
  let checkedHeader = false
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    if (!checkedHeader) {
      checkedHeader = true
      const missing = required.filter((c) => !(c in record))
      if (missing.length > 0) throw new UsageError(`${file}:1: header: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`)
    }
    yield* skipped.splice(0)
    // info.lines is the line the record ends on; quoted newlines inside it move its start up.
    const innerNewlines = Object.values(record).reduce((n, v) => n + (v.match(/\n/g)?.length ?? 0), 0)
    yield { record, lineNo: info.lines - innerNewlines }
  }
  yield* skipped.splice(0)
}

/** A CSV row as an event: empty cells are absent fields; progress is a number when it reads as one (else the server reports it). */
function csvEvent(record: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(record)) {
    if (v === '') continue
    out[k] = k === 'progress' ? (numeric(v) ?? v) : v
  }
  return out
}

function numeric(v: string): number | undefined {
  const n = Number(v)
  return v.trim() !== '' && Number.isFinite(n) ? n : undefined
}
