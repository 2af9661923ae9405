// A Nuxt app whose store reaches Redis through Sentinel, configured only by environment variables.
import { randomUUID } from 'node:crypto'
import { $fetch } from '@nuxt/test-utils/e2e'
import { afterAll, describe, expect, test } from 'vitest'
import { DATA_PASSWORD, NAME, SENTINEL_PASSWORD, startSentinelSet } from '../support/sentinel.mjs'
import { serveFixture } from './helpers.mjs'

describe('Sentinel from environment variables', async () => {
  const set = await startSentinelSet()
  afterAll(() => set.stop(), 60000)
  await serveFixture({}, {
    NUXT_NVENT_STORE_REDIS_CONNECTION_SENTINELS: set.connection.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
    NUXT_NVENT_STORE_REDIS_CONNECTION_NAME: NAME,
    NUXT_NVENT_STORE_REDIS_CONNECTION_PASSWORD: DATA_PASSWORD,
    NUXT_NVENT_STORE_REDIS_CONNECTION_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
  })

  test('the tiers work, and their data is on the primary the sentinels name', async () => {
    const run = randomUUID()
    const got = await $fetch('/api/tiers', { method: 'POST', body: { run } })
    expect(got.kv).toEqual({ run })
    const primary = set.admin(await set.primaryPort())
    expect(await primary.exists(`fixture:kv:${run}`)).toBe(1)
    primary.disconnect()
  })
})
