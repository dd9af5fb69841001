import { crc32 } from 'node:zlib'
import { mkdirSync, readdirSync } from 'node:fs'
import { open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Logger } from 'pino'

/**
 * Append-only local spool for batches that could not be inserted into ClickHouse.
 *
 * Layout: `<dataDir>/spool/seg-<16 digit sequence>.log`, each a series of records
 *   [magic u32 'AMSP'][payload length u32][crc32(payload) u32][reserved u32] payload
 * where payload = one JSON meta line {"rows":n,"incidents":[...],"format":"JSONCompactEachRow+stamps"} + the
 * batch's row bytes (a record without "format" holds JSONEachRow, as written by earlier versions).
 * A record is acknowledged only after write + fdatasync. A torn tail (crash mid-write: short
 * header, short payload or checksum mismatch) of the newest segment is the record whose write
 * was cut, never acknowledged: it is ignored, and a restarted process never appends after it (it
 * always starts a fresh segment). Anything else unreadable (a damaged record with good ones after
 * it, or a bad tail in an older segment, which was closed whole) may be acknowledged events: the
 * scan resynchronizes on the next valid record so nothing after the damage is lost, and once
 * its readable records are replayed the segment is moved to `spool/quarantine/` and reported
 * (log, /metrics), never deleted.
 *
 * Not thread-safe by design: the pipeline serializes append/peek/commit through one lock.
 */

export interface SpoolBatch {
  rows: number
  incidents: string[]
  body: Buffer
  /**
   * How the body's rows are written: JSON arrays of the events columns (what this version
   * writes), or JSON objects (records written by versions before it, still replayed).
   */
  format: SpoolFormat
}

/**
 * JSONCompactEachRow+stamps: arrays of all EVENT_COLUMNS (this version); JSONCompactEachRow:
 * arrays of the nine event columns (before received_at and seq were stamped); JSONEachRow:
 * objects (earlier still).
 */
export type SpoolFormat = 'JSONCompactEachRow+stamps' | 'JSONCompactEachRow' | 'JSONEachRow'
const SPOOL_FORMATS: readonly string[] = ['JSONCompactEachRow+stamps', 'JSONCompactEachRow', 'JSONEachRow']

const MAGIC = 0x414d5350
const HEADER_BYTES = 16
/** Rotate to a new segment beyond this size, so replayed data is deleted in pieces. */
const SEGMENT_MAX_BYTES = 64 * 1024 * 1024
const SEGMENT_RE = /^seg-(\d{16})\.log$/

interface Segment {
  seq: number
  path: string
  /** Bytes up to the end of the last valid record (the readable end). */
  validBytes: number
  /** Unreadable stretches found by the scan: from their start to the next valid record. */
  skips: Map<number, number>
  /** Holds unreadable bytes that may have been acknowledged: quarantined instead of deleted. */
  damaged: boolean
  /** Size on disk, torn tail included (what counts against the spool limit). */
  diskBytes: number
  /** Rows not yet replayed. */
  rows: number
  /** Read position of the replay cursor. */
  readOffset: number
}

export class Spool {
  private segments: Segment[] = []
  private writer: { seg: Segment; fh: FileHandle } | null = null
  private nextSeq = 1

  private constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Segments moved to quarantine by this process. */
  quarantined = 0

  /** Open the spool directory, scanning what a previous process left (torn tails are cut off). */
  static async open(dir: string, log: Logger): Promise<Spool> {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const spool = new Spool(dir, log)
    const names = readdirSync(dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort()
    for (const [i, name] of names.entries()) {
      const seq = Number(SEGMENT_RE.exec(name)![1])
      const seg = await scanSegment(join(dir, name), seq, i === names.length - 1, log)
      spool.nextSeq = Math.max(spool.nextSeq, seq + 1)
      if (seg.rows === 0) {
        await spool.retire(seg)
        continue
      }
      spool.segments.push(seg)
    }
    return spool
  }

  /** Where damaged segments are kept. */
  get quarantineDir(): string {
    return join(this.dir, 'quarantine')
  }

  get events(): number {
    let n = 0
    for (const s of this.segments) n += s.rows
    return n
  }

  get bytes(): number {
    let n = 0
    for (const s of this.segments) n += s.diskBytes
    return n
  }

  get empty(): boolean {
    return this.segments.length === 0
  }

  /** Append one batch durably (write + fdatasync). */
  async append(batch: SpoolBatch): Promise<void> {
    const meta = Buffer.from(JSON.stringify({ rows: batch.rows, incidents: batch.incidents, format: batch.format }) + '\n')
    const payloadLen = meta.length + batch.body.length
    const header = Buffer.alloc(HEADER_BYTES)
    header.writeUInt32BE(MAGIC, 0)
    header.writeUInt32BE(payloadLen, 4)
    header.writeUInt32BE(crc32(batch.body, crc32(meta)), 8)
    if (!this.writer || this.writer.seg.diskBytes >= SEGMENT_MAX_BYTES) await this.rotate()
    const { seg, fh } = this.writer!
    try {
      await fh.writev([header, meta, batch.body], seg.diskBytes)
      await fh.datasync()
    } catch (err) {
      // A partial write leaves a torn record: stop appending to this segment.
      await this.closeWriter()
      throw err
    }
    seg.diskBytes += HEADER_BYTES + payloadLen
    seg.validBytes = seg.diskBytes
    seg.rows += batch.rows
  }

  /**
   * The oldest spooled records, up to `maxRows` rows (at least one record), from one segment,
   * all of one format.
   * Call `commit()` after they are safely in ClickHouse to advance past them.
   */
  async peek(maxRows: number): Promise<{ batch: SpoolBatch; commit(): Promise<void> } | null> {
    const seg = this.segments[0]
    if (!seg) return null
    const fh = await open(seg.path, 'r')
    const bodies: Buffer[] = []
    const incidents = new Set<string>()
    let rows = 0
    let offset = seg.readOffset
    let format: SpoolFormat = 'JSONCompactEachRow+stamps'
    try {
      while (offset < seg.validBytes && (rows === 0 || rows < maxRows)) {
        const skipTo = seg.skips.get(offset)
        if (skipTo !== undefined) {
          offset = skipTo
          continue
        }
        const rec = await readRecord(fh, offset, seg.validBytes)
        if (!rec) break
        if (rows > 0 && (rows + rec.rows > maxRows || rec.format !== format)) break
        format = rec.format
        bodies.push(rec.body)
        for (const id of rec.incidents) incidents.add(id)
        rows += rec.rows
        offset = rec.end
      }
    } finally {
      await fh.close()
    }
    const end = offset
    const commit = async () => {
      seg.readOffset = end
      seg.rows -= rows
      if (seg.readOffset >= seg.validBytes) await this.retire(seg)
    }
    if (rows === 0) {
      // Nothing readable left (corruption since the scan): set the segment aside.
      seg.damaged = true
      this.log.error({ path: seg.path, offset }, 'spool segment has no readable record left')
      await this.retire(seg)
      return this.peek(maxRows)
    }
    return { batch: { rows, incidents: [...incidents], body: Buffer.concat(bodies), format }, commit }
  }

  async close(): Promise<void> {
    await this.closeWriter()
  }

  /** A segment fully replayed: deleted, or, when it held unreadable bytes, moved to quarantine. */
  private async retire(seg: Segment) {
    if (this.writer?.seg === seg) await this.closeWriter()
    this.segments = this.segments.filter((s) => s !== seg)
    if (seg.damaged) {
      mkdirSync(this.quarantineDir, { recursive: true, mode: 0o700 })
      const to = join(this.quarantineDir, basename(seg.path))
      try {
        await rename(seg.path, to)
        this.quarantined++
        this.log.error({ path: to }, 'spool segment held unreadable records: its readable ones were replayed and it is kept in quarantine for inspection')
      } catch (err) {
        this.log.error({ err: String(err), path: seg.path }, 'damaged spool segment could not be moved to quarantine; left in place')
      }
      return
    }
    await unlink(seg.path).catch((err) => this.log.warn({ err: String(err), path: seg.path }, 'spool segment not deleted'))
  }

  private async rotate() {
    await this.closeWriter()
    const seq = this.nextSeq++
    const path = join(this.dir, `seg-${String(seq).padStart(16, '0')}.log`)
    const fh = await open(path, 'wx', 0o600)
    // The new file's directory entry must be durable too, or a crash could lose the whole segment.
    const dirFh = await open(this.dir, 'r')
    try {
      await dirFh.sync()
    } finally {
      await dirFh.close()
    }
    const seg: Segment = { seq, path, validBytes: 0, skips: new Map(), damaged: false, diskBytes: 0, rows: 0, readOffset: 0 }
    this.segments.push(seg)
    this.writer = { seg, fh }
  }

  private async closeWriter() {
    const w = this.writer
    this.writer = null
    if (w) await w.fh.close().catch(() => {})
  }
}

interface ReadRecord {
  rows: number
  incidents: string[]
  body: Buffer
  format: SpoolFormat
  end: number
}

/** Read and verify the record at `offset`; null when it is torn or corrupt. */
async function readRecord(fh: FileHandle, offset: number, limit: number): Promise<ReadRecord | null> {
  if (offset + HEADER_BYTES > limit) return null
  const header = Buffer.alloc(HEADER_BYTES)
  const { bytesRead } = await fh.read(header, 0, HEADER_BYTES, offset)
  if (bytesRead < HEADER_BYTES || header.readUInt32BE(0) !== MAGIC) return null
  const len = header.readUInt32BE(4)
  const end = offset + HEADER_BYTES + len
  if (end > limit) return null
  const payload = Buffer.allocUnsafe(len)
  const r = await fh.read(payload, 0, len, offset + HEADER_BYTES)
  if (r.bytesRead < len || crc32(payload) !== header.readUInt32BE(8)) return null
  const nl = payload.indexOf(10)
  if (nl < 0) return null
  let meta: { rows: number; incidents: string[]; format?: unknown }
  try {
    meta = JSON.parse(payload.toString('utf8', 0, nl))
  } catch {
    return null
  }
  if (!Number.isInteger(meta.rows) || !Array.isArray(meta.incidents)) return null
  const format = (meta.format === undefined ? 'JSONEachRow' : meta.format) as SpoolFormat
  if (!SPOOL_FORMATS.includes(format)) return null
  return { rows: meta.rows, incidents: meta.incidents, body: payload.subarray(nl + 1), format, end }
}

/**
 * Scan a segment left by a previous process. At an unreadable record the scan looks for the next
 * valid one (its magic and checksum) and goes on from there, remembering the stretch to skip;
 * only an unreadable tail of the newest segment (`newest`) is a torn write, and not damage.
 */
async function scanSegment(path: string, seq: number, newest: boolean, log: Logger): Promise<Segment> {
  const fh = await open(path, 'r')
  try {
    const size = (await fh.stat()).size
    const seg: Segment = { seq, path, validBytes: 0, skips: new Map(), damaged: false, diskBytes: size, rows: 0, readOffset: 0 }
    let offset = 0
    while (offset < size) {
      const rec = await readRecord(fh, offset, size)
      if (rec) {
        seg.rows += rec.rows
        offset = seg.validBytes = rec.end
        continue
      }
      const next = await nextRecordAt(fh, offset + 1, size)
      if (next === null) {
        if (!newest) seg.damaged = true
        log[newest ? 'warn' : 'error']({ path, validBytes: offset, size }, newest ? 'spool segment has a torn tail (a write cut by a crash, never acknowledged); ignoring it' : 'spool segment ends in unreadable bytes')
        break
      }
      seg.damaged = true
      seg.skips.set(offset, next)
      log.error({ path, from: offset, to: next }, 'spool segment has an unreadable stretch; replaying the records after it')
      offset = next
    }
    return seg
  } finally {
    await fh.close()
  }
}

/** The offset of the first valid record at or after `from`, or null. */
async function nextRecordAt(fh: FileHandle, from: number, size: number): Promise<number | null> {
  const magic = Buffer.alloc(4)
  magic.writeUInt32BE(MAGIC, 0)
  const CHUNK = 1024 * 1024
  for (let base = from; base < size; base += CHUNK) {
    const buf = Buffer.alloc(Math.min(CHUNK + 3, size - base))
    await fh.read(buf, 0, buf.length, base)
    for (let i = buf.indexOf(magic); i >= 0 && i < CHUNK; i = buf.indexOf(magic, i + 1)) {
      if (await readRecord(fh, base + i, size)) return base + i
    }
  }
  return null
}
