import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client'
import { mkdtempSync } from 'node:fs'
import { request, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startClickHouseFront, type ClickHouseFront } from '../helpers/clickhouse-front.js'
import { removeDataDir } from '../helpers/db.js'
import { loadConfig } from '../../server/config.js'
import { createRemoteStore } from '../../server/storage/remote.js'

/**
 * The ClickHouse HTTP front (test/helpers/clickhouse-front-main.ts) through the official client:
 * what the server's remote store relies on, and what a ClickHouse server does that a front could
 * get wrong (parameter escaping, settings of one request reaching the next, error codes).
 */
const dataDir = mkdtempSync(join(tmpdir(), 'aftermath-front-'))
let front: ClickHouseFront
let client: ClickHouseClient
const clients: ClickHouseClient[] = []
const connect = (url: string, extra: Parameters<typeof createClient>[0] = {}) => {
  const c = createClient({ url, log: { level: ClickHouseLogLevel.OFF }, ...extra })
  clients.push(c)
  return c
}
const rowsOf = async <T>(c: ClickHouseClient, query: string, query_params?: Record<string, unknown>, clickhouse_settings = {}) =>
  (await (await c.query({ query, query_params, format: 'JSONEachRow', clickhouse_settings })).json()) as T[]
/** A POST whose response body is returned as sent (fetch would decompress it). */
function rawPost(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject)
    req.end(body)
  })
}
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure')
    },
    (e: unknown) => e as ClickHouseError,
  )

beforeAll(async () => {
  front = await startClickHouseFront({ dataDir: join(dataDir, 'plain') })
  client = connect(front.url)
}, 60_000)
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()))
  await front?.stop()
  removeDataDir(dataDir)
})

describe('ClickHouse front: transport', () => {
  it('answers GET /ping with "Ok.\\n" and the client ping succeeds', async () => {
    const res = await fetch(`${front.url}/ping`)
    expect([res.status, await res.text()]).toEqual([200, 'Ok.\n'])
    expect(await client.ping()).toEqual({ success: true })
  })

  it('reports a supported server release through SELECT version(), as the remote store probes it', async () => {
    const res = await client.query({ query: 'SELECT version()', format: 'TabSeparated', clickhouse_settings: {} })
    const [major, minor] = (await res.text()).trim().split('.').map(Number)
    expect(major! * 100 + minor!).toBeGreaterThanOrEqual(2503)
  })

  it('echoes the query id and sends the summary and format headers', async () => {
    const res = await fetch(`${front.url}/?query_id=q-123&default_format=JSONEachRow`, { method: 'POST', body: 'SELECT number AS n FROM numbers(3)' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('{"n":0}\n{"n":1}\n{"n":2}\n')
    expect(res.headers.get('x-clickhouse-query-id')).toBe('q-123')
    expect(res.headers.get('x-clickhouse-format')).toBe('JSONEachRow')
    const summary = JSON.parse(res.headers.get('x-clickhouse-summary')!)
    expect(Object.keys(summary).sort()).toEqual(['elapsed_ns', 'read_bytes', 'read_rows', 'result_bytes'])
    expect([summary.read_rows, summary.result_bytes]).toEqual(['3', '24'])
  })

  it('takes the statement from the query parameter followed by the body, and TabSeparated by default', async () => {
    const res = await fetch(`${front.url}/?query=${encodeURIComponent('SELECT number, toString(number) FROM numbers(2) WHERE number IN')}`, { method: 'POST', body: '(0, 1)' })
    expect([res.status, await res.text()]).toEqual([200, '0\t0\n1\t1\n'])
  })

  it('runs a GET query read-only even when it asks for readonly=0, as a server does', async () => {
    const ok = await fetch(`${front.url}/?query=${encodeURIComponent('SELECT 41 + 1')}`)
    expect([ok.status, await ok.text()]).toEqual([200, '42\n'])
    const refused = await fetch(`${front.url}/?readonly=0&query=${encodeURIComponent('CREATE TABLE default.get_made (a UInt8) ENGINE = Memory')}`)
    expect(refused.headers.get('x-clickhouse-exception-code')).toBe('164')
    expect(await refused.text()).toMatch(/^Code: 164\. DB::Exception: .*readonly.* \(READONLY\) \(version 26\.[\d.]+ \(chdb\)\)\n$/)
  })

  it('compresses a response with gzip when asked (enable_http_compression=1) and reads gzip request bodies', async () => {
    const res = await rawPost(`${front.url}/?enable_http_compression=1`, 'SELECT 7', { 'accept-encoding': 'gzip' })
    expect([res.status, res.headers['content-encoding'], gunzipSync(res.body).toString()]).toEqual([200, 'gzip', '7\n'])
    const plain = await rawPost(front.url, 'SELECT 7', { 'accept-encoding': 'gzip' })
    expect([plain.headers['content-encoding'], plain.body.toString()]).toEqual([undefined, '7\n'])
    const zipped = connect(front.url, { compression: { request: true, response: true } })
    await zipped.command({ query: 'CREATE TABLE default.zipped (a UInt32, b String) ENGINE = MergeTree ORDER BY a' })
    await zipped.insert({ table: 'default.zipped', values: [{ a: 1, b: 'één' }], format: 'JSONEachRow' })
    expect(await rowsOf(zipped, 'SELECT * FROM default.zipped')).toEqual([{ a: 1, b: 'één' }])
  })

  it('refuses what it does not implement with a ClickHouse error instead of answering wrongly', async () => {
    const err = await failure(client.query({ query: 'SELECT 1', session_id: 'a-session', format: 'JSONEachRow' }))
    expect(err).toBeInstanceOf(ClickHouseError)
    expect([err.code, err.type]).toEqual(['48', 'NOT_IMPLEMENTED'])
    const empty = await fetch(front.url, { method: 'POST', body: '' })
    expect([empty.status, await empty.text()]).toEqual([400, expect.stringMatching(/^Code: 62\. DB::Exception: Empty query\. \(SYNTAX_ERROR\) \(version/)])
  })
})

describe('ClickHouse front: query parameters', () => {
  it('binds String values with quotes, backslashes, tabs, newlines, NUL and non-ASCII exactly', async () => {
    const values = ["it's", 'back\\slash', 'tab\there', 'line\nbreak\r\n', 'nul\u0000byte', 'ünïcødé ✓ 😀', '\\N', "\\'", '{x:String}', '']
    for (const s of values) {
      expect(await rowsOf(client, 'SELECT {s:String} AS s, length({s:String}) AS bytes', { s })).toEqual([{ s, bytes: Buffer.byteLength(s) }])
    }
  })

  it('binds Array(String), DateTime64(3), UInt64, Map(String, String), Nullable and numeric types', async () => {
    const params = {
      arr: ['a', "b'c", 'd\\e', 'f\tg', ''],
      at: new Date('2022-04-05T07:38:00.123Z'),
      at_text: '2022-04-05 07:38:00.456',
      big: BigInt('18446744073709551615'),
      m: { k1: "v'1", 'k\\2': 'v\n2' },
      nothing: null,
      f: -2.5,
      i: -17,
    }
    const rows = await rowsOf(
      client,
      `SELECT {arr:Array(String)} AS arr, toString({at:DateTime64(3, 'UTC')}) AS at, toString({at_text:DateTime64(3, 'UTC')}) AS at_text,
              toString({big:UInt64}) AS big, {m:Map(String, String)} AS m, {nothing:Nullable(String)} AS nothing, {f:Float64} AS f, {i:Int32} AS i`,
      params,
    )
    expect(rows).toEqual([
      { arr: params.arr, at: '2022-04-05 07:38:00.123', at_text: '2022-04-05 07:38:00.456', big: '18446744073709551615', m: params.m, nothing: null, f: -2.5, i: -17 },
    ])
  })

  it('does not keep a parameter of one request for the next', async () => {
    expect(await rowsOf(client, 'SELECT {leak:String} AS v', { leak: 'first' })).toEqual([{ v: 'first' }])
    const err = await failure(rowsOf(client, 'SELECT {leak:String} AS v'))
    expect([err.code, err.type]).toEqual(['456', 'UNKNOWN_QUERY_PARAMETER'])
  })

  it('rejects a value that is not text of the placeholder type, as a server does', async () => {
    const err = await failure(rowsOf(client, 'SELECT {n:UInt8} AS n', { n: 'not a number' }))
    expect(err).toBeInstanceOf(ClickHouseError)
    expect([err.code, err.type, err.message]).toEqual([
      '457',
      'BAD_QUERY_PARAMETER',
      "Value not a number cannot be parsed as UInt8 for query parameter 'n' because it isn't parsed completely: only 0 of 12 bytes was parsed: . ",
    ])
  })
})

describe('ClickHouse front: settings', () => {
  it('applies settings to their request only', async () => {
    const limited = { max_result_rows: '2', result_overflow_mode: 'throw' }
    const err = await failure(rowsOf(client, 'SELECT number FROM numbers(5)', undefined, limited))
    expect([err.code, err.type]).toEqual(['396', 'TOO_MANY_ROWS_OR_BYTES'])
    expect(await rowsOf(client, 'SELECT count() AS n FROM (SELECT number FROM numbers(5))')).toEqual([{ n: 5 }])
    expect(await rowsOf(client, "SELECT getSetting('max_result_rows') AS r, getSetting('date_time_output_format') AS f")).toEqual([{ r: 0, f: 'simple' }])
    expect(await rowsOf(client, "SELECT toDateTime('2022-04-05 07:38:00', 'UTC') AS t", undefined, { date_time_output_format: 'iso' })).toEqual([{ t: '2022-04-05T07:38:00Z' }])
    expect(await rowsOf(client, "SELECT toDateTime('2022-04-05 07:38:00', 'UTC') AS t")).toEqual([{ t: '2022-04-05 07:38:00' }])
  })

  it('fails a request naming an unknown setting with UNKNOWN_SETTING (404)', async () => {
    const res = await fetch(`${front.url}/?no_such_setting=1`, { method: 'POST', body: 'SELECT 1' })
    expect(res.status).toBe(404)
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('115')
    expect(await res.text()).toMatch(/^Code: 115\. DB::Exception: Unknown setting 'no_such_setting'.*\(UNKNOWN_SETTING\) \(version 26\.[\d.]+ \(chdb\)\)\n$/)
  })

  it('uses the database given by the client for that request only', async () => {
    await client.command({ query: 'CREATE DATABASE IF NOT EXISTS other_db' })
    const inOther = connect(front.url, { database: 'other_db' })
    expect(await rowsOf(inOther, 'SELECT currentDatabase() AS db')).toEqual([{ db: 'other_db' }])
    expect(await rowsOf(client, 'SELECT currentDatabase() AS db')).toEqual([{ db: 'default' }])
    const missing = connect(front.url, { database: 'no_such_db' })
    const err = await failure(rowsOf(missing, 'SELECT 1'))
    expect([err.code, err.type]).toEqual(['81', 'UNKNOWN_DATABASE'])
  })
})

describe('ClickHouse front: DDL, inserts and errors', () => {
  it('creates a database and a table, inserts JSONEachRow and JSONCompactEachRow, and reads them back', async () => {
    await client.command({ query: 'CREATE DATABASE IF NOT EXISTS front_t' })
    await client.command({ query: "CREATE TABLE front_t.ev (id String, at DateTime64(3, 'UTC'), n UInt64, tags Map(String, String)) ENGINE = MergeTree ORDER BY id" })
    await client.insert({ table: 'front_t.ev', format: 'JSONEachRow', values: [{ id: "a'1", at: '2022-04-05 07:38:00.001', n: 1, tags: { k: 'v' } }] })
    await client.insert({ table: 'front_t.ev', format: 'JSONCompactEachRow', columns: ['n', 'id', 'at', 'tags'], values: [[2, 'b\\2', '2022-04-05 07:38:00.002', {}]] })
    // The remote store's own insert: exec with the statement in the URL and the rows as a stream.
    const body = Buffer.from('["c\\t3", "2022-04-05 07:38:00.003", 3, {"x": "y"}]\n["d;4", "2022-04-05 07:38:00.004", 4, {}]\n')
    const res = await client.exec({ query: 'INSERT INTO front_t.ev (id, at, n, tags) FORMAT JSONCompactEachRow', values: Readable.from([body], { objectMode: false }) })
    res.stream.resume()
    expect(await rowsOf(client, 'SELECT id, toString(at) AS at, n, tags FROM front_t.ev ORDER BY id')).toEqual([
      { id: "a'1", at: '2022-04-05 07:38:00.001', n: 1, tags: { k: 'v' } },
      { id: 'b\\2', at: '2022-04-05 07:38:00.002', n: 2, tags: {} },
      { id: 'c\t3', at: '2022-04-05 07:38:00.003', n: 3, tags: { x: 'y' } },
      { id: 'd;4', at: '2022-04-05 07:38:00.004', n: 4, tags: {} },
    ])
    expect(await rowsOf(client, "SELECT name, engine FROM system.tables WHERE database = 'front_t'")).toEqual([{ name: 'ev', engine: 'MergeTree' }])
    await client.command({ query: 'DROP TABLE front_t.ev' })
    expect(await rowsOf(client, "SELECT count() AS n FROM system.tables WHERE database = 'front_t'")).toEqual([{ n: 0 }])
  })

  it('streams a result in the format asked for (the remote store reads CSV exports so)', async () => {
    const res = await client.exec({ query: "SELECT number AS n, concat('x,', toString(number)) AS s FROM numbers(3)\nFORMAT CSVWithNames" })
    let text = ''
    for await (const chunk of res.stream) text += chunk.toString()
    expect(text).toBe('"n","s"\n0,"x,0"\n1,"x,1"\n2,"x,2"\n')
  })

  it('reports an unknown table as ClickHouse does: HTTP 404, its code in a header and the exception text', async () => {
    const err = await failure(rowsOf(client, 'SELECT * FROM default.no_such_table'))
    expect(err).toBeInstanceOf(ClickHouseError)
    expect([err.code, err.type]).toEqual(['60', 'UNKNOWN_TABLE'])
    expect(err.message).toMatch(/^Unknown table expression identifier 'default\.no_such_table'/)
    const res = await fetch(front.url, { method: 'POST', body: 'SELECT * FROM default.no_such_table' })
    expect(res.status).toBe(404)
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('60')
    expect(await res.text()).toMatch(/^Code: 60\. DB::Exception: Unknown table expression identifier 'default\.no_such_table'.*\. \(UNKNOWN_TABLE\) \(version 26\.[\d.]+ \(chdb\)\)\n$/)
  })

  it('reports a syntax error with code 62 and HTTP 400, and a failing function with HTTP 500', async () => {
    const syntax = await fetch(front.url, { method: 'POST', body: 'SELEC 1' })
    expect([syntax.status, syntax.headers.get('x-clickhouse-exception-code')]).toEqual([400, '62'])
    const thrown = await failure(rowsOf(client, "SELECT throwIf(1, 'boom')"))
    expect([thrown.code, thrown.type]).toEqual(['395', 'FUNCTION_THROW_IF_VALUE_IS_NON_ZERO'])
    const res = await fetch(front.url, { method: 'POST', body: "SELECT throwIf(1, 'boom')" })
    expect(res.status).toBe(500)
  })

  it('keeps the tables across a restart on the same data directory', async () => {
    await client.command({ query: 'CREATE TABLE default.kept (a UInt8) ENGINE = MergeTree ORDER BY a' })
    await client.insert({ table: 'default.kept', format: 'JSONEachRow', values: [{ a: 1 }, { a: 2 }] })
    await client.close()
    await front.stop()
    front = await startClickHouseFront({ dataDir: join(dataDir, 'plain') })
    client = connect(front.url)
    expect(await rowsOf(client, 'SELECT a FROM default.kept ORDER BY a')).toEqual([{ a: 1 }, { a: 2 }])
  })
})

describe('ClickHouse front like ClickHouse Cloud (refuseEngines) and with credentials', () => {
  let cloud: ClickHouseFront
  beforeAll(async () => {
    cloud = await startClickHouseFront({ dataDir: join(dataDir, 'cloud'), refuseEngines: ['EmbeddedRocksDB'], auth: { user: 'app', password: 's3cret' } })
  }, 60_000)
  afterAll(async () => cloud?.stop())
  const rocksDb = 'CREATE TABLE default.kv (k String, v String) ENGINE = EmbeddedRocksDB PRIMARY KEY k'

  it('fails CREATE TABLE … ENGINE = EmbeddedRocksDB with the server error Code 56 UNKNOWN_STORAGE', async () => {
    const c = connect(cloud.url, { username: 'app', password: 's3cret' })
    const err = await failure(c.command({ query: rocksDb }))
    expect(err).toBeInstanceOf(ClickHouseError)
    expect([err.code, err.type, err.message]).toEqual(['56', 'UNKNOWN_STORAGE', 'Unknown table engine EmbeddedRocksDB. '])
    const spaced = await failure(c.command({ query: '/* kv */ create table if not exists default.kv2 (k String) engine=EmbeddedRocksDB primary key k' }))
    expect([spaced.code, spaced.type]).toEqual(['56', 'UNKNOWN_STORAGE'])
    expect(await rowsOf(c, "SELECT count() AS n FROM system.tables WHERE name IN ('kv', 'kv2')")).toEqual([{ n: 0 }])
  })

  it('still creates MergeTree tables, and the plain front creates the EmbeddedRocksDB table', async () => {
    const c = connect(cloud.url, { username: 'app', password: 's3cret' })
    await c.command({ query: 'CREATE TABLE default.mt (k String) ENGINE = MergeTree ORDER BY k' })
    expect(await rowsOf(c, "SELECT engine FROM system.tables WHERE database = 'default' AND name = 'mt'")).toEqual([{ engine: 'MergeTree' }])
    await client.command({ query: rocksDb })
    expect(await rowsOf(client, "SELECT engine FROM system.tables WHERE database = 'default' AND name = 'kv'")).toEqual([{ engine: 'EmbeddedRocksDB' }])
  })

  it('requires the configured credentials: a wrong password is AUTHENTICATION_FAILED (403)', async () => {
    const wrong = connect(cloud.url, { username: 'app', password: 'nope' })
    const err = await failure(rowsOf(wrong, 'SELECT 1 AS one'))
    expect([err.code, err.type]).toEqual(['516', 'AUTHENTICATION_FAILED'])
    const res = await fetch(cloud.url, { method: 'POST', body: 'SELECT 1', headers: { 'x-clickhouse-user': 'app', 'x-clickhouse-key': 'nope' } })
    expect(res.status).toBe(403)
    const byHeader = await fetch(cloud.url, { method: 'POST', body: 'SELECT 1', headers: { 'x-clickhouse-user': 'app', 'x-clickhouse-key': 's3cret' } })
    expect([byHeader.status, await byHeader.text()]).toEqual([200, '1\n'])
  })

  it("the server's storage check (/readyz) fails with wrong credentials, though /ping answers without any", async () => {
    const storeFor = (password: string) =>
      createRemoteStore(loadConfig({ CLICKHOUSE_URL: cloud.url, CLICKHOUSE_USER: 'app', CLICKHOUSE_PASSWORD: password, AFTERMATH_DATA_DIR: join(dataDir, 'unused') }))
    const [wrong, right] = [storeFor('nope'), storeFor('s3cret')]
    try {
      expect((await fetch(`${cloud.url}/ping`)).status).toBe(200)
      expect([await wrong.ping(), await right.ping()]).toEqual([false, true])
    } finally {
      await Promise.all([wrong.close(), right.close()])
    }
  })
})
