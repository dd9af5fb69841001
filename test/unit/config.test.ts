import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../server/config.js'

describe('loadConfig', () => {
  it('refuses tokens shorter than 32 characters, naming the rule and not the token', () => {
    const short = 'read:abcdefgh12345678'
    expect(() => loadConfig({ AFTERMATH_TOKENS: short })).toThrow(ConfigError)
    expect(() => loadConfig({ AFTERMATH_TOKENS: short })).toThrow(/at least 32 characters/)
    try {
      loadConfig({ AFTERMATH_TOKENS: short })
    } catch (err) {
      expect((err as Error).message).not.toContain('abcdefgh12345678')
    }
    expect(loadConfig({ AFTERMATH_TOKENS: `read:${'x'.repeat(32)}` }).tokens).toEqual([{ scope: 'read', token: 'x'.repeat(32) }])
  })

  it('reads the limits of the crowd issue with their defaults', () => {
    const c = loadConfig({})
    expect([c.queryMaxSeconds, c.queryMaxMemoryBytes, c.queryQueueMs, c.heavyQueries, c.heavyQueriesPerToken, c.streamsMax, c.streamsPerToken, c.authFailuresPerMin, c.bodyMinBytesPerS, c.largeBodies]).toEqual([
      5,
      1024 * 1024 * 1024,
      2000,
      2,
      1,
      1000,
      50,
      30,
      1024,
      1,
    ])
    expect(() => loadConfig({ AFTERMATH_QUERY_MAX_SECONDS: '0' })).toThrow(/AFTERMATH_QUERY_MAX_SECONDS/)
  })
})
