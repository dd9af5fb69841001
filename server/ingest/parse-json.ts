import { BadInput } from '../errors.js'

/** `application/json`: one event object, or an array of them. */
export function eventsFromJson(body: unknown): unknown[] {
  if (Array.isArray(body)) return body
  if (body !== null && typeof body === 'object') return [body]
  throw new BadInput('malformed', 'bad_request', 'body must be an event object or an array of event objects')
}
