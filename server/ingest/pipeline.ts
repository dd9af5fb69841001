import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { Store } from '../storage/client.js'
import type { Telemetry } from '../telemetry.js'
import type { EventRow, IngestPipeline } from './types.js'

export interface PipelineDeps {
  config: Config
  store: Store
  telemetry: Telemetry
  log: Logger
}

/** Interim: one insert per submit. To be replaced by group commit + spool (issue 2). */
export async function createIngestPipeline({ store, telemetry }: PipelineDeps): Promise<IngestPipeline> {
  const listeners = new Set<(ids: Set<string>) => void>()
  return {
    async submit(rows: EventRow[]) {
      if (rows.length === 0) return
      const body = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
      await store.insertJsonEachRow(`${store.db}.events`, body)
      telemetry.ingested.inc(rows.length)
      const ids = new Set(rows.map((r) => r.incident_id))
      for (const l of listeners) l(ids)
    },
    onCommitted(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    spoolDepth: () => 0,
    async close() {},
  }
}
