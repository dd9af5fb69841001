import { isIPv6 } from 'node:net'
import { isWellFormed } from '../domain/events.js'
import type { FieldError } from './validate.js'

/**
 * The attribute rules of CloudEvents 1.0.2 (spec.md "Context Attributes", json-format.md §2, and
 * the HTTP binding's header decoding, §3.1.3.2): pure, no exceptions. Every message names what the
 * specification requires, prefixed "CloudEvents 1.0:", so a producer can tell a broken CloudEvent
 * from one that is valid but does not suit Aftermath (those messages say "Aftermath").
 */

/** How the attributes arrived: members of a JSON object (typed JSON values), or `ce-*` headers (strings). */
export type AttributeSource = 'json' | 'headers'

export const CE = 'CloudEvents 1.0:'

const REQUIRED = ['id', 'source', 'specversion', 'type'] as const
const OPTIONAL = ['datacontenttype', 'dataschema', 'subject', 'time'] as const
const CORE_LIST = [...REQUIRED, ...OPTIONAL]
const CORE = new Set<string>(CORE_LIST)
/** Members of a JSON-format event that are not attributes (json-format §3.1). */
export const DATA_MEMBERS = new Set(['data', 'data_base64'])
/** At most this many bad extension names or values are listed per event: a million of them must not cost a million messages. */
const MAX_EXTENSION_ERRORS = 10

// RFC 3986 §3 grammar, as regular expressions whose alternatives start on disjoint characters (no runaway backtracking).
const UNRESERVED = 'A-Za-z0-9\\-._~'
const SUB_DELIMS = "!$&'()*+,;="
const PCT = '%[0-9A-Fa-f]{2}'
const PCHAR = `(?:[${UNRESERVED}${SUB_DELIMS}:@]|${PCT})`
const SEGMENT = `${PCHAR}*`
const SEGMENT_NZ = `${PCHAR}+`
const SEGMENT_NZ_NC = `(?:[${UNRESERVED}${SUB_DELIMS}@]|${PCT})+`
const QUERY_OR_FRAGMENT = `(?:${PCHAR}|[/?])*`
const SCHEME = '[A-Za-z][A-Za-z0-9+\\-.]*'
// The IP-literal's inside is captured and checked apart (IPv6 by node:net, or IPvFuture).
const IP_LITERAL = `\\[([0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\\.[${UNRESERVED}${SUB_DELIMS}:]+)\\]`
const AUTHORITY = `(?:(?:[${UNRESERVED}${SUB_DELIMS}:]|${PCT})*@)?(?:${IP_LITERAL}|(?:[${UNRESERVED}${SUB_DELIMS}]|${PCT})*)(?::[0-9]*)?`
const PATH_ABEMPTY = `(?:/${SEGMENT})*`
const PATH_ABSOLUTE = `/(?:${SEGMENT_NZ}(?:/${SEGMENT})*)?`
const HIER_PART = `(?://${AUTHORITY}${PATH_ABEMPTY}|${PATH_ABSOLUTE}|${SEGMENT_NZ}(?:/${SEGMENT})*|)`
const RELATIVE_PART = `(?://${AUTHORITY}${PATH_ABEMPTY}|${PATH_ABSOLUTE}|${SEGMENT_NZ_NC}(?:/${SEGMENT})*|)`
/** RFC 3986 §4.3 absolute-URI: scheme ":" hier-part [ "?" query ] (no fragment). */
const ABSOLUTE_URI = new RegExp(`^${SCHEME}:${HIER_PART}(?:\\?${QUERY_OR_FRAGMENT})?$`)
/** RFC 3986 §4.1 URI-reference: URI / relative-ref. */
const URI_REFERENCE = new RegExp(`^(?:${SCHEME}:${HIER_PART}|${RELATIVE_PART})(?:\\?${QUERY_OR_FRAGMENT})?(?:#${QUERY_OR_FRAGMENT})?$`)

function uriMatches(re: RegExp, s: string): boolean {
  const m = re.exec(s)
  if (!m) return false
  const ipLiteral = m.slice(1).find((g) => g !== undefined)
  return ipLiteral === undefined || /^[vV]/.test(ipLiteral) || isIPv6(ipLiteral)
}
export const isUriReference = (s: string): boolean => uriMatches(URI_REFERENCE, s)
export const isAbsoluteUri = (s: string): boolean => uriMatches(ABSOLUTE_URI, s)

// RFC 2045 §5.1 (which RFC 2046 builds on): type "/" subtype *(";" attribute "=" value), value a token or quoted-string.
const TOKEN = "[!#$%&'*+\\-.0-9A-Z^_`a-z{|}~]+"
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"(?:[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\t\\x20-\\x7e])*"))*[ \\t]*$`)
export const isMediaType = (s: string): boolean => MEDIA_TYPE.test(s)

/** json-format §3.1.1: a media type declares JSON when, stripped of parameters, it is `*\/json` or `*\/*+json`. */
export function isJsonMediaType(s: string): boolean {
  const type = s.split(';')[0]!.trim().toLowerCase()
  return /^[^/\s]+\/(?:[^/\s]*\+)?json$/.test(type)
}

// RFC 3339 §5.6 date-time; "T" and "Z" may be lower case (§5.6 NOTE), and a space may separate date and time (the same NOTE).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
export function isRfc3339(s: string): boolean {
  const m = RFC3339.exec(s)
  if (!m) return false
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]! + (month === 2 && leap ? 1 : 0)) return false
  // Second 60 is a leap second, which RFC 3339 allows; storing it is another matter (Aftermath refuses it as occurred_at).
  if (hour > 23 || minute > 59 || second > 60) return false
  return m[7] === undefined || (Number(m[7]) <= 23 && Number(m[8]) <= 59)
}

/** RFC 4648 §4 base64, padded, nothing outside the alphabet (§3.3: such data MUST be rejected). */
export const isBase64 = (s: string): boolean => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)

/**
 * spec.md "Type System", String: no control characters (U+0000–001F, U+007F–009F) and no Unicode
 * noncharacters (U+FDD0–FDEF, and the last two code points of each of the 17 planes).
 */
const PLANE_ENDS = Array.from({ length: 16 }, (_, i) => `\\u{${(i + 1).toString(16)}fffe}\\u{${(i + 1).toString(16)}ffff}`).join('')
const DISALLOWED = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f\\ufdd0-\\ufdef\\ufffe\\uffff${PLANE_ENDS}]`, 'u')
/** Why `s` is not a CloudEvents String, or null. */
function stringProblem(s: string): string | null {
  if (!isWellFormed(s)) return 'contains an unpaired surrogate, which a String may not'
  const bad = DISALLOWED.exec(s)
  if (bad) return `contains U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}, a control character or noncharacter, which a String may not`
  return null
}

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

/** Why a core attribute's value breaks its type and constraints (spec.md "REQUIRED/OPTIONAL Attributes"), or null. */
function coreProblem(name: string, v: unknown): string | null {
  if (typeof v !== 'string') return `must be a string (got ${describe(v)})`
  if (v === '') return 'must be a non-empty string'
  switch (name) {
    case 'specversion':
      return v === '1.0' ? null : `must be "1.0", the version implemented here (got "${v.slice(0, 16)}")`
    case 'source':
      return isUriReference(v) ? null : 'must be a URI-reference (RFC 3986 §4.1): no spaces, quotes or other characters outside the URI grammar, and % only as %XX'
    case 'dataschema':
      return isAbsoluteUri(v) ? null : 'must be an absolute URI (RFC 3986 §4.3): a scheme such as https:, and no #fragment'
    case 'time':
      return isRfc3339(v) ? null : 'must be an RFC 3339 timestamp such as 2022-04-05T07:38:00Z'
    case 'datacontenttype':
      return isMediaType(v) ? null : 'must be a media type (RFC 2046) such as application/json'
    default:
      return stringProblem(v)
  }
}

/** Why an extension attribute's JSON value is not of the CloudEvents type system (json-format §2.2), or null. */
function extensionValueProblem(v: unknown, from: AttributeSource): string | null {
  if (typeof v === 'string') return stringProblem(v)
  if (from === 'json' && typeof v === 'boolean') return null
  if (from === 'json' && typeof v === 'number') {
    if (!Number.isInteger(v)) return `must be a string, a boolean or an integer; ${v} is not an integer`
    if (v < INT32_MIN || v > INT32_MAX) return `is an integer outside -2,147,483,648..2,147,483,647, the range of Integer`
    return null
  }
  return `must be a string, a boolean or an integer (got ${describe(v)})`
}

/** spec.md "Attribute Naming Convention": lower-case ASCII letters and digits only. */
export const isAttributeName = (name: string): boolean => /^[a-z0-9]+$/.test(name)

const fieldError = (field: string, message: string): FieldError => ({ field, message: `${CE} ${message}` })

/**
 * Check the context attributes of one event: `attrs` holds every attribute given (data members
 * excluded), with JSON `null`s already removed (json-format §2.2: null is unset). Returns the
 * violations, each naming its attribute; empty when the attributes make a valid CloudEvent.
 */
export function attributeErrors(attrs: Record<string, unknown>, from: AttributeSource): FieldError[] {
  const errors: FieldError[] = []
  for (const name of REQUIRED) {
    if (attrs[name] === undefined) errors.push(fieldError(name, from === 'headers' ? `is required (header ce-${name})` : 'is required'))
  }
  for (const name of CORE_LIST) {
    if (attrs[name] === undefined) continue
    const problem = coreProblem(name, attrs[name])
    if (problem) errors.push(fieldError(name, problem))
  }
  let extensionErrors = 0
  for (const name in attrs) {
    if (CORE.has(name) || extensionErrors >= MAX_EXTENSION_ERRORS) continue
    const field = name.slice(0, 64)
    if (name === 'data') {
      extensionErrors++
      errors.push(fieldError(field, 'no attribute may be named "data": the JSON format holds the event data under that name'))
    } else if (!isAttributeName(name)) {
      extensionErrors++
      errors.push(fieldError(field, "is not a valid attribute name: names consist of lower-case letters 'a' to 'z' and digits '0' to '9' only"))
    } else {
      const problem = extensionValueProblem(attrs[name], from)
      if (problem) {
        extensionErrors++
        errors.push(fieldError(field, problem))
      }
    }
  }
  return errors
}

/**
 * An HTTP header value decoded into an attribute value (HTTP binding §3.1.3.2): double-quoted
 * strings unescaped first (RFC 7230 §3.2.6), then one round of percent-decoding, which must give
 * valid UTF-8. Returns the value, or why it cannot be decoded.
 */
export function decodeHeaderValue(raw: string): { value: string } | { problem: string } {
  let unquoted = raw
  if (raw.includes('"')) {
    unquoted = ''
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] !== '"') {
        unquoted += raw[i]
        continue
      }
      let closed = false
      for (i++; i < raw.length; i++) {
        if (raw[i] === '"') {
          closed = true
          break
        }
        if (raw[i] === '\\') i++
        if (i < raw.length) unquoted += raw[i]
      }
      if (!closed) return { problem: 'has a double-quoted string that is never closed' }
    }
  }
  try {
    return { value: decodeURIComponent(unquoted) }
  } catch {
    return { problem: 'is not validly percent-encoded: % must be followed by two hex digits, and the bytes must be UTF-8 (encode % itself as %25)' }
  }
}
