import { Command, Option } from 'commander'
import { adminRequest as admin } from './admin.js'

interface Flags {
  url: string
  token?: string
}
const out = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n')

/** `aftermath webhooks add|list|remove|test|deliveries` — SPEC §6, through the admin API. */
export function webhooksCommand(): Command {
  const cmd = new Command('webhooks').description('manage webhooks (an admin token): alerts for overdue tenants, a stalled recovery, milestones')
  const common = (c: Command) =>
    c
      .addOption(new Option('--url <url>', 'server base URL').env('AFTERMATH_URL').default('http://127.0.0.1:3000'))
      .addOption(new Option('--token <token>', 'a bearer token with admin scope').env('AFTERMATH_TOKEN'))
  common(
    cmd
      .command('add')
      .description('add a webhook; prints its id and its signing secret (shown once)')
      .argument('<webhook-url>', 'http(s) URL to POST deliveries to')
      .option('--events <list>', 'comma-separated: tenant.overdue, incident.recovery_stalled, incident.milestone', 'tenant.overdue,incident.recovery_stalled,incident.milestone')
      .option('--incident <id>', 'only this incident (default: every incident)')
      .addOption(new Option('--format <format>', 'delivery body').choices(['json', 'slack']).default('json')),
  ).action(async (hookUrl: string, f: Flags & { events: string; incident?: string; format: string }) => {
    out(await admin(f.url, f.token, 'POST', '/webhooks', { url: hookUrl, events: f.events.split(',').map((e) => e.trim()).filter(Boolean), incident_id: f.incident, format: f.format }))
  })
  common(cmd.command('list').description('list the webhooks')).action(async (f: Flags) => {
    out(await admin(f.url, f.token, 'GET', '/webhooks'))
  })
  common(cmd.command('remove').description('remove a webhook').argument('<id>')).action(async (id: string, f: Flags) => {
    await admin(f.url, f.token, 'DELETE', `/webhooks/${encodeURIComponent(id)}`)
    process.stdout.write(`removed ${id}\n`)
  })
  common(cmd.command('test').description('send a test delivery now').argument('<id>')).action(async (id: string, f: Flags) => {
    out(await admin(f.url, f.token, 'POST', `/webhooks/${encodeURIComponent(id)}/test`, {}))
  })
  common(cmd.command('deliveries').description("a webhook's delivery log, latest first").argument('<id>')).action(async (id: string, f: Flags) => {
    out(await admin(f.url, f.token, 'GET', `/webhooks/${encodeURIComponent(id)}/deliveries`))
  })
  return cmd
}
