// The store on a Redis Cluster (3 primaries, 3 replicas, started for this file): the contract
// with keys spread over the slots and with every key in one slot, resharding under traffic, a
// failover asked of a replica, a primary killed outright, and an ACL user.
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { RedisStore } from '../store.mjs'
import { contractSuite } from './contract.mjs'
import { CLUSTER_PASSWORD, redisCli, startCluster } from './support/cluster.mjs'
import { failedAsAllowed, firstWriteOn, loop, sleep, until } from './support/failover.mjs'

let cluster

beforeAll(async () => {
  cluster = await startCluster()
}, 60000)
afterAll(() => cluster?.stop(), 60000)

const onCluster = (options = {}) => new RedisStore({ logger: false, ...options, connection: options.connection ?? cluster.connection })

// `t:<uuid>:…`: an entry's metadata and its index lie in different slots, so index writes run as
// one-key steps
contractSuite('RedisStore (native) on a cluster', onCluster, { raw: () => cluster.raw() })
// `{t:<uuid>}:…`: one slot for everything, so index writes are single scripts, as on one server
contractSuite('RedisStore (native) on a cluster, one hash tag', onCluster, { raw: () => cluster.raw(), prefix: () => `{t:${randomUUID()}}:` })

// How many slots a node serves (`slots` as CLUSTER NODES lists them: `0-5460`, `7000`, `[…]`).
const slotCount = (node) =>
  node.slots
    .filter((s) => !s.startsWith('['))
    .map((s) => s.split('-').map(Number))
    .reduce((n, [from, to = from]) => n + to - from + 1, 0)

describe('resharding under traffic', () => {
  test('slots move while calls of every tier run: MOVED and ASK are followed, and no call fails', async () => {
    const store = onCluster()
    const p = `reshard:${randomUUID()}:`
    const counters = Array.from({ length: 50 }, (_, i) => `${p}n${i}`)
    try {
      const writes = loop(async (i) => {
        const key = counters[i % counters.length]
        await store.kv.increment(key)
        await store.index.add(`${p}idx`, `e${i % 200}`, i, { i })
        await store.index.update(`${p}idx`, `e${i % 200}`, { seen: i })
        await store.stream.append(`${p}s${i % 10}`, { type: 't', data: i })
        return key
      })
      const reads = loop(async (i) => {
        await store.index.read(`${p}idx`, { limit: 20 })
        return store.kv.get(counters[i % counters.length])
      })
      await sleep(300)
      const nodes = await cluster.nodes()
      const [from, to] = nodes.filter((n) => n.primary && n.slots.length > 0)
      // 2000 slots hold about 600 of the keys above: many keys move while they are written
      await redisCli('--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', from.id, '--cluster-to', to.id, '--cluster-slots', '2000', '--cluster-yes', '--cluster-pipeline', '10')
      await sleep(300)
      await writes.stop()
      await reads.stop()
      const failures = [...writes.outcomes, ...reads.outcomes].filter((o) => !o.ok)
      expect(failures).toEqual([])
      // every increment landed once
      const expected = new Map()
      for (const o of writes.outcomes) expected.set(o.value, (expected.get(o.value) ?? 0) + 1)
      for (const [key, n] of expected) expect(await store.kv.get(key), key).toBe(n)
      expect(writes.outcomes.length).toBeGreaterThan(100)
      // and the slots did move
      const after = await cluster.nodes()
      expect(slotCount(after.find((n) => n.id === to.id))).toBe(slotCount(to) + 2000)
    } finally {
      await store.close()
    }
  }, 120000)
})

describe('index writes in steps', () => {
  test('a step refused after an earlier one landed: UNCERTAIN, nothing half-made is listed, and the next add completes it', async () => {
    const store = onCluster()
    const key = `half:${randomUUID()}`
    const indexNode = await cluster.primaryOf(key)
    // an id whose metadata lies on another node than the index
    let id = 0
    while ((await cluster.primaryOf(`${key}:meta:e${id}`)) === indexNode) id++
    const entry = `e${id}`
    const admin = cluster.admin(indexNode)
    try {
      await store.index.add(key, 'kept', 1, { n: 1 })
      // the index's node refuses every write for want of memory; the metadata's node does not
      await admin.config('SET', 'maxmemory-policy', 'noeviction')
      await admin.config('SET', 'maxmemory', '1')
      const err = await store.index.add(key, entry, 2, { n: 2 }).catch((e) => e)
      expect(err.code).toBe('UNCERTAIN')
      expect(err.message).toMatch(/out of memory.*after an earlier step of the call was applied/)
      expect(await store.index.get(key, entry)).toBeNull()
      expect((await store.index.read(key)).map((e) => e.id)).toEqual(['kept'])
      await admin.config('SET', 'maxmemory', '0')
      await store.index.add(key, entry, 2, { n: 2 })
      expect(await store.index.get(key, entry)).toMatchObject({ id: entry, score: 2, metadata: { n: 2 } })
    } finally {
      await admin.config('SET', 'maxmemory', '0')
      admin.disconnect()
      await store.close()
    }
  })
})

describe('a slot half-way through a move', () => {
  test("an entry added again while its metadata's slot is migrating gets exactly the new metadata", async () => {
    const store = onCluster()
    const key = `moving:${randomUUID()}`
    const meta = `${key}:meta:e1`
    const sourcePort = await cluster.primaryOf(meta)
    const nodes = await cluster.nodes()
    const source = nodes.find((n) => n.port === sourcePort)
    const target = nodes.find((n) => n.primary && n.id !== source.id && !n.failed)
    const [from, to] = [cluster.admin(source.port), cluster.admin(target.port)]
    const slot = await from.cluster('KEYSLOT', meta)
    try {
      await store.index.add(key, 'e1', 1, { n: 1, old: true })
      // the slot's keys are still on the source: a script there may touch them, but not one that
      // is missing (Redis would send it to the target), so the hash must never be absent
      await to.cluster('SETSLOT', slot, 'IMPORTING', source.id)
      await from.cluster('SETSLOT', slot, 'MIGRATING', target.id)
      await store.index.add(key, 'e1', 2, { n: 2 })
      const entry = await store.index.get(key, 'e1')
      expect(entry).toMatchObject({ id: 'e1', score: 2, metadata: { n: 2 } })
      expect(entry.metadata.old).toBeUndefined()
    } finally {
      await from.cluster('SETSLOT', slot, 'STABLE')
      await to.cluster('SETSLOT', slot, 'STABLE')
      from.disconnect()
      to.disconnect()
      await store.close()
    }
  })
})

describe('load', () => {
  test('64 reads of 1000 entries at once all answer: wide reads wait for room instead of timing out', async () => {
    const store = onCluster()
    const key = `wide:${randomUUID()}`
    try {
      for (let i = 0; i < 1000; i += 250) await Promise.all(Array.from({ length: 250 }, (_, j) => store.index.add(key, `e${i + j}`, i + j, { n: i + j })))
      const reads = await Promise.allSettled(Array.from({ length: 64 }, () => store.index.read(key, { limit: 1000 })))
      expect(reads.filter((r) => r.status === 'rejected').map((r) => r.reason.message)).toEqual([])
      for (const r of reads) expect(r.value).toHaveLength(1000)
    } finally {
      await store.close()
    }
  }, 60000)
})

describe('failover', () => {
  // `key`'s primary, and a replica of it that is in sync (one demoted by an earlier test may still
  // be catching up, and a replica out of touch for long does not take over; until gossip has told
  // every node of the earlier failover, the one asked may list no replica for the new primary)
  async function replicaOfPrimaryOf(key) {
    let primary, replica
    await until('the primary has a replica', async () => {
      const [nodes, port] = [await cluster.nodes(), await cluster.primaryOf(key)]
      primary = nodes.find((n) => n.port === port)
      replica = nodes.find((n) => n.replicaOf === primary?.id && !n.failed)
      return replica !== undefined
    })
    const admin = cluster.admin(replica.port)
    await until('the replica is in sync', async () => /master_link_status:up/.test(await admin.info('replication')))
    admin.disconnect()
    return { primary, replica }
  }

  test('CLUSTER FAILOVER: the store follows the new primary, and nothing is stored twice', async () => {
    const store = onCluster()
    const key = `{failover:asked:${randomUUID()}}`
    try {
      await store.kv.set(key, 0)
      const { primary, replica } = await replicaOfPrimaryOf(key)
      const writes = loop(() => store.kv.increment(key))
      await sleep(200)
      const admin = cluster.admin(replica.port)
      await admin.call('CLUSTER', 'FAILOVER')
      admin.disconnect()
      await until('the replica is promoted', async () => (await cluster.primaryOf(key, replica.port)) === replica.port)
      expect(await firstWriteOn(store, `${key}:probe`, () => cluster.admin(replica.port))).toBeLessThan(1500)
      await sleep(100)
      await writes.stop()
      failedAsAllowed(writes.outcomes)
      const acked = writes.outcomes.filter((o) => o.ok).length
      const uncertain = writes.outcomes.filter((o) => !o.ok && o.code !== 'UNAVAILABLE').length
      const value = await store.kv.get(key)
      expect(value).toBeGreaterThanOrEqual(acked)
      expect(value).toBeLessThanOrEqual(acked + uncertain)
      expect(primary.port).not.toBe(replica.port)
    } finally {
      await store.close()
    }
  }, 60000)

  test('a primary killed outright: only calls in flight may fail, and writes go on once its replica is promoted', async () => {
    const store = onCluster({ connection: { ...cluster.connection, commandTimeout: 1000 } })
    const key = `{failover:killed:${randomUUID()}}`
    try {
      await store.kv.set(key, 0)
      const { primary, replica } = await replicaOfPrimaryOf(key)
      const writes = loop(() => store.kv.increment(key))
      await sleep(200)
      const server = cluster.servers.find((s) => s.port === primary.port)
      cluster.down.add(server)
      await server.kill('SIGKILL')
      await until('the replica is promoted', async () => (await cluster.primaryOf(key, replica.port)) === replica.port, 30000)
      expect(await firstWriteOn(store, `${key}:probe`, () => cluster.admin(replica.port))).toBeLessThan(1500)
      await writes.stop()
      failedAsAllowed(writes.outcomes)
      // Redis replicates asynchronously: the increments the killed primary acknowledged last may be gone
      expect(typeof (await store.kv.get(key))).toBe('number')
      // the other slots never stopped answering
      for (let i = 0; i < 20; i++) await store.kv.set(`failover:other:${i}`, i)
    } finally {
      await store.close()
    }
  }, 60000)
})

describe('an ACL user', () => {
  test('with only data commands works on every node', async () => {
    for (const server of cluster.servers.filter((s) => !cluster.down.has(s))) {
      const admin = cluster.admin(server.port)
      await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-S3cret', '~*', 'resetchannels', '-@all', '+@read', '+@write', '+@keyspace', '+@scripting', '-@dangerous', '+scan', '+cluster|nodes', '+cluster|slots', '+cluster|shards', '+asking', '+readonly')
      admin.disconnect()
    }
    const live = cluster.servers.filter((s) => !cluster.down.has(s))
    const store = onCluster({ connection: { cluster: live.map((s) => ({ host: '127.0.0.1', port: s.port })), username: 'app', password: 'app-S3cret' } })
    const p = `acl:${randomUUID()}:`
    try {
      const rec = await store.stream.append(`${p}s`, { type: 't' })
      expect(await store.stream.read(`${p}s`)).toEqual([rec])
      await store.index.add(`${p}i`, 'a', 1)
      expect(await store.index.increment(`${p}i`, 'a', 'n', 2)).toBe(2)
      expect(await store.index.read(`${p}i`, { filter: { n: 2 } })).toHaveLength(1)
      await store.kv.set(`${p}k`, 'v')
      expect(await store.kv.clear(`${p}*`)).toBe(4)
    } finally {
      await store.close()
    }
  })

  test('a wrong password fails as UNAVAILABLE without the password in the message', async () => {
    const store = onCluster({ connection: { ...cluster.connection, password: 'wrong-S3cret', connectTimeout: 500, commandTimeout: 800 } })
    const err = await store.kv.get('x').catch((e) => e)
    expect(err.code).toBe('UNAVAILABLE')
    expect(err.message).toMatch(/authentication failed|WRONGPASS/i)
    expect(err.message).not.toContain('S3cret')
    await store.close()
  })
})

describe('outage', () => {
  test('while no node answers, calls fail fast with UNAVAILABLE and attempts to reach the cluster stay apart', async () => {
    // a peer that takes connections and closes them at once: no node will ever answer
    let connections = 0
    const peer = net.createServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise((r) => peer.listen(0, '127.0.0.1', r))
    const store = onCluster({ connection: { cluster: [{ host: '127.0.0.1', port: peer.address().port }], connectTimeout: 500, commandTimeout: 800 } })
    try {
      const took = []
      const started = Date.now()
      while (Date.now() - started < 1000) {
        const at = Date.now()
        const err = await store.kv.get('outage').catch((e) => e)
        took.push(Date.now() - at)
        expect(err.code).toBe('UNAVAILABLE')
        await sleep(5)
      }
      expect(took.length).toBeGreaterThan(50)
      // one attempt (two connections, one per lane) about every 250 ms, not one per call
      expect(connections).toBeLessThanOrEqual(2 * 8)
      expect(took.filter((ms) => ms < 50).length / took.length).toBeGreaterThan(0.8)
    } finally {
      await store.close()
      peer.close()
    }
  })
})

describe('options', () => {
  test('a mixed shape, another db or an empty node list is refused, naming the field', () => {
    const nodes = [{ host: '127.0.0.1', port: 7000 }]
    for (const [connection, field] of [
      [{ cluster: nodes, host: 'localhost' }, 'connection.host'],
      [{ cluster: nodes, url: 'redis://x' }, 'connection.url'],
      [{ cluster: nodes, sentinels: nodes, name: 'x' }, 'connection.sentinels'],
      [{ cluster: nodes, db: 1 }, 'connection.db'],
      [{ cluster: [] }, 'connection.cluster'],
      [{ cluster: '127.0.0.1' }, 'connection.cluster[0]'],
    ]) {
      expect(() => new RedisStore({ logger: false, connection }), JSON.stringify(connection)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(field) }))
    }
  })

  test('one replica is enough to find the whole cluster', async () => {
    const replica = (await cluster.nodes()).find((n) => !n.primary && !n.failed)
    const store = onCluster({ connection: { cluster: [{ host: '127.0.0.1', port: replica.port }], password: CLUSTER_PASSWORD } })
    const keys = Array.from({ length: 30 }, (_, i) => `seed:${i}`)
    for (const key of keys) await store.kv.set(key, key)
    for (const key of keys) expect(await store.kv.get(key)).toBe(key)
    expect(await store.kv.clear('seed:*')).toBe(30)
    await store.close()
  })

  test("nodes as 'host:port,host:port' (as an env variable gives them) work", async () => {
    const store = onCluster({ connection: { cluster: cluster.connection.cluster.map((n) => `${n.host}:${n.port}`).join(','), password: CLUSTER_PASSWORD } })
    await store.kv.set('env:k', 1)
    expect(await store.kv.get('env:k')).toBe(1)
    await store.close()
  })
})
