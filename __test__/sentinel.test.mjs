// The store on a primary behind Sentinel: the contract, a failover asked of the sentinels, and a
// primary killed outright. One primary, one replica and three sentinels, started for this file.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { RedisStore } from '../store.mjs'
import { contractSuite } from './contract.mjs'
import { failedAsAllowed, firstWriteOn, loop, sleep } from './support/failover.mjs'
import { DATA_PASSWORD, startSentinelSet } from './support/sentinel.mjs'
let set

beforeAll(async () => {
  set = await startSentinelSet()
}, 60000)
afterAll(() => set?.stop(), 60000)

const viaSentinels = (options = {}) => new RedisStore({ logger: false, ...options, connection: options.connection ?? set.connection })

contractSuite('RedisStore (native) via Sentinel', viaSentinels, {
  rawUrl: async () => `redis://:${DATA_PASSWORD}@127.0.0.1:${await set.primaryPort()}`,
})

const incrementsOn = async (port) => {
  const server = set.admin(port)
  const stats = await server.info('commandstats')
  server.disconnect()
  return Number(/cmdstat_incrbyfloat:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

describe('an ACL user', () => {
  test('with only data commands, on the data nodes, works through the sentinels', async () => {
    for (const server of set.servers) {
      const admin = set.admin(server.port)
      await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-S3cret', '~*', 'resetchannels', '-@all', '+@read', '+@write', '+@keyspace', '+@scripting', '-@dangerous', '+scan')
      admin.disconnect()
    }
    const store = viaSentinels({ connection: { ...set.connection, username: 'app', password: 'app-S3cret' } })
    try {
      const rec = await store.stream.append('acl:s', { type: 't' })
      expect(await store.stream.read('acl:s')).toEqual([rec])
      await store.index.add('acl:i', 'a', 1)
      expect(await store.index.increment('acl:i', 'a', 'n', 2)).toBe(2)
      expect(await store.index.read('acl:i', { filter: { n: 2 } })).toHaveLength(1)
      await store.kv.set('acl:k', 'v')
      expect(await store.kv.clear('acl:*')).toBe(4)
    } finally {
      await store.close()
    }
  })
})

describe('failover', () => {
  test('SENTINEL FAILOVER: the store follows the switch at once and stops writing to the old primary', async () => {
    const store = viaSentinels()
    const key = 'failover:asked'
    try {
      await store.kv.set(key, 0)
      const from = await set.primaryPort()
      const writes = loop(() => store.kv.increment(key))
      await sleep(200)
      await set.sentinel.call('SENTINEL', 'FAILOVER', 'nvent')
      await set.until('the sentinels name a new primary', async () => (await set.primaryPort()) !== from)
      const to = await set.primaryPort()
      // within about a second of the sentinels naming it
      expect(await firstWriteOn(store, 'failover:probe', () => set.admin(to))).toBeLessThan(1500)
      await writes.stop()
      failedAsAllowed(writes.outcomes)
      // nothing acknowledged is stored twice (writes the old primary took after the replica was
      // promoted are Redis's own loss: see README, Sentinel)
      const acked = writes.outcomes.filter((o) => o.ok).length
      const uncertain = writes.outcomes.filter((o) => !o.ok && o.code !== 'UNAVAILABLE').length
      const primary = set.admin(to)
      expect(Number(await primary.get(key))).toBeLessThanOrEqual(acked + uncertain)
      primary.disconnect()
      // the old primary still takes writes until the sentinels demote it, seconds later: none of
      // the store's go there any more
      const before = await incrementsOn(from)
      for (let i = 0; i < 50; i++) await store.kv.increment(key)
      expect(await incrementsOn(from)).toBe(before)
    } finally {
      await store.close()
    }
  }, 60000)

  test('a primary killed outright: calls fail fast meanwhile and write again once a replica is promoted', async () => {
    const store = viaSentinels({ connection: { ...set.connection, commandTimeout: 1000 } })
    const key = 'failover:killed'
    try {
      await store.kv.set(key, 0)
      const from = await set.primaryPort()
      const writes = loop(() => store.kv.increment(key))
      await sleep(200)
      await set.servers.find((s) => s.port === from).kill('SIGKILL')
      await set.until('the sentinels promote the replica', async () => (await set.primaryPort()) !== from, 30000)
      const promoted = await set.primaryPort()
      expect(await firstWriteOn(store, 'failover:probe', () => set.admin(promoted))).toBeLessThan(1500)
      await writes.stop()
      failedAsAllowed(writes.outcomes)
      // Redis replicates asynchronously: writes the killed primary acknowledged last may be gone
      expect(typeof (await store.kv.get(key))).toBe('number')
    } finally {
      await store.close()
    }
  }, 60000)
})

describe('options', () => {
  test('a wrong sentinel password or an unknown primary name fails as UNAVAILABLE, saying which', async () => {
    for (const [change, words] of [
      [{ sentinelPassword: 'wrong' }, /sentinel .*WRONGPASS|sentinel .*invalid/i],
      [{ name: 'elsewhere' }, /does not know a primary named "elsewhere"/],
    ]) {
      const store = viaSentinels({ connection: { ...set.connection, ...change, connectTimeout: 500, commandTimeout: 800 } })
      const err = await store.kv.get('x').catch((e) => e)
      expect(err.code).toBe('UNAVAILABLE')
      expect(err.message).toMatch(words)
      expect(err.message).not.toContain('S3cret')
      await store.close()
    }
  })
})
