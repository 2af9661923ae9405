// With only nvent's shared connections, nvent.connections.redis is used.
import { randomUUID } from 'node:crypto'
import { $fetch } from '@nuxt/test-utils/e2e'
import { describe, expect, test } from 'vitest'
import { connectionOf } from '../support/stores.mjs'
import { databasesHolding, serveFixture } from './helpers.mjs'

const { host, port } = connectionOf()

describe('connection from nvent.connections.redis', async () => {
  await serveFixture({ nvent: { connections: { redis: { host, port, db: 3 } } } })

  test('nvent.connections.redis is used, with the default prefix', async () => {
    const run = randomUUID()
    await $fetch('/api/tiers', { method: 'POST', body: { run } })
    expect(await databasesHolding(`fixture:kv:${run}`)).toEqual([3])
    expect((await $fetch('/api/adapter')).prefix).toBe('nvent')
  })
})
