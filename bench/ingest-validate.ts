/**
 * Micro-benchmark: the hand-written event validator vs an equivalent zod schema, per event.
 * Run: npx tsx bench/ingest-validate.ts
 */
import { z } from 'zod'
import { CHANNELS, EVENT_TYPES, INCIDENT_ID_RE } from '../server/domain/events.js'
import { parseTimestamp } from '../server/domain/time.js'
import { validateEvent } from '../server/ingest/validate.js'

const now = Date.parse('2026-01-01T00:00:00Z')
const events = Array.from({ length: 100_000 }, (_, i) => ({
  event_id: `evt-${i}`,
  incident_id: 'inc-2022-04',
  type: i % 7 === 0 ? 'restore_progress' : 'access_lost',
  occurred_at: new Date(now - 86_400_000 + i * 1000).toISOString(),
  tenant_id: `tenant-${i % 775}`,
  ...(i % 7 === 0 ? { progress: 0.5 } : {}),
  message: 'site deleted by maintenance script',
}))

const str = (max: number) => z.string().min(1).max(max)
const zodEvent = z
  .strictObject({
    event_id: str(128),
    incident_id: str(128).regex(INCIDENT_ID_RE),
    type: z.enum(EVENT_TYPES),
    occurred_at: z.string().transform((s, ctx) => {
      const r = parseTimestamp(s)
      if (typeof r === 'string' || r < 0 || r > now + 300_000) {
        ctx.addIssue({ code: 'custom', message: 'bad time' })
        return z.NEVER
      }
      const iso = new Date(r).toISOString()
      return iso.slice(0, 10) + ' ' + iso.slice(11, 23)
    }),
    tenant_id: str(256).nullish(),
    progress: z.number().min(0).max(1).nullish(),
    channel: z.enum(CHANNELS).nullish(),
    label: z.string().max(256).nullish(),
    message: z.string().max(4096).nullish(),
  })
  .superRefine((e, ctx) => {
    const tenantRequired = e.type !== 'communication' && e.type !== 'milestone'
    if (tenantRequired && e.tenant_id == null) ctx.addIssue({ code: 'custom', path: ['tenant_id'], message: 'required' })
    if (e.type === 'milestone' && e.tenant_id != null) ctx.addIssue({ code: 'custom', path: ['tenant_id'], message: 'absent' })
    if ((e.type === 'restore_progress') !== (e.progress != null)) ctx.addIssue({ code: 'custom', path: ['progress'], message: 'x' })
    if (e.type !== 'communication' && e.channel != null) ctx.addIssue({ code: 'custom', path: ['channel'], message: 'x' })
    if (e.type !== 'milestone' && e.label != null) ctx.addIssue({ code: 'custom', path: ['label'], message: 'x' })
  })

function time(name: string, fn: () => void) {
  for (let r = 0; r < 3; r++) fn() // warm up
  const t0 = process.hrtime.bigint()
  const rounds = 10
  for (let r = 0; r < rounds; r++) fn()
  const ns = Number(process.hrtime.bigint() - t0) / (rounds * events.length)
  console.log(`${name}: ${ns.toFixed(0)} ns/event (${Math.round(1e9 / ns).toLocaleString('en')} events/s on one core)`)
}

let ok = 0
time('hand-written validateEvent', () => {
  for (const e of events) if (validateEvent(e, now).ok) ok++
})
time('zod strictObject + superRefine', () => {
  for (const e of events) if (zodEvent.safeParse(e).success) ok++
})
console.log(`(${ok} valid)`)
