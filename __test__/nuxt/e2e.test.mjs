// The packed package in a Nuxt 4 app, listed after nvent as in the 0.5.15 README, built and
// served by @nuxt/test-utils.
import { randomUUID } from 'node:crypto'
import { $fetch } from '@nuxt/test-utils/e2e'
import { describe, expect, test } from 'vitest'
import { connectionOf } from '../support/stores.mjs'
import { databasesHolding, serveFixture } from './helpers.mjs'

const { host, port } = connectionOf()

describe('Nuxt app with nvent and the adapter module', async () => {
  await serveFixture(
    {
      nventStoreRedis: { connection: { host, port, db: 1 } },
      nvent: { store: { connection: { host, port, db: 2 }, prefix: 'from-nvent' }, connections: { redis: { host, port, db: 3 } } },
    },
    { NUXT_NVENT_STORE_REDIS_PREFIX: 'from-env' },
  )

  test('the adapter is registered although nvent comes first in modules', async () => {
    const adapter = await $fetch('/api/adapter')
    expect(adapter).toMatchObject({ registered: true, sameAsHelper: true, hasIndexAdd: false })
  })

  test('an environment variable overrides runtime config', async () => {
    expect((await $fetch('/api/adapter')).prefix).toBe('from-env')
  })

  test('the three tiers work through the registered adapter', async () => {
    const run = randomUUID()
    const got = await $fetch('/api/tiers', { method: 'POST', body: { run } })
    expect(got.events).toEqual([got.appended])
    expect(got.appended).toMatchObject({ type: 'flow.start', runId: run, data: { n: 1 } })
    expect(got.entry).toEqual({ id: run, score: 1, metadata: { version: 1, status: 'running', emittedEvents: { 'flow.start': 1 } } })
    expect(got.kv).toEqual({ run })
  })

  test('nventStoreRedis.connection wins over nvent.store.connection and nvent.connections.redis', async () => {
    const run = randomUUID()
    await $fetch('/api/tiers', { method: 'POST', body: { run } })
    expect(await databasesHolding(`fixture:kv:${run}`)).toEqual([1])
  })
})
