import { atlassian2022 } from './atlassian-2022.js'
import { synthetic, type SyntheticOptions } from './synthetic.js'
import type { Scenario } from './types.js'

export const SCENARIO_NAMES = ['atlassian-2022', 'synthetic'] as const
export type ScenarioName = (typeof SCENARIO_NAMES)[number]

export type ScenarioOptions = SyntheticOptions

/** Build a scenario by name; options a scenario does not use are ignored (atlassian-2022 takes only seed and incidentId). */
export function createScenario(name: ScenarioName, opts: ScenarioOptions = {}): Scenario {
  if (name === 'atlassian-2022') return atlassian2022({ seed: opts.seed, incidentId: opts.incidentId })
  return synthetic(opts)
}

export const isScenarioName = (s: string): s is ScenarioName => (SCENARIO_NAMES as readonly string[]).includes(s)
