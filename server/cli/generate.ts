import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import type { Scenario } from '../scenarios/types.js'

const CHUNK_CHARS = 256 * 1024

/** Write items as NDJSON with backpressure, in chunks (one write per line would dominate the cost). */
export async function writeNdjson(out: Writable, items: Iterable<unknown>): Promise<number> {
  let n = 0
  let buf = ''
  for (const item of items) {
    buf += JSON.stringify(item) + '\n'
    n++
    if (buf.length >= CHUNK_CHARS) {
      if (!out.write(buf)) await once(out, 'drain')
      buf = ''
    }
  }
  if (buf && !out.write(buf)) await once(out, 'drain')
  return n
}

export interface GenerateTargets {
  /** Events file, or null for stdout. */
  events: string | null
  tenants: string | null
  incident: string | null
  ordered: boolean
}

/** Write a scenario's events, tenants and incident metadata; returns the counts. */
export async function generateToFiles(scenario: Scenario, targets: GenerateTargets): Promise<{ events: number; tenants: number }> {
  const tenants = targets.tenants ? await withFile(targets.tenants, (w) => writeNdjson(w, scenario.tenants())) : 0
  if (targets.incident) await withFile(targets.incident, (w) => writeNdjson(w, [scenario.incident]))
  const events = targets.events
    ? await withFile(targets.events, (w) => writeNdjson(w, scenario.events({ ordered: targets.ordered })))
    : await writeNdjson(process.stdout, scenario.events({ ordered: targets.ordered }))
  return { events, tenants }
}

async function withFile<T>(path: string, fn: (w: Writable) => Promise<T>): Promise<T> {
  const w = createWriteStream(path)
  try {
    const result = await fn(w)
    w.end()
    await once(w, 'finish')
    return result
  } catch (err) {
    w.destroy()
    throw err
  }
}
