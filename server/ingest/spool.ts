import { crc32 } from 'node:zlib'
import { mkdirSync, readdirSync } from 'node:fs'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'

/**
 * Append-only local spool for batches that could not be inserted into ClickHouse.
 *
 * Layout: `<dataDir>/spool/seg-<16 digit sequence>.log`, each a series of records
 *   [magic u32 'AMSP'][payload length u32][crc32(payload) u32][reserved u32] payload
 * where payload = one JSON meta line {"rows":n,"incidents":[...],"format":"JSONCompactEachRow+stamps"} + the
 * batch's row bytes (a record without "format" holds JSONEachRow, as written by earlier versions).
 * A record is acknowledged only after write + fdatasync. A torn tail (crash mid-write: short
 * header, short payload or checksum mismatch) ends the segment's readable part and is ignored;
 * a restarted process never appends after it (it always starts a fresh segment).
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
  /** Bytes of whole, valid records (the readable end). */
  validBytes: number
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

  /** Open the spool directory, scanning what a previous process left (torn tails are cut off). */
  static async open(dir: string, log: Logger): Promise<Spool> {
    mkdirSync(dir, { recursive: true })
    const spool = new Spool(dir, log)
    const names = readdirSync(dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort()
    for (const name of names) {
      const seq = Number(SEGMENT_RE.exec(name)![1])
      const seg = await scanSegment(join(dir, name), seq, log)
      spool.nextSeq = Math.max(spool.nextSeq, seq + 1)
      if (seg.rows === 0) {
        await unlink(seg.path).catch(() => {})
        continue
      }
      spool.segments.push(seg)
    }
    return spool
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
      // Nothing readable left (a torn tail, or corruption since the scan): drop the segment.
      this.log.warn({ path: seg.path, offset }, 'spool segment has no readable record left; dropping it')
      await this.retire(seg)
      return this.peek(maxRows)
    }
    return { batch: { rows, incidents: [...incidents], body: Buffer.concat(bodies), format }, commit }
  }

  async close(): Promise<void> {
    await this.closeWriter()
  }

  private async retire(seg: Segment) {
    if (this.writer?.seg === seg) await this.closeWriter()
    this.segments = this.segments.filter((s) => s !== seg)
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
    const seg: Segment = { seq, path, validBytes: 0, diskBytes: 0, rows: 0, readOffset: 0 }
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

async function scanSegment(path: string, seq: number, log: Logger): Promise<Segment> {
  const fh = await open(path, 'r')
  try {
    const size = (await fh.stat()).size
    let offset = 0
    let rows = 0
    for (;;) {
      const rec = await readRecord(fh, offset, size)
      if (!rec) break
      rows += rec.rows
      offset = rec.end
    }
    if (offset < size) log.warn({ path, validBytes: offset, size }, 'spool segment has a torn or corrupt tail; ignoring it')
    return { seq, path, validBytes: offset, diskBytes: size, rows, readOffset: 0 }
  } finally {
    await fh.close()
  }
}
