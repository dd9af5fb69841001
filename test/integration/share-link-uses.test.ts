import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ShareLinks } from '../../server/sharing/links.js'
import type { Store } from '../../server/storage/client.js'
import { openTestStore } from '../helpers/db.js'

/** A link's use count never goes down or counts twice while its counts are being written (SPEC §8 audit). */
describe('share link use counts while they are written', () => {
  let store: Store
  let cleanup: () => Promise<void>
  beforeAll(async () => {
    ;({ store, cleanup } = await openTestStore())
  })
  afterAll(async () => {
    await cleanup()
  })

  it('a list during a flush shows every use exactly once', async () => {
    // No timers: the test flushes by hand, while lists run.
    const links = await ShareLinks.open(store, pino({ level: 'silent' }), { refreshMs: 0, flushMs: 0 })
    const now = Date.now()
    const [{ link }] = await links.create([{ incident_id: 'uses-1', tenant_id: 't1', expires_ms: now + 86_400_000 }], now)
    const usesNow = async () => (await links.list({ limit: 10, offset: 0 }, now)).share_links.find((l) => l.id === link!.id)!.uses
    let expected = 0
    for (let round = 0; round < 10; round++) {
      links.recordUse(link!.id, now + round)
      expected++
      const seen = await Promise.all([usesNow(), links.flush().then(() => -1), usesNow(), usesNow()])
      expect(seen.filter((n) => n !== -1)).toEqual([expected, expected, expected])
    }
    expect(await usesNow()).toBe(10)
    await links.close()
  })
})
