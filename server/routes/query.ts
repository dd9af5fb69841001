import { Router } from 'express'
import type { AppDeps } from '../app.js'

/** Query API (SPEC §4 "Query"): filled by the metrics work. */
export function queryRouter(_deps: AppDeps): Router {
  return Router()
}
