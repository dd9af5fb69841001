import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { crc32 } from 'node:zlib'
import { Spool, type SpoolFormat } from '../../server/ingest/spool.js'

const log = pino({ level: 'silent' })
const dirs: string[] = []
const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'aftermath-spool-'))
  dirs.push(d)
  return join(d, 'spool')
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const batch = (ids: string[], incident = 'inc-1', format: SpoolFormat = 'JSONEachRow') => ({
  rows: ids.length,
  incidents: [incident],
  body: Buffer.from(ids.map((id) => JSON.stringify({ event_id: id, incident_id: incident }) + '\n').join('')),
  format,
})
const idsOf = (body: Buffer) => body.toString().trim().split('\n').map((l) => JSON.parse(l).event_id)

async function drain(spool: Spool, maxRows = 1000): Promise<string[]> {
  const out: string[] = []
  for (;;) {
    const next = await spool.peek(maxRows)
    if (!next) return out
    out.push(...idsOf(next.batch.body))
    await next.commit()
  }
}

describe('Spool', () => {
  it('gives batches back in append order, across a reopen, and deletes segments once drained', async () => {
    const dir = freshDir()
    const a = await Spool.open(dir, log)
    await a.append(batch(['1', '2']))
    await a.append(batch(['3']))
    expect([a.events, a.empty]).toEqual([3, false])
    await a.close()

    const b = await Spool.open(dir, log) // what a restarted process sees
    expect(b.events).toBe(3)
    await b.append(batch(['4'], 'inc-2'))
    expect(readdirSync(dir)).toHaveLength(2) // a reopened spool never appends to an old segment
    const first = await b.peek(1000)
    expect([idsOf(first!.batch.body), first!.batch.incidents, first!.batch.rows]).toEqual([['1', '2', '3'], ['inc-1'], 3])
    await first!.commit()
    expect(await drain(b)).toEqual(['4'])
    expect([b.events, b.empty, readdirSync(dir)]).toEqual([0, true, []])
    await b.close()
  })

  it('returns at most maxRows rows per peek (but always at least one record)', async () => {
    const dir = freshDir()
    const s = await Spool.open(dir, log)
    await s.append(batch(['1', '2']))
    await s.append(batch(['3', '4']))
    await s.append(batch(['5']))
    const p = await s.peek(3)
    expect(idsOf(p!.batch.body)).toEqual(['1', '2'])
    await p!.commit()
    expect(await drain(s, 1)).toEqual(['3', '4', '5'])
    await s.close()
  })

  it('ignores a torn last record (crash mid-write) and keeps the records before it', async () => {
    const dir = freshDir()
    const s = await Spool.open(dir, log)
    await s.append(batch(['1']))
    await s.append(batch(['2', '3']))
    await s.close()
    const [seg] = readdirSync(dir)
    const path = join(dir, seg!)
    truncateSync(path, statSync(path).size - 5) // the second record lost its tail

    const r = await Spool.open(dir, log)
    expect(r.events).toBe(1)
    expect(await drain(r)).toEqual(['1'])
    await r.close()
  })

  it('detects a corrupted payload by its checksum', async () => {
    const dir = freshDir()
    const s = await Spool.open(dir, log)
    await s.append(batch(['1']))
    await s.close()
    const path = join(dir, readdirSync(dir)[0]!)
    // A full-length but garbage record after the good one.
    const header = Buffer.alloc(16)
    header.writeUInt32BE(0x414d5350, 0)
    header.writeUInt32BE(4, 4)
    header.writeUInt32BE(12345, 8)
    appendFileSync(path, Buffer.concat([header, Buffer.from('junk')]))
    const r = await Spool.open(dir, log)
    expect(await drain(r)).toEqual(['1'])
    await r.close()
  })

  it('replays a record written without a format (earlier versions) as JSONEachRow, and never mixes formats in one batch', async () => {
    const dir = freshDir()
    const s = await Spool.open(dir, log)
    await s.append(batch(['1'], 'inc-1', 'JSONCompactEachRow'))
    await s.close()
    // A record as versions before the format field wrote it, after the first one.
    const path = join(dir, readdirSync(dir)[0]!)
    const payload = Buffer.concat([Buffer.from(JSON.stringify({ rows: 1, incidents: ['inc-1'] }) + '\n'), batch(['2']).body])
    const header = Buffer.alloc(16)
    header.writeUInt32BE(0x414d5350, 0)
    header.writeUInt32BE(payload.length, 4)
    header.writeUInt32BE(crc32(payload), 8)
    appendFileSync(path, Buffer.concat([header, payload]))

    const r = await Spool.open(dir, log)
    await r.append(batch(['3'], 'inc-1', 'JSONCompactEachRow'))
    const seen: [string[], SpoolFormat][] = []
    for (;;) {
      const next = await r.peek(1000)
      if (!next) break
      seen.push([idsOf(next.batch.body), next.batch.format])
      await next.commit()
    }
    expect(seen).toEqual([
      [['1'], 'JSONCompactEachRow'],
      [['2'], 'JSONEachRow'],
      [['3'], 'JSONCompactEachRow'],
    ])
    await r.close()
  })

  it('replays the records after a damaged one and keeps the segment in quarantine instead of deleting it', async () => {
    const dir = freshDir()
    const s = await Spool.open(dir, log)
    await s.append(batch(['1']))
    await s.append(batch(['2', '3']))
    await s.append(batch(['4']))
    await s.close()
    const name = readdirSync(dir)[0]!
    const path = join(dir, name)
    // Damage one byte inside the second record's payload: its checksum no longer matches.
    const bytes = readFileSync(path)
    const second = bytes.indexOf(Buffer.from('"2"'))
    bytes[second + 1] = 0x39
    writeFileSync(path, bytes)

    const r = await Spool.open(dir, log)
    expect(r.events).toBe(2) // 1 and 4; the damaged record's rows cannot be read
    expect(await drain(r)).toEqual(['1', '4'])
    // Replayed, but set aside for inspection, byte for byte.
    expect(readdirSync(dir)).toEqual(['quarantine'])
    expect(readdirSync(r.quarantineDir)).toEqual([name])
    expect(readFileSync(join(r.quarantineDir, name))).toEqual(bytes)
    expect(r.quarantined).toBe(1)
    await r.close()
  })

  it('treats an unreadable tail of an older segment as damage (quarantine), and only the newest one\'s as a torn write', async () => {
    const dir = freshDir()
    const a = await Spool.open(dir, log)
    await a.append(batch(['1']))
    await a.append(batch(['2']))
    await a.close()
    const older = readdirSync(dir)[0]!
    truncateSync(join(dir, older), statSync(join(dir, older)).size - 5)
    const b = await Spool.open(dir, log)
    await b.append(batch(['3']))
    await b.close()

    const r = await Spool.open(dir, log)
    expect(await drain(r)).toEqual(['1', '3'])
    expect(readdirSync(r.quarantineDir)).toEqual([older])
    expect(readdirSync(dir)).toEqual(['quarantine'])
    await r.close()
  })
})
