import { Command, Option } from 'commander'
import { stringify } from 'csv-stringify/sync'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { adminRequest as admin } from './admin.js'
import { UsageError } from './errors.js'

interface Flags {
  url: string
  token?: string
}
interface Created {
  id: string
  url: string
  expires_at: string
  tenant_id: string | null
}
const out = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n')

/** Tenants fetched per page, and links created per request. */
const PAGE = 1000

/**
 * Every affected tenant of an incident (tenant_id order, so a tenant affected while we page only
 * moves later ones: duplicates are dropped, none is skipped), with its name.
 */
async function affectedTenants(f: Flags, incident: string, state: string | undefined): Promise<{ tenant_id: string; name: string }[]> {
  const seen = new Map<string, string>()
  for (let offset = 0; ; offset += PAGE) {
    const q = new URLSearchParams({ sort: 'tenant_id', order: 'asc', limit: String(PAGE), offset: String(offset), ...(state ? { state } : {}) })
    const page = await admin<{ total: number; rows: { tenant_id: string; name: string }[] }>(f.url, f.token, 'GET', `/incidents/${encodeURIComponent(incident)}/tenants?${q}`)
    for (const r of page.rows) if (!seen.has(r.tenant_id)) seen.set(r.tenant_id, r.name)
    if (page.rows.length < PAGE) break
  }
  return [...seen].map(([tenant_id, name]) => ({ tenant_id, name }))
}

/** `aftermath share-links create|list|revoke` — SPEC §8, through the admin API. */
export function shareLinksCommand(): Command {
  const cmd = new Command('share-links').description('share an incident with stakeholders, or give each customer a link to their own status page (an admin token)')
  const common = (c: Command) =>
    c
      .addOption(new Option('--url <url>', 'server base URL').env('AFTERMATH_URL').default('http://127.0.0.1:3000'))
      .addOption(new Option('--token <token>', 'a bearer token with admin scope').env('AFTERMATH_TOKEN'))
  common(
    cmd
      .command('create')
      .description(
        'create a link: for the whole incident (read-only dashboard), for one tenant (--tenant: its status page), or for every affected tenant at once (--all-affected: CSV of tenant_id,name,url,expires_at for a mail merge)',
      )
      .requiredOption('--incident <id>', 'the incident')
      .option('--tenant <id>', "one tenant's status page")
      .option('--all-affected', 'a status link for every tenant affected by the incident, as CSV')
      .addOption(new Option('--state <state>', 'with --all-affected: only tenants down (or up) now').choices(['down', 'up']))
      .option('--expires <duration>', 'lifetime, 1m to 365d', '7d')
      .option('--out <file>', 'with --all-affected: write the CSV here instead of standard output'),
  ).action(async (f: Flags & { incident: string; tenant?: string; allAffected?: boolean; state?: string; expires: string; out?: string }) => {
    if (f.tenant && f.allAffected) throw new UsageError('--tenant and --all-affected exclude each other')
    if (!f.allAffected) {
      if (f.state || f.out) throw new UsageError('--state and --out go with --all-affected')
      out(await admin(f.url, f.token, 'POST', '/share-links', { incident_id: f.incident, tenant_id: f.tenant, expires_in: f.expires }))
      return
    }
    const tenants = await affectedTenants(f, f.incident, f.state)
    // The file holds working credentials: readable by its owner only.
    const sink = f.out ? createWriteStream(f.out, { mode: 0o600 }) : process.stdout
    const write = async (text: string) => {
      if (!sink.write(text)) await once(sink, 'drain')
    }
    await write(stringify([['tenant_id', 'name', 'url', 'expires_at']]))
    for (let i = 0; i < tenants.length; i += PAGE) {
      const batch = tenants.slice(i, i + PAGE)
      const { links } = await admin<{ links: Created[] }>(
        f.url,
        f.token,
        'POST',
        '/share-links',
        batch.map((t) => ({ incident_id: f.incident, tenant_id: t.tenant_id, expires_in: f.expires })),
      )
      await write(stringify(links.map((l, k) => [l.tenant_id, batch[k]!.name, l.url, l.expires_at])))
    }
    if (sink !== process.stdout) {
      sink.end()
      await once(sink, 'finish')
      process.stderr.write(`${tenants.length} links written to ${f.out}\n`)
    }
  })
  common(
    cmd
      .command('list')
      .description('list links with their last use and use count (never their tokens)')
      .option('--incident <id>', 'only this incident')
      .option('--limit <n>', 'at most this many (≤ 1000)', '100')
      .option('--offset <n>', 'skip this many', '0'),
  ).action(async (f: Flags & { incident?: string; limit: string; offset: string }) => {
    const q = new URLSearchParams({ limit: f.limit, offset: f.offset, ...(f.incident ? { incident_id: f.incident } : {}) })
    out(await admin(f.url, f.token, 'GET', `/share-links?${q}`))
  })
  common(cmd.command('revoke').description('revoke a link (effective at once)').argument('<id>')).action(async (id: string, f: Flags) => {
    await admin(f.url, f.token, 'DELETE', `/share-links/${encodeURIComponent(id)}`)
    process.stdout.write(`revoked ${id}\n`)
  })
  return cmd
}
