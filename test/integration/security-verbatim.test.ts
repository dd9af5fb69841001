import { parse } from 'csv-parse/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testConfig, TOKENS } from '../helpers/db.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * SQL metacharacters, placeholders, quotes, backslashes, emoji, RTL text and spreadsheet
 * formulas in every text field: stored and returned byte-for-byte through the API
 * (tenants, timeline, summary milestones, incidents, segment filters, search), CSV cells
 * that a spreadsheet would run are neutralised, and the Markdown report shows them as text.
 */
const NASTY = [
  `'; DROP TABLE events; --`,
  `Robert'); DROP TABLE tenants;-- | col`,
  `back\\slash \\' \\\\ \\n end\\`,
  `"double" 'single' \`backtick\` ''`,
  `{x:String} {incident:String} {tenant:String} {0:UInt8}`,
  `$1 ? %s %d :name @p ?? $$`,
  `emoji 🔥💥👩‍👩‍👧 and RTL \u200fשלום עולם\u200e مرحبا`,
  `<script>alert(1)</script><img src=x onerror=alert(2)>`,
  `line\nbreak\ttab\rcr`,
  `/* comment */ UNION SELECT * FROM system.tables #`,
  `=cmd|' /C calc'!A0`,
  `+SUM(A1:A2)`,
  `-2+3`,
  `@SUM(1,2)`,
  `\t=1+1`,
  `\r=1+1`,
  `%' OR '1'='1`,
  `0x00 \u0001\u001f\u007f \u2028\u2029 ÿ`,
] as const
const INCIDENT = 'sql--inj:1.0_x' // `--` is inside the allowed charset
const FORMULA_START = /^[=+\-@\t\r]/

let srv: TestServer
beforeAll(async () => {
  srv = await startTestServer(testConfig())
  const tenants = NASTY.map((s, i) => ({ tenant_id: s, name: NASTY[(i + 3) % NASTY.length], attributes: { tier: NASTY[(i + 5) % NASTY.length], seats: i + 1 } }))
  const t = await srv.api('/api/v1/tenants', { method: 'POST', body: JSON.stringify(tenants), headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
  expect([t.status, await t.json()]).toEqual([200, { accepted: NASTY.length, rejected: 0, errors: [] }])
  const events = NASTY.flatMap((s, i) => [
    { event_id: s, incident_id: INCIDENT, type: 'access_lost', occurred_at: `2022-04-05T07:${String(10 + i).padStart(2, '0')}:00.123Z`, tenant_id: s, message: NASTY[(i + 1) % NASTY.length] },
    { event_id: `comm ${s}`, incident_id: INCIDENT, type: 'communication', channel: 'email', occurred_at: '2022-04-05T09:00:00Z', tenant_id: s, message: s },
    { event_id: `ms ${s}`, incident_id: INCIDENT, type: 'milestone', occurred_at: `2022-04-05T10:${String(10 + i).padStart(2, '0')}:00Z`, label: s },
  ])
  const e = await srv.api('/api/v1/events', { method: 'POST', body: JSON.stringify(events), headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
  expect([e.status, await e.json()]).toEqual([200, { accepted: events.length, rejected: 0, errors: [] }])
  const p = await srv.api(`/api/v1/incidents/${INCIDENT}`, { method: 'PUT', body: JSON.stringify({ title: NASTY[0], description: NASTY[2] }), headers: { 'content-type': 'application/json' }, token: TOKENS.ingest })
  expect(p.status).toBe(200)
})
afterAll(async () => srv?.stop())

const AS_OF = 'as_of=2022-04-06T00:00:00Z'
const getJson = async (path: string) => {
  const res = await srv.api(path, { token: TOKENS.read })
  const text = await res.text()
  expect(res.status, text.slice(0, 300)).toBe(200)
  return JSON.parse(text)
}
const base = `/api/v1/incidents/${encodeURIComponent(INCIDENT)}`

describe('SQL metacharacters and odd text are stored and returned verbatim', () => {
  it('the tenants table returns every tenant id, name and attribute exactly as sent', async () => {
    const page = await getJson(`${base}/tenants?limit=1000&sort=tenant_id&order=asc&${AS_OF}`)
    expect(page.total).toBe(NASTY.length)
    const got = new Map<string, { name: string; attributes: Record<string, unknown> }>(page.rows.map((r: { tenant_id: string }) => [r.tenant_id, r]))
    NASTY.forEach((s, i) => {
      expect(got.get(s), JSON.stringify(s)).toBeDefined()
      expect(got.get(s)!.name).toBe(NASTY[(i + 3) % NASTY.length])
      expect(got.get(s)!.attributes.tier).toBe(NASTY[(i + 5) % NASTY.length])
    })
  })

  it.each(NASTY.map((s) => [JSON.stringify(s), s] as const))('timeline of tenant %s: event ids and messages verbatim', async (_l, s) => {
    const i = NASTY.indexOf(s)
    const tl = await getJson(`${base}/tenants/${encodeURIComponent(s)}/timeline?${AS_OF}`)
    expect(tl.tenant_id).toBe(s)
    expect(tl.events.map((e: { event_id: string; message: string }) => [e.event_id, e.message])).toEqual([
      [s, NASTY[(i + 1) % NASTY.length]],
      [`comm ${s}`, s],
    ])
    expect(tl.row.name).toBe(NASTY[(i + 3) % NASTY.length])
  })

  it('milestone labels, the incident id and its title come back verbatim', async () => {
    const sum = await getJson(`${base}/summary?${AS_OF}`)
    expect(sum.incident_id).toBe(INCIDENT)
    expect(sum.affected).toBe(NASTY.length)
    expect(sum.milestones.events.map((m: { label: string }) => m.label)).toEqual([...NASTY])
    const list = await getJson(`/api/v1/incidents?${AS_OF}`)
    expect(list.incidents.map((x: { incident_id: string; title: string }) => [x.incident_id, x.title])).toEqual([[INCIDENT, NASTY[0]]])
  })

  it.each(NASTY.map((s) => [JSON.stringify(s), s] as const))('segment filter attr.tier=%s and search q= find exactly the matching tenant', async (_l, s) => {
    const i = NASTY.indexOf(s)
    const owner = NASTY[(i - 5 + NASTY.length) % NASTY.length] // the tenant whose tier is s
    const byAttr = await getJson(`${base}/tenants?${AS_OF}&${new URLSearchParams({ 'attr.tier': s })}`)
    expect(byAttr.rows.map((r: { tenant_id: string }) => r.tenant_id)).toEqual([owner])
    const sum = await getJson(`${base}/summary?${AS_OF}&${new URLSearchParams({ 'attr.tier': s })}`)
    expect(sum.affected).toBe(1)
    const search = await getJson(`${base}/tenants?${AS_OF}&limit=1000&${new URLSearchParams({ q: s })}`)
    const expected = NASTY.filter((t, j) => t.toLowerCase().includes(s.toLowerCase()) || NASTY[(j + 3) % NASTY.length]!.toLowerCase().includes(s.toLowerCase()))
    expect(search.rows.map((r: { tenant_id: string }) => r.tenant_id).sort()).toEqual([...expected].sort())
  })
})

describe('CSV export', () => {
  it('returns every cell verbatim, except that a cell a spreadsheet would run as a formula starts with an apostrophe', async () => {
    const res = await srv.api(`${base}/tenants.csv?${AS_OF}`, { token: TOKENS.read })
    expect(res.status).toBe(200)
    const records: Record<string, string>[] = parse(await res.text(), { columns: true })
    expect(records).toHaveLength(NASTY.length)
    const neutral = (s: string) => (FORMULA_START.test(s) ? `'${s}` : s)
    const byId = new Map(records.map((r) => [r.tenant_id, r]))
    NASTY.forEach((s, i) => {
      const row = byId.get(neutral(s))
      expect(row, JSON.stringify(s)).toBeDefined()
      expect(row!.name).toBe(neutral(NASTY[(i + 3) % NASTY.length]!))
      expect(JSON.parse(row!.attributes).tier).toBe(NASTY[(i + 5) % NASTY.length])
    })
    // No cell at all starts with a formula character.
    for (const r of records) for (const [k, v] of Object.entries(r)) if (k !== 'downtime_s' && k !== 'first_contact_latency_s') expect(v, `${k}=${JSON.stringify(v)}`).not.toMatch(FORMULA_START)
    // The formula payloads were there to neutralise.
    expect(NASTY.filter((s) => FORMULA_START.test(s)).length).toBeGreaterThanOrEqual(6)
  })
})

describe('Markdown report', () => {
  it('shows names as text: no raw HTML outside code spans, no table cell split by a name, titles and labels readable', async () => {
    const res = await srv.api(`${base}/report.md?${AS_OF}`, { token: TOKENS.read })
    expect(res.status).toBe(200)
    const md = await res.text()
    const lines = md.split('\n')
    // Outside code spans, every < is escaped (no HTML), and no line begins a block with raw HTML.
    const prose = md.replace(/`[^`\n]*`/g, '')
    expect(prose).not.toMatch(/(^|[^\\])</m)
    // Each table keeps its column count on every row, whatever `|` the names and ids hold.
    const cells = (l: string) => l.split(/(?<!\\)\|/).length
    let columns = 0
    for (const l of lines) {
      if (!l.startsWith('|')) columns = 0
      else if (columns === 0) columns = cells(l)
      else expect(cells(l), l).toBe(columns)
    }
    expect(lines.filter((l) => l.startsWith('|')).length).toBeGreaterThan(10)
    // Unescaping Markdown backslash escapes gives back the title and milestone labels as sent.
    const unescaped = md.replace(/\\([\\`*_{}[\]()<>#|!~])/g, '$1')
    expect(unescaped).toContain(`# ${NASTY[0]}`)
    expect(unescaped).toContain('<script>alert(1)</script>')
  })
})
