import { Command, CommanderError, Option } from 'commander'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { adminTokenFile } from '../auth.js'
import { createScenario, isScenarioName, SCENARIO_NAMES, type ScenarioOptions } from '../scenarios/index.js'
import { ConnectionError, EXIT_FAILURE, EXIT_OK, EXIT_REJECTED, UsageError } from './errors.js'
import { generateToFiles } from './generate.js'
import type { HttpTarget } from './http.js'
import { importFiles, importTenants, type FileFormat } from './import.js'
import { parseDurationMs, parseFraction, parseInteger, parsePositiveInt, parseSpeed, parseTimeMs } from './options.js'
import { startProgress } from './progress.js'
import { webhooksCommand } from './webhooks.js'
import { shareLinksCommand } from './share-links.js'
import { replayFile, replayScenario } from './replay.js'
import type { EventSender } from './sender.js'

interface ScenarioFlags {
  seed: number
  incident?: string
  tenants?: number
  eventsPerTenant?: number
  flapRate?: number
  duration?: number
  start?: number
}

interface SendFlags {
  url: string
  token?: string
  batchSize: number
  concurrency: number
  retryFor: number
  maxErrors: number
  quiet?: boolean
}

const abort = new AbortController()

function addScenarioOptions(cmd: Command): Command {
  return cmd
    .option('--seed <n>', 'random seed (same seed, same events)', parseInteger, 1)
    .option('--incident <id>', 'incident id (default: atlassian-2022-04 | synthetic)')
    .option('--tenants <n>', 'synthetic: number of tenants', parsePositiveInt)
    .option('--events-per-tenant <n>', 'synthetic: events per tenant (≥ 4)', parsePositiveInt)
    .option('--flap-rate <x>', 'synthetic: share of tenants that lose access a second time (0–1)', parseFraction)
    .option('--duration <d>', 'synthetic: incident length, e.g. 90m, 48h, 2d', parseDurationMs)
    .option('--start <time>', 'synthetic: incident start (RFC 3339 or "now")', parseTimeMs)
}

function addSendOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'server base URL').env('AFTERMATH_URL').default('http://127.0.0.1:3000'))
    .addOption(new Option('--token <token>', 'bearer token with ingest (or admin) scope').env('AFTERMATH_TOKEN'))
    .option('--batch-size <n>', 'events per request', parsePositiveInt, 1000)
    .option('--concurrency <n>', 'requests in flight at once', parsePositiveInt, 4)
    .addOption(new Option('--retry-for <d>', 'keep retrying a failing request this long (503, 429, network errors)').argParser(parseDurationMs).default(300_000, '5m'))
    .option('--max-errors <n>', 'rejected events to print', parseInteger, 100)
    .option('-q, --quiet', 'no progress line')
}

function scenarioOf(name: string, f: ScenarioFlags) {
  if (!isScenarioName(name)) throw new UsageError(`unknown scenario "${name}"; one of: ${SCENARIO_NAMES.join(', ')}`)
  const opts: ScenarioOptions = {
    seed: f.seed,
    incidentId: f.incident,
    tenants: f.tenants,
    eventsPerTenant: f.eventsPerTenant,
    flapRate: f.flapRate,
    durationMs: f.duration,
    startMs: f.start,
  }
  try {
    return createScenario(name, opts)
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message)
    throw err
  }
}

function targetOf(f: SendFlags): HttpTarget {
  if (!f.token) throw new UsageError('no token: pass --token or set AFTERMATH_TOKEN')
  try {
    new URL(f.url)
  } catch {
    throw new UsageError(`--url: not a URL: ${f.url}`)
  }
  return { url: f.url, token: f.token, retryForMs: f.retryFor, signal: abort.signal }
}

/** Prints rejected events (up to --max-errors) as "ref: field: message" and counts the rest. */
function rejectionPrinter(maxErrors: number) {
  let printed = 0
  let suppressed = 0
  return {
    onRejected(ref: string, field: string, message: string) {
      if (printed < maxErrors) {
        printed++
        process.stderr.write(field ? `${ref}: ${field}: ${message}\n` : `${ref}: ${message}\n`)
      } else suppressed++
    },
    onUnlisted(count: number, first: string, last: string) {
      if (printed < maxErrors) {
        printed++
        process.stderr.write(`${first} … ${last}: ${count} more rejected (the server lists at most 100 per request)\n`)
      } else suppressed += count
    },
    finish() {
      if (suppressed > 0) process.stderr.write(`… and ${suppressed.toLocaleString('en-US')} more rejected events not printed (--max-errors ${maxErrors})\n`)
    },
  }
}

function exitCodeOf(sender: EventSender<string>, localRejected = 0): number {
  return sender.rejected + localRejected > 0 ? EXIT_REJECTED : EXIT_OK
}

export function buildProgram(): Command {
  const program = new Command('aftermath')
    .description('Aftermath producer tool: generate outage scenarios and stream events into a running server')
    .showHelpAfterError()
    // Before the subcommands are added, so they inherit it: usage errors exit 2, not commander's 1.
    .exitOverride()

  addScenarioOptions(
    program
      .command('generate')
      .description(`write a scenario as NDJSON (${SCENARIO_NAMES.join(' | ')})`)
      .argument('<scenario>', SCENARIO_NAMES.join(' | '))
      .option('-o, --out <file>', 'events file (default: stdout)')
      .option('--tenants-out <file>', 'tenants file (default: next to --out, <name>.tenants.ndjson)')
      .option('--incident-out <file>', 'incident metadata file (default: next to --out, <name>.incident.json)')
      .option('--unordered', 'tenant by tenant instead of occurred_at order (faster; fine for bulk import)'),
  ).action(async (name: string, f: ScenarioFlags & { out?: string; tenantsOut?: string; incidentOut?: string; unordered?: boolean }) => {
    const scenario = scenarioOf(name, f)
    const base = f.out?.replace(/\.(ndjson|jsonl|json)$/i, '')
    const counts = await generateToFiles(scenario, {
      events: f.out ?? null,
      tenants: f.tenantsOut ?? (base ? `${base}.tenants.ndjson` : null),
      incident: f.incidentOut ?? (base ? `${base}.incident.json` : null),
      ordered: !f.unordered,
    })
    process.stderr.write(`${scenario.incident.incident_id}: ${counts.events.toLocaleString('en-US')} events, ${scenario.tenantCount.toLocaleString('en-US')} tenants\n`)
  })

  addSendOptions(
    addScenarioOptions(
      program
        .command('replay')
        .description('stream a scenario or an NDJSON file into a running server at a chosen speed')
        .argument('<source>', `${SCENARIO_NAMES.join(' | ')} | path to an NDJSON events file`)
        .addOption(new Option('--speed <x>', 'incident seconds per second (3600 = an hour per second) or "max"').argParser(parseSpeed).default(Number.POSITIVE_INFINITY, 'max'))
        .option('--live', 'rewrite occurred_at to the moment each event is due, so the replay looks live')
        .option('--no-metadata', 'do not send tenants and incident metadata first (scenarios)')
        .option('--tenants-file <file>', 'tenants NDJSON or CSV to upsert first (file replays)'),
    ),
  ).action(async (source: string, f: ScenarioFlags & SendFlags & { speed: number; live?: boolean; metadata: boolean; tenantsFile?: string }) => {
    if (f.live && !Number.isFinite(f.speed)) throw new UsageError('--live needs a finite --speed (e.g. --speed 60): it spreads events over wall-clock time')
    const target = targetOf(f)
    const printer = rejectionPrinter(f.maxErrors)
    let progress: ReturnType<typeof startProgress> | undefined
    const common = {
      target,
      speed: f.speed,
      live: f.live,
      batchSize: f.batchSize,
      concurrency: f.concurrency,
      onRejected: printer.onRejected,
      onUnlisted: printer.onUnlisted,
    }
    let sender: EventSender<string>
    if (isScenarioName(source)) {
      const scenario = scenarioOf(source, f)
      sender = await replayScenario(scenario, {
        ...common,
        metadata: f.metadata,
        onStart: (s) => (progress = startProgress(s, { total: () => scenario.eventCount, quiet: f.quiet })),
      })
    } else {
      if (f.tenantsFile) await importTenants(target, f.tenantsFile)
      if (!existsSync(source)) throw new UsageError(`"${source}" is neither a scenario (${SCENARIO_NAMES.join(', ')}) nor a file`)
      const bytesRead = { n: 0 }
      const size = statSync(source).size
      sender = await replayFile(source, {
        ...common,
        bytesRead,
        onStart: (s) => (progress = startProgress(s, { fraction: () => (size > 0 ? bytesRead.n / size : undefined), quiet: f.quiet })),
      })
    }
    progress?.done()
    printer.finish()
    process.exitCode = exitCodeOf(sender)
  })

  addSendOptions(
    program
      .command('import')
      .description('send NDJSON or CSV event files to a running server; rejected lines are reported as file:line')
      .argument('<files...>', 'event files (.ndjson/.jsonl or .csv; CSV columns = event fields)')
      .addOption(new Option('--format <format>', 'file format when the extension does not tell').choices(['ndjson', 'csv']))
      .option('--tenants-file <file>', 'tenants NDJSON or CSV (tenant_id, name, other columns = attributes) to upsert first'),
  ).action(async (files: string[], f: SendFlags & { format?: FileFormat; tenantsFile?: string }) => {
    const target = targetOf(f)
    if (f.tenantsFile) await importTenants(target, f.tenantsFile)
    const printer = rejectionPrinter(f.maxErrors)
    let progress: ReturnType<typeof startProgress> | undefined
    const bytesRead = { n: 0 }
    const size = files.reduce((sum, file) => sum + statSync(file).size, 0)
    const { sender, localRejected } = await importFiles(files, {
      bytesRead,
      target,
      format: f.format,
      batchSize: f.batchSize,
      concurrency: f.concurrency,
      onRejected: printer.onRejected,
      onUnlisted: printer.onUnlisted,
      onStart: (s) => (progress = startProgress(s, { fraction: () => (size > 0 ? bytesRead.n / size : undefined), quiet: f.quiet })),
    })
    // CSV records the parser could not read count as read and rejected, so the totals add up.
    sender.sent += localRejected
    sender.rejected += localRejected
    progress?.done()
    printer.finish()
    process.exitCode = exitCodeOf(sender)
  })

  program.addCommand(webhooksCommand())
  program.addCommand(shareLinksCommand())

  program
    .command('login-link')
    .description("print the dashboard login link with the generated admin token (the server prints it only on the start that creates the token)")
    .addOption(new Option('--url <url>', 'server base URL').env('AFTERMATH_URL').default('http://127.0.0.1:3000'))
    .addOption(new Option('--data-dir <dir>', 'the server\'s data directory').env('AFTERMATH_DATA_DIR').default('./data'))
    .action((f: { url: string; dataDir: string }) => {
      const file = adminTokenFile(f.dataDir)
      if (!existsSync(file)) throw new UsageError(`no generated admin token in ${file} (the server creates it on its first start without AFTERMATH_TOKENS)`)
      process.stdout.write(`${f.url.replace(/\/+$/, '')}/#token=${readFileSync(file, 'utf8').trim()}\n`)
    })

  return program
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
    return Number(process.exitCode ?? EXIT_OK)
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_FAILURE
    if (err instanceof UsageError || err instanceof ConnectionError) {
      process.stderr.write(`aftermath: ${err.message}\n`)
      return EXIT_FAILURE
    }
    if (abort.signal.aborted) {
      process.stderr.write('aftermath: interrupted\n')
      return EXIT_FAILURE
    }
    const e = err as NodeJS.ErrnoException
    if (e?.code === 'ENOENT' || e?.code === 'EACCES' || e?.code === 'EISDIR') {
      process.stderr.write(`aftermath: ${e.message}\n`)
      return EXIT_FAILURE
    }
    throw err
  }
}

process.once('SIGINT', () => abort.abort(new Error('interrupted')))
main(process.argv).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(err)
    process.exitCode = EXIT_FAILURE
  },
)
