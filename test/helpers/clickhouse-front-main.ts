import { Session } from 'chdb'
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import zlib from 'node:zlib'
import type { ClickHouseFrontOptions } from './clickhouse-front.js'

/**
 * A ClickHouse HTTP interface (the subset @clickhouse/client 1.x speaks) in front of the embedded
 * engine: every statement is run by the real ClickHouse engine of chdb; only the transport is
 * emulated here. Run as its own process by startClickHouseFront (clickhouse-front.ts): chdb binds
 * one data directory per process.
 *
 * Implemented: GET/HEAD /ping and / ("Ok.\n"); GET and POST / with the statement in `query`, in
 * the body, or begun in `query` and continued in the body (an INSERT's rows); `param_<name>`
 * query parameters; every other URL parameter as a setting of that request; `database`,
 * `default_format`, `query_id`; GET read-only; request bodies in gzip, deflate or br; responses in
 * gzip, deflate or br with enable_http_compression=1; credentials by basic auth, X-ClickHouse-User/Key
 * or user/password (checked only when configured); the headers X-ClickHouse-Query-Id, -Format,
 * -Summary, -Timezone and, on failure, -Exception-Code with the server's HTTP status and body.
 *
 * Not implemented, refused with NOT_IMPLEMENTED (501): session_id, ClickHouse's native
 * compression (compress/decompress), multipart parameters. Results are sent whole once the
 * statement has finished (as with wait_end_of_query=1), so an error never arrives mid-stream.
 * Unlike a server, the engine accepts several statements separated by `;` in one request.
 *
 * Each request gets a fresh chdb session, so the settings, query parameters and database of one
 * request never reach the next (a session keeps every SET). Requests run one at a time.
 */
const opts = JSON.parse(process.env.CLICKHOUSE_FRONT_OPTIONS ?? 'null') as ClickHouseFrontOptions | null
if (!opts?.dataDir) throw new Error('CLICKHOUSE_FRONT_OPTIONS must give a dataDir')
const dataPath = resolve(opts.dataDir)
mkdirSync(dataPath, { recursive: true })

/** Kept open for the life of the process so the engine stays loaded between request sessions. */
const root = new Session(dataPath)
const [VERSION = '', TIMEZONE = 'UTC'] = root.query('SELECT version(), timezone()', 'TabSeparated').trim().split('\t')
const DISPLAY_NAME = hostname()
/** Request bodies are buffered whole (tests are modest); a larger one is refused as the server refuses an oversized query. */
const MAX_BODY_BYTES = 512 * 1024 * 1024

/** URL parameters the HTTP handler reads itself; every other one (apart from param_*) is a setting. */
const HANDLER_PARAMS = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'close_session',
  'user',
  'password',
  'quota_key',
  'role',
  'compress',
  'decompress',
  'buffer_size',
  'wait_end_of_query',
  'stacktrace',
  'client_protocol_version',
])

/** ClickHouse's HTTP status for an exception (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp), by error name. */
const STATUS_BY_ERROR: Record<string, number> = {
  REQUIRED_PASSWORD: 401,
  ...names(403, 'UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED SET_NON_GRANTED_ROLE ACCESS_DENIED'),
  ...names(
    400,
    'BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE CANNOT_PARSE_QUOTED_STRING CANNOT_PARSE_DATE ' +
      'CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6 ' +
      'CANNOT_PARSE_INPUT_ASSERTION_FAILED CANNOT_PARSE_UUID DUPLICATE_COLUMN ILLEGAL_COLUMN UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE ' +
      'THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
  ),
  ...names(
    404,
    'UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE UNKNOWN_DATABASE UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING ' +
      'UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE',
  ),
  QUERY_IS_TOO_LARGE: 413,
  NOT_IMPLEMENTED: 501,
  ...names(503, 'SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK'),
  HTTP_LENGTH_REQUIRED: 411,
  TIMEOUT_EXCEEDED: 408,
  UNSUPPORTED_MEDIA_TYPE: 415,
}
function names(status: number, list: string): Record<string, number> {
  return Object.fromEntries(list.split(' ').map((n) => [n, status]))
}

/** An exception as ClickHouse reports it: `Code: N. DB::Exception: message. (NAME)`. */
class FrontError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(`Code: ${code}. DB::Exception: ${message}. (${codeName})`)
  }
}

/** chdb raises the engine's exception text (sometimes after a prefix of its own); anything else becomes ClickHouse's STD_EXCEPTION. */
function asException(err: unknown): { code: number; name: string; text: string } {
  const message = (err instanceof Error ? err.message : String(err)).trim()
  const start = message.search(/Code: \d+\. /)
  const code = /^Code: (\d+)\./.exec(message.slice(Math.max(start, 0)))?.[1]
  const name = /\(([A-Z0-9_]+)\)$/.exec(message)?.[1]
  if (start >= 0 && code && name) return { code: Number(code), name, text: message.slice(start) }
  return { code: 1001, name: 'STD_EXCEPTION', text: `Code: 1001. DB::Exception: ${message}. (STD_EXCEPTION)` }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
/** A ClickHouse string literal holding `value` exactly. */
const literal = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
const quoteIdentifier = (name: string) => `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``

/**
 * The statements that set up a request's session, as the server applies a request's URL:
 * `database`, every setting (all values are text, as in the URL; the engine converts them), and
 * every `param_<name>`. A server parses a parameter's URL value as escaped text of the
 * placeholder's type; `SET param_<name> = '<that text>'` hands the engine the same text.
 */
function preamble(url: URL, method: string): string[] {
  const out: string[] = []
  const database = url.searchParams.get('database')
  if (database) out.push(`USE ${quoteIdentifier(database)}`)
  for (const [key, value] of url.searchParams) {
    if (HANDLER_PARAMS.has(key)) continue
    const isParam = key.startsWith('param_')
    const name = isParam ? key.slice('param_'.length) : key
    if (!IDENTIFIER.test(name)) {
      throw isParam ? new FrontError(36, 'BAD_ARGUMENTS', `Query parameter name '${name}' is not an identifier`) : new FrontError(115, 'UNKNOWN_SETTING', `Unknown setting '${key}'`)
    }
    out.push(`SET ${key} = ${literal(value)}`)
  }
  // Only a POST may change data: a server turns readonly = 0 into 2 (settings may still change) for any other method.
  if (method !== 'POST' && (url.searchParams.get('readonly') ?? '0') === '0') out.push(`SET readonly = '2'`)
  return out
}

/** Leading whitespace and comments of a statement (to see which statement it is). */
const LEADING_NOISE = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/

/**
 * ClickHouse Cloud has no such engine: a CREATE or ATTACH naming one fails as a server without it
 * fails. The engine is named case-sensitively (as ClickHouse does), the ENGINE keyword in any case.
 */
function refuseEngine(sql: string): void {
  const refused = opts!.refuseEngines ?? []
  if (refused.length === 0) return
  const statement = sql.replace(LEADING_NOISE, '')
  if (!/^(CREATE|ATTACH)\b/i.test(statement)) return
  for (const engine of refused) {
    if (new RegExp(`\\b[Ee][Nn][Gg][Ii][Nn][Ee]\\s*=\\s*${engine}\\b`).test(statement)) {
      throw new FrontError(56, 'UNKNOWN_STORAGE', `Unknown table engine ${engine}`)
    }
  }
}

/** The output format ClickHouse reports in X-ClickHouse-Format: a trailing FORMAT clause, else default_format. */
function outputFormat(sql: string, defaultFormat: string): string {
  return /\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$/i.exec(sql)?.[1] ?? defaultFormat
}

function contentType(format: string): string {
  if (/^(TabSeparated|TSV)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8'
  if (/^CSV/i.test(format)) return 'text/csv; charset=UTF-8; header=absent'
  if (/^JSON/i.test(format)) return 'application/json; charset=UTF-8'
  return 'text/plain; charset=UTF-8'
}

function checkAuth(req: IncomingMessage, url: URL): void {
  if (!opts!.auth) return
  let user = url.searchParams.get('user') ?? (req.headers['x-clickhouse-user'] as string | undefined)
  let password = url.searchParams.get('password') ?? (req.headers['x-clickhouse-key'] as string | undefined)
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    user = decoded.slice(0, colon < 0 ? undefined : colon)
    password = colon < 0 ? '' : decoded.slice(colon + 1)
  }
  user ||= 'default'
  if (user !== opts!.auth.user || (password ?? '') !== opts!.auth.password) {
    throw new FrontError(516, 'AUTHENTICATION_FAILED', `${user}: Authentication failed: password is incorrect, or there is no user with such name`)
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new FrontError(229, 'QUERY_IS_TOO_LARGE', `Request body is larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  const raw = Buffer.concat(chunks)
  const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase()
  if (!encoding || encoding === 'identity') return raw
  const inflate = (fn: (b: Buffer) => Buffer) => {
    try {
      return fn(raw)
    } catch (err) {
      throw new FrontError(354, 'ZLIB_INFLATE_FAILED', `inflate failed: ${(err as Error).message}`)
    }
  }
  if (encoding === 'gzip' || encoding === 'x-gzip') return inflate(zlib.gunzipSync)
  if (encoding === 'deflate') return inflate(zlib.inflateSync)
  if (encoding === 'br') return inflate(zlib.brotliDecompressSync)
  if (encoding === 'zstd' && 'zstdDecompressSync' in zlib) return inflate((zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync)
  throw new FrontError(48, 'NOT_IMPLEMENTED', `Unknown HTTP content encoding '${encoding}'`)
}

/** The response body compressed as the client asked (enable_http_compression=1 and Accept-Encoding), else as is. */
function compress(req: IncomingMessage, url: URL, body: Buffer): { body: Buffer; encoding?: string } {
  if (url.searchParams.get('enable_http_compression') !== '1') return { body }
  for (const wanted of (req.headers['accept-encoding'] ?? '').split(',').map((e) => e.trim().split(';')[0]!.toLowerCase())) {
    if (wanted === 'gzip') return { body: zlib.gzipSync(body), encoding: 'gzip' }
    if (wanted === 'deflate') return { body: zlib.deflateSync(body), encoding: 'deflate' }
    if (wanted === 'br') return { body: zlib.brotliCompressSync(body), encoding: 'br' }
  }
  return { body }
}

/** chdb runs bound statements one at a time anyway; running whole requests in turn keeps each request's session state its own. */
let tail: Promise<unknown> = Promise.resolve()
let inFlight = 0
function inTurn<T>(fn: () => Promise<T>): Promise<T> {
  inFlight++
  const run = tail.then(fn, fn).finally(() => inFlight--)
  tail = run.catch(() => {})
  return run
}

interface Outcome {
  body: Buffer
  summary: Record<string, string>
}

/** One statement in a fresh session of its own. */
async function execute(setup: string[], sql: string, format: string): Promise<Outcome> {
  const session = new Session(dataPath)
  try {
    if (setup.length > 0) await session.queryAsync(setup.join(';\n'), { format: 'TabSeparated' })
    const result = await session.queryAsync(sql, { format })
    const body = Buffer.from(result.bytes())
    // What the engine reports of a statement; it gives no written rows for an inline INSERT, so they are not invented here.
    const summary = {
      read_rows: String(result.rowsRead),
      read_bytes: String(result.bytesRead),
      result_bytes: String(body.length),
      elapsed_ns: String(Math.round(result.elapsed * 1e9)),
    }
    return { body, summary }
  } finally {
    session.close()
  }
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://front')
  const method = req.method ?? 'GET'
  const queryId = url.searchParams.get('query_id') || randomUUID()
  res.setHeader('X-ClickHouse-Server-Display-Name', DISPLAY_NAME)
  if (url.pathname === '/ping' || url.pathname === '/replicas_status' || (url.pathname === '/' && method !== 'POST' && !url.searchParams.has('query'))) {
    req.resume()
    res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' }).end(method === 'HEAD' ? undefined : 'Ok.\n')
    return
  }
  if (url.pathname !== '/' || (method !== 'GET' && method !== 'POST')) {
    req.resume()
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' }).end(`There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`)
    return
  }
  res.setHeader('X-ClickHouse-Query-Id', queryId)
  res.setHeader('X-ClickHouse-Timezone', TIMEZONE)
  try {
    checkAuth(req, url)
    for (const unsupported of ['session_id', 'compress', 'decompress']) {
      if (url.searchParams.get(unsupported) && url.searchParams.get(unsupported) !== '0') {
        throw new FrontError(48, 'NOT_IMPLEMENTED', `the ClickHouse test front does not implement '${unsupported}'`)
      }
    }
    if ((req.headers['content-type'] ?? '').startsWith('multipart/')) {
      throw new FrontError(48, 'NOT_IMPLEMENTED', 'the ClickHouse test front does not implement multipart requests (use_multipart_params)')
    }
    const body = await readBody(req)
    // As the server does: the `query` parameter, then the body as the rest of the statement (an INSERT's data).
    const param = url.searchParams.get('query')
    const sql = param ? (body.length > 0 ? `${param}\n${body.toString('utf8')}` : param) : body.toString('utf8')
    if (sql.trim() === '') throw new FrontError(62, 'SYNTAX_ERROR', 'Empty query')
    const setup = preamble(url, method)
    refuseEngine(sql)
    const defaultFormat = url.searchParams.get('default_format') || 'TabSeparated'
    const { body: out, summary } = await inTurn(() => execute(setup, sql, defaultFormat))
    const format = outputFormat(sql, defaultFormat)
    const sent = compress(req, url, out)
    res.writeHead(200, {
      'Content-Type': contentType(format),
      'X-ClickHouse-Format': format,
      'X-ClickHouse-Summary': JSON.stringify(summary),
      ...(sent.encoding ? { 'Content-Encoding': sent.encoding } : {}),
    })
    res.end(sent.body)
  } catch (err) {
    const e = err instanceof FrontError ? { code: err.code, name: err.codeName, text: err.message } : asException(err)
    req.resume()
    res.writeHead(STATUS_BY_ERROR[e.name] ?? 500, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Exception-Code': String(e.code),
    })
    res.end(`${e.text} (version ${VERSION} (chdb))\n`)
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    // Only a failure to write the response itself ends up here (the client went away).
    if (!res.headersSent) res.writeHead(500).end(String(err))
    else res.destroy()
  })
})
server.keepAliveTimeout = 10_000
server.listen(opts.port ?? 0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  console.log(`clickhouse-front listening on http://127.0.0.1:${port}`)
})

/** A front whose test process is gone (killed before its afterAll) has no one left to serve: it goes too. */
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM')
}, 1000).unref()

/** SIGTERM: stop listening, let the statements already taken finish, close the engine. */
process.once('SIGTERM', () => {
  server.close()
  server.closeIdleConnections()
  const waitThenExit = () => {
    if (inFlight > 0) return void setTimeout(waitThenExit, 20)
    root.close()
    process.exit(0)
  }
  waitThenExit()
})
