import type { Running } from './boot.js'
import type { Config } from './config.js'

/** Placeholder until the scenarios issue lands: loads nothing. */
export async function loadDemo(_config: Config, _running: Running): Promise<void> {}
