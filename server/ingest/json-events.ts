import { BadInput, type InputProblem } from '../errors.js'
import { validateCandidates, type Candidate, type ValidatedEvents } from './events.js'
import { cloudEventField, cloudEventsFromBody, mapStructuredCloudEvent, type MappedCloudEvent } from './parse-cloudevents.js'
import { eventsFromJson } from './parse-json.js'
import { decodeJsonBody } from './parse-json-array.js'

/** How a JSON events body is written (its Content-Type). */
export type JsonEventsFormat = 'json' | 'cloudevents' | 'cloudevents-batch'

/** A mapped CloudEvent as a candidate for validation: the event, or the attribute errors that stopped it. */
export const fromMapped = (m: MappedCloudEvent): Candidate => (m.errors ? { errors: m.errors } : { input: m.event })

/** Each element of a decoded array body as `map` gives it, chunk by chunk. */
async function* mapChunks<T>(chunks: AsyncIterable<unknown[]>, map: (v: unknown) => T): AsyncGenerator<T[]> {
  for await (const chunk of chunks) yield chunk.map(map)
}

/**
 * Decode and validate a whole JSON events body: plain events (an object or an array of them) or
 * CloudEvents (one, or a batch). Pure: it runs on the event loop for small bodies and on a worker
 * thread for large ones (json-workers.ts). A malformed or too large body throws its BadInput.
 */
export async function validateJsonEvents(buf: Buffer, format: JsonEventsFormat, nowMs: number): Promise<ValidatedEvents> {
  const body = decodeJsonBody(buf)
  if (format === 'json') {
    const candidates = body.kind === 'array' ? mapChunks(body.chunks, (input) => ({ input })) : eventsFromJson(body.value).map((input) => ({ input }))
    return validateCandidates(candidates, nowMs)
  }
  const batch = format === 'cloudevents-batch'
  const candidates =
    body.kind === 'value'
      ? cloudEventsFromBody(body.value, batch).map(fromMapped)
      : batch
        ? mapChunks(body.chunks, (ce) => fromMapped(mapStructuredCloudEvent(ce)))
        : cloudEventsFromBody([], false).map(fromMapped) // throws: an array is not one CloudEvent
  return validateCandidates(candidates, nowMs, cloudEventField)
}

/** A BadInput as plain data, and back (errors cross the worker boundary as messages). */
export type PlainBadInput = { problem: InputProblem; code: string; message: string; closeConnection: boolean }
export const toPlain = (e: BadInput): PlainBadInput => ({ problem: e.problem, code: e.code, message: e.message, closeConnection: e.closeConnection })
export const fromPlain = (e: PlainBadInput) => new BadInput(e.problem, e.code, e.message, e.closeConnection)
