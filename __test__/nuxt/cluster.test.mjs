// A Nuxt app whose store is on a Redis Cluster, configured only by environment variables.
import { randomUUID } from 'node:crypto'
import { $fetch } from '@nuxt/test-utils/e2e'
import { afterAll, describe, expect, test } from 'vitest'
import { CLUSTER_PASSWORD, startCluster } from '../support/cluster.mjs'
import { serveFixture } from './helpers.mjs'

describe('Cluster from environment variables', async () => {
  const cluster = await startCluster()
  afterAll(() => cluster.stop(), 60000)
  await serveFixture({}, {
    NUXT_NVENT_STORE_REDIS_CONNECTION_CLUSTER: cluster.connection.cluster.map((n) => `${n.host}:${n.port}`).join(','),
    NUXT_NVENT_STORE_REDIS_CONNECTION_PASSWORD: CLUSTER_PASSWORD,
  })

  test('the tiers work, and their data is on the cluster', async () => {
    const run = randomUUID()
    const got = await $fetch('/api/tiers', { method: 'POST', body: { run } })
    expect(got.kv).toEqual({ run })
    expect(got.entry.metadata).toMatchObject({ status: 'running', emittedEvents: { 'flow.start': 1 } })
    const raw = cluster.raw()
    expect(await raw.exists(`fixture:kv:${run}`)).toBe(1)
    raw.disconnect()
  })
})
