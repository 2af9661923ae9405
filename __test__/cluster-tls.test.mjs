// A Redis Cluster on TLS: the store reaches the nodes given and those they name over TLS only,
// each checked against a private CA.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { RedisStore } from '../store.mjs'
import { startCluster } from './support/cluster.mjs'

let cluster
beforeAll(async () => {
  cluster = await startCluster({ tls: true })
}, 60000)
afterAll(() => cluster?.stop(), 60000)

test('every tier works on every node over TLS', async () => {
  const store = new RedisStore({ connection: cluster.connection, logger: false })
  try {
    const rec = await store.stream.append('tls:s', { type: 't' })
    expect(await store.stream.read('tls:s')).toEqual([rec])
    for (let i = 0; i < 30; i++) await store.index.add('tls:i', `e${i}`, i, { n: i })
    expect(await store.index.update('tls:i', 'e1', { m: 2 })).toBe(true)
    expect((await store.index.read('tls:i', { limit: 30 })).map((e) => e.metadata.n)).toEqual([...Array(30).keys()].reverse())
    for (let i = 0; i < 30; i++) await store.kv.set(`tls:k${i}`, i)
    // the keys are on every primary, so every node was reached
    const primaries = (await cluster.nodes()).filter((n) => n.primary)
    for (const node of primaries) {
      const admin = cluster.admin(node.port)
      expect((await admin.keys('tls:*')).length, `keys on ${node.port}`).toBeGreaterThan(0)
      admin.disconnect()
    }
    expect(await store.kv.clear('tls:*')).toBe(30 + 30 + 2)
  } finally {
    await store.close()
  }
})

test('a node whose certificate the CA did not sign is refused', async () => {
  // `true`: the system's CAs, which did not sign these certificates
  const connection = { ...cluster.connection, tls: true, connectTimeout: 1000, commandTimeout: 1500 }
  const store = new RedisStore({ connection, logger: false })
  const err = await store.kv.get('x').catch((e) => e)
  expect(err.code).toBe('UNAVAILABLE')
  expect(err.message).toMatch(/UnknownIssuer|certificate/)
  await store.close()
})
