import { Router } from 'express'
import type { AppDeps } from '../app.js'

/** Ingest API (SPEC §4 "Ingest"): filled by the foundation work. */
export function ingestRouter(_deps: AppDeps): Router {
  return Router()
}
