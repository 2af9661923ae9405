// Without nventStoreRedis.connection, nvent's own store connection and prefix are used.
import { randomUUID } from 'node:crypto'
import { $fetch } from '@nuxt/test-utils/e2e'
import { describe, expect, test } from 'vitest'
import { connectionOf } from '../support/stores.mjs'
import { databasesHolding, serveFixture } from './helpers.mjs'

const { host, port } = connectionOf()

describe('connection from nvent.store.connection', async () => {
  await serveFixture({ nvent: { store: { connection: { host, port, db: 2 }, prefix: 'from-nvent' }, connections: { redis: { host, port, db: 3 } } } })

  test('nvent.store.connection wins over nvent.connections.redis, and nvent.store.prefix is used', async () => {
    const run = randomUUID()
    await $fetch('/api/tiers', { method: 'POST', body: { run } })
    expect(await databasesHolding(`fixture:kv:${run}`)).toEqual([2])
    expect((await $fetch('/api/adapter')).prefix).toBe('from-nvent')
  })
})
