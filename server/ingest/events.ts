import { BadInput, Refusal, Unavailable } from '../errors.js'
import type { Telemetry } from '../telemetry.js'
import { ndjsonLines, NDJSON_MAX_LINE_BYTES } from './parse-ndjson.js'
import type { EventRow, IngestPipeline } from './types.js'
import { validateEvent, type FieldError } from './validate.js'

export interface IngestError {
  index: number
  field: string
  message: string
}

/** The 200 body of SPEC §4: counts plus at most 100 listed errors. */
export interface IngestResult {
  accepted: number
  rejected: number
  errors: IngestError[]
}

/**
 * What became of a request's events: `stored` (the valid ones are durable; the invalid ones are
 * listed), `rejected` (atomic and some invalid: none were kept), or `unavailable` (no room for
 * them now: retry after `retryAfterS`; `closeConnection` when the rest of the body was left unread).
 */
export type IngestOutcome =
  | { kind: 'stored'; result: IngestResult }
  | { kind: 'rejected'; result: IngestResult }
  | { kind: 'unavailable'; code: string; message: string; retryAfterS: number; closeConnection: boolean }

export interface IngestContext {
  pipeline: IngestPipeline
  telemetry: Telemetry
  /** Injected clock: the 5-minute future bound is relative to it. */
  now: () => Date
}

export const MAX_LISTED_ERRORS = 100
/** NDJSON rows are submitted in chunks of this many as lines arrive… */
const NDJSON_CHUNK_ROWS = 5_000
/** …with at most this many chunks of one request awaiting durability before reading on. */
const NDJSON_MAX_INFLIGHT = 2

/** One document of a JSON body: an event object, or errors found before validation (CloudEvents attributes). */
export type Candidate = { input: unknown; errors?: undefined } | { errors: FieldError[]; input?: undefined }

class Tally {
  accepted = 0
  rejected = 0
  errors: IngestError[] = []

  constructor(private readonly fieldName: (f: string) => string = (f) => f) {}

  /** `named`: the fields are already in the producer's terms (CloudEvents attribute errors), not event fields to rename. */
  reject(index: number, errors: readonly FieldError[], named = false) {
    this.rejected++
    for (const e of errors) {
      if (this.errors.length >= MAX_LISTED_ERRORS) break
      this.errors.push({ index, field: named ? e.field : this.fieldName(e.field), message: e.message })
    }
  }

  result(): IngestResult {
    return { accepted: this.accepted, rejected: this.rejected, errors: this.errors }
  }
}

const atomicFailure = (t: Tally): IngestOutcome => ({ kind: 'rejected', result: { accepted: 0, rejected: t.rejected, errors: t.errors } })

const unavailable = (u: Unavailable, closeConnection = u.closeConnection): IngestOutcome => ({ kind: 'unavailable', code: u.code, message: u.message, retryAfterS: u.retryAfterS, closeConnection })

/** Submit rows to the pipeline: undefined once durable, the `unavailable` outcome when it has no room for them. */
async function submit(ctx: IngestContext, rows: EventRow[]): Promise<IngestOutcome | undefined> {
  try {
    await ctx.pipeline.submit(rows)
  } catch (err) {
    if (err instanceof Unavailable) return unavailable(err)
    throw err
  }
}

/** The events of a JSON body, validated: the valid rows, and the count and first errors of the rest. Plain data (it crosses threads). */
export interface ValidatedEvents {
  rows: EventRow[]
  rejected: number
  errors: IngestError[]
}

/**
 * Validate the events of a JSON body (plain or CloudEvents), given whole or as chunks decoded
 * one after another (parse-json-array.ts: the event loop turns between them). Pure.
 */
export async function validateCandidates(
  candidates: readonly Candidate[] | AsyncIterable<readonly Candidate[]>,
  nowMs: number,
  fieldName?: (f: string) => string,
): Promise<ValidatedEvents> {
  const t = new Tally(fieldName)
  const rows: EventRow[] = []
  let i = 0
  for await (const chunk of Array.isArray(candidates) ? [candidates] : (candidates as AsyncIterable<readonly Candidate[]>)) {
    for (const c of chunk) {
      if (c.errors) t.reject(i, c.errors, true)
      else {
        const v = validateEvent(c.input, nowMs)
        if (v.ok) rows.push(v.row)
        else t.reject(i, v.errors)
      }
      i++
    }
  }
  return { rows, rejected: t.rejected, errors: t.errors }
}

/**
 * Store validated events: valid events are kept even when others are invalid, unless `atomic`:
 * then any invalid event rejects them all, nothing kept. Called once the whole body has been
 * decoded: a body that turns out malformed halfway keeps nothing.
 */
export async function storeValidated(ctx: IngestContext, v: ValidatedEvents, atomic: boolean): Promise<IngestOutcome> {
  ctx.telemetry.rejected.inc(v.rejected)
  const t = new Tally()
  t.rejected = v.rejected
  t.errors = v.errors
  if (atomic && t.rejected > 0) return atomicFailure(t)
  const refused = await submit(ctx, v.rows)
  if (refused) return refused
  t.accepted = v.rows.length
  return { kind: 'stored', result: t.result() }
}

/** Validate and store the events of a JSON body (validateCandidates, then storeValidated). */
export async function ingestCandidates(
  ctx: IngestContext,
  candidates: readonly Candidate[] | AsyncIterable<readonly Candidate[]>,
  opts: { atomic: boolean; fieldName?: (f: string) => string },
): Promise<IngestOutcome> {
  return storeValidated(ctx, await validateCandidates(candidates, ctx.now().getTime(), opts.fieldName), opts.atomic)
}

/**
 * Stream an NDJSON body: lines are validated as they arrive and submitted in chunks, with a
 * bounded number of chunks awaiting durability, so memory stays bounded and a slow store slows
 * the upload instead of filling the heap. A broken line is a per-line error.
 *
 * `atomic`: rows are held in memory until the body ends (the caller bounds the body size),
 * then submitted as one submission, which the batcher never splits: all or nothing.
 */
export async function ingestNdjson(
  ctx: IngestContext,
  body: AsyncIterable<Buffer>,
  opts: { atomic: boolean; maxBodyBytes: number; limitNote?: string },
): Promise<IngestOutcome> {
  const t = new Tally()
  let rows: EventRow[] = []
  const inflight: Promise<void>[] = []
  let failure: unknown = null
  const held: EventRow[] = []

  const flushChunk = () => {
    const chunk = rows
    rows = []
    const n = chunk.length
    const p = ctx.pipeline.submit(chunk).then(
      () => {
        t.accepted += n
      },
      (err) => {
        failure ??= err
      },
    )
    inflight.push(p)
  }

  // Iterated by hand: on a storage failure we stop reading without destroying the request, so
  // the refusal still reaches the client (then the connection is closed).
  const lineBatches = ndjsonLines(body, { maxLineBytes: NDJSON_MAX_LINE_BYTES, maxBodyBytes: opts.maxBodyBytes, limitNote: opts.limitNote })
  try {
    for (;;) {
      const next = await lineBatches.next()
      if (next.done) break
      const nowMs = ctx.now().getTime()
      for (const line of next.value) {
        if (line.error !== undefined) {
          t.reject(line.index, [{ field: '', message: line.error }])
          continue
        }
        const v = validateEvent(line.value, nowMs)
        if (!v.ok) t.reject(line.index, v.errors)
        else if (opts.atomic) held.push(v.row)
        else rows.push(v.row)
      }
      if (!opts.atomic && rows.length >= NDJSON_CHUNK_ROWS) {
        flushChunk()
        while (inflight.length >= NDJSON_MAX_INFLIGHT) await inflight.shift()
      }
      if (failure) break
    }
  } catch (err) {
    await Promise.all(inflight)
    if (err instanceof Refusal) throw err
    throw new BadInput('malformed', 'bad_body', `could not read the request body: ${(err as Error).message.slice(0, 200)}`)
  }
  ctx.telemetry.rejected.inc(t.rejected)
  if (opts.atomic) {
    if (t.rejected > 0) return atomicFailure(t)
    const refused = await submit(ctx, held)
    if (refused) return refused
    t.accepted = held.length
    return { kind: 'stored', result: t.result() }
  }
  if (!failure && rows.length > 0) flushChunk()
  await Promise.all(inflight)
  if (failure) {
    // The rest of the body is left unread: the connection cannot be reused.
    if (failure instanceof Unavailable) return unavailable(failure, true)
    throw failure
  }
  return { kind: 'stored', result: t.result() }
}
