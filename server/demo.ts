import type { Running } from './boot.js'
import { putIncident, replayScenario, sendMetadata } from './cli/replay.js'
import type { HttpTarget } from './cli/http.js'
import type { Config } from './config.js'
import { atlassian2022 } from './scenarios/atlassian-2022.js'
import { synthetic } from './scenarios/synthetic.js'

export const DEMO_LIVE_INCIDENT_ID = 'demo-live'

export interface DemoOptions {
  /** Incident seconds per wall-clock second for the live incident (default 24: a 24 h outage plays in one hour). */
  liveSpeed?: number
  liveTenants?: number
  liveDurationMs?: number
}

export interface DemoHandle {
  /** Settles when the live replay ends: played out (incident then marked resolved), or stopped. */
  live: Promise<void>
  stop(): void
}

/**
 * On an empty database, load the demo through the public ingest API of the running server
 * (the same path a producer uses): the April 2022 Atlassian reconstruction, resolved, and a
 * live synthetic incident that starts now and is replayed in compressed time, with each
 * event's occurred_at set to the moment it is sent, so the dashboard's live view moves.
 * Does nothing (returns null) when the database already holds events. The live replay
 * stops when the server closes.
 */
export async function loadDemo(config: Config, running: Running, opts: DemoOptions = {}): Promise<DemoHandle | null> {
  const [{ n }] = await running.store.rows<{ n: number }>(`SELECT count() AS n FROM ${running.store.db}.events`)
  if (Number(n) > 0) return null
  const token = running.generatedToken ?? config.tokens?.find((t) => t.scope === 'admin' || t.scope === 'ingest')?.token
  if (!token) throw new Error('no admin or ingest token configured to load the demo with')

  const stopper = new AbortController()
  // server.close() stops listening at once but lets open keep-alive connections carry on, and
  // 'close' fires only when they end: watch `listening` so the replay stops right away.
  const watch = setInterval(() => {
    if (!running.server.listening) stopper.abort(new Error('server closed'))
  }, 100)
  watch.unref()
  stopper.signal.addEventListener('abort', () => clearInterval(watch), { once: true })
  const target: HttpTarget = { url: selfUrl(config, running), token, retryForMs: 60_000, signal: stopper.signal }

  await replayScenario(atlassian2022(), { target, speed: Number.POSITIVE_INFINITY, batchSize: 2000, concurrency: 2 })

  const liveSpeed = opts.liveSpeed ?? 24
  const live = synthetic({
    seed: 2022,
    incidentId: DEMO_LIVE_INCIDENT_ID,
    tenants: opts.liveTenants ?? 2000,
    eventsPerTenant: 8,
    flapRate: 0.03,
    durationMs: opts.liveDurationMs ?? 24 * 3_600_000,
    startMs: Date.now(),
    title: 'Live demo: synthetic outage (2,000 tenants)',
    status: 'ongoing',
  })
  await sendMetadata(target, live.tenants(), live.incident)
  const done = replayScenario(live, { target, speed: liveSpeed, live: true, metadata: false, batchSize: 500, concurrency: 1 })
    .then(() => putIncident(target, { ...live.incident, status: 'resolved' }))
    .catch((err: Error) => {
      if (!stopper.signal.aborted) throw err
    })
  // The caller may not wait on the live replay; a failure is reported, never unhandled.
  done.catch((err: Error) => console.error(`demo live incident stopped: ${err.message}`)).finally(() => clearInterval(watch))
  return { live: done.catch(() => {}), stop: () => stopper.abort(new Error('demo stopped')) }
}

/** The server's own URL; a wildcard listen address is reached through loopback. */
function selfUrl(config: Config, running: Running): string {
  const wildcard = config.host === '0.0.0.0' || config.host === '::' || config.host === ''
  if (wildcard) return `http://127.0.0.1:${running.port}`
  return config.host.includes(':') ? `http://[${config.host}]:${running.port}` : running.url
}
