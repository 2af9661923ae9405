// How runtime config becomes RedisStore options (nuxt/runtime/options.mjs).
import { describe, expect, test } from 'vitest'
import { RedisStore } from '../../store.mjs'
import { resolveStoreOptions } from '../../nuxt/runtime/options.mjs'

const placeholders = { url: '', host: '', port: '', path: '', username: '', password: '', db: '', cluster: '', sentinels: '', name: '', sentinelUsername: '', sentinelPassword: '' }

describe('resolveStoreOptions', () => {
  test('sources in order: nventStoreRedis, nvent.store.connection, nvent.store.redis, nvent.connections.redis', () => {
    const all = {
      nventStoreRedis: { connection: { host: 'own' } },
      nvent: { store: { connection: { host: 'store' }, redis: { host: 'store-redis' } }, connections: { redis: { host: 'shared' } } },
    }
    const pick = (config) => {
      const { options, source } = resolveStoreOptions(config)
      return [source, options.connection.host]
    }
    expect(pick(all)).toEqual(['nventStoreRedis.connection', 'own'])
    all.nventStoreRedis.connection = { ...placeholders }
    expect(pick(all)).toEqual(['nvent.store.connection', 'store'])
    delete all.nvent.store.connection
    expect(pick(all)).toEqual(['nvent.store.redis', 'store-redis'])
    delete all.nvent.store.redis
    expect(pick(all)).toEqual(['nvent.connections.redis', 'shared'])
    delete all.nvent.connections
    expect(pick(all)).toEqual(['default (localhost:6379)', undefined])
  })

  test('the first source with any field set wins whole; unset placeholders are dropped', () => {
    const { options } = resolveStoreOptions({
      nventStoreRedis: { connection: { ...placeholders, password: 'from-env' } },
      nvent: { connections: { redis: { host: 'shared', port: 6380 } } },
    })
    expect(options.connection).toEqual({ password: 'from-env' })
  })

  test("a connection shared with nvent's queue passes on what the store uses and says what it left out", () => {
    const shared = { host: 'shared', port: 6380, password: 'pw', maxRetriesPerRequest: 3, enableReadyCheck: false, lazyConnect: true }
    const { options, leftOut, source } = resolveStoreOptions({ nvent: { connections: { redis: shared } } })
    expect(source).toBe('nvent.connections.redis')
    expect(options.connection).toEqual({ host: 'shared', port: 6380, password: 'pw' })
    expect(leftOut).toEqual(['maxRetriesPerRequest', 'enableReadyCheck', 'lazyConnect'])
    expect(resolveStoreOptions({ nventStoreRedis: { connection: { host: 'own' } } }).leftOut).toEqual([])
  })

  test("a shared connection that picks a server the store cannot reach (ioredis's nodes, node-redis's socket) is an error, never dropped", () => {
    for (const redis of [{ nodes: [{ host: 'c', port: 7000 }] }, { socket: { path: '/tmp/redis.sock' } }]) {
      expect(() => resolveStoreOptions({ nvent: { connections: { redis } } })).toThrow(/is not supported/)
    }
  })

  test("a shared connection to ioredis's Unix socket path is the store's, and so is the env's", () => {
    const redis = { path: '/run/redis/redis.sock', password: 'pw', maxRetriesPerRequest: 3 }
    const shared = resolveStoreOptions({ nvent: { connections: { redis } } })
    expect(shared.options.connection).toEqual({ path: '/run/redis/redis.sock', password: 'pw' })
    expect(shared.leftOut).toEqual(['maxRetriesPerRequest'])
    // beside a path ioredis ignores host and port, which a normalised connection may still hold
    const normalised = resolveStoreOptions({ nvent: { store: { redis: { host: 'localhost', port: 6379, path: '/run/redis/redis.sock' } } } })
    expect(normalised.options.connection).toEqual({ path: '/run/redis/redis.sock' })
    expect(normalised.leftOut).toEqual(['host', 'port'])
    const { connection } = resolveStoreOptions({ nventStoreRedis: { connection: { ...placeholders, path: '/run/redis/redis.sock' } } }).options
    expect(connection).toEqual({ path: '/run/redis/redis.sock' })
    expect(() => new RedisStore({ connection, logger: false })).not.toThrow()
  })

  test("a shared Cluster connection is kept whole, and the env's 'host:port,…' string is the store's", () => {
    const redis = { cluster: [{ host: 'c', port: 7000 }], password: 'pw' }
    expect(resolveStoreOptions({ nvent: { connections: { redis } } }).options.connection).toEqual(redis)
    const fromEnv = { ...placeholders, cluster: 'c1:7000,c2:7001' }
    const { connection } = resolveStoreOptions({ nventStoreRedis: { connection: fromEnv } }).options
    expect(connection).toEqual({ cluster: 'c1:7000,c2:7001' })
    expect(() => new RedisStore({ connection, logger: false })).not.toThrow()
  })

  test("a shared Sentinel connection is kept whole, and the env's 'host:port,…' string is the store's", () => {
    const redis = { sentinels: [{ host: 's', port: 26379 }], name: 'mymaster', password: 'pw', sentinelPassword: 'spw' }
    expect(resolveStoreOptions({ nvent: { connections: { redis } } }).options.connection).toEqual(redis)
    const fromEnv = { ...placeholders, sentinels: 's1:26379,s2:26380', name: 'mymaster' }
    const { connection } = resolveStoreOptions({ nventStoreRedis: { connection: fromEnv } }).options
    expect(connection).toEqual({ sentinels: 's1:26379,s2:26380', name: 'mymaster' })
    expect(() => new RedisStore({ connection, logger: false })).not.toThrow()
  })

  test('ioThread is passed on only when set', () => {
    expect(resolveStoreOptions({ nventStoreRedis: { ioThread: true } }).options.ioThread).toBe(true)
    expect('ioThread' in resolveStoreOptions({ nventStoreRedis: { ioThread: '' } }).options).toBe(false)
  })

  test('busyPollMicros is passed on only when set', () => {
    expect(resolveStoreOptions({ nventStoreRedis: { busyPollMicros: 0 } }).options.busyPollMicros).toBe(0)
    expect(resolveStoreOptions({ nventStoreRedis: { busyPollMicros: '250' } }).options.busyPollMicros).toBe('250')
    expect('busyPollMicros' in resolveStoreOptions({ nventStoreRedis: { busyPollMicros: '' } }).options).toBe(false)
  })

  test('prefix: nventStoreRedis.prefix, then nvent.store.prefix, else the store\'s default', () => {
    const prefix = (config) => resolveStoreOptions(config).options.prefix
    expect(prefix({ nventStoreRedis: { prefix: 'own' }, nvent: { store: { prefix: 'theirs' } } })).toBe('own')
    expect(prefix({ nventStoreRedis: { prefix: '' }, nvent: { store: { prefix: 'theirs' } } })).toBe('theirs')
    expect('prefix' in resolveStoreOptions({ nventStoreRedis: { prefix: '' } }).options).toBe(false)
    expect(new RedisStore(resolveStoreOptions({}).options).prefix).toBe('nvent')
  })

  test('stream trimming: unset fields are the store\'s defaults; false keeps streams whole', () => {
    const streams = (own) => resolveStoreOptions({ nventStoreRedis: { streams: own } }).options.streams
    expect(streams(undefined)).toBeUndefined()
    // the placeholders of runtime config that no env variable filled
    expect(streams({ trim: { maxLen: '', approx: '' } })).toBeUndefined()
    expect(streams({ trim: { maxLen: 50, approx: false } })).toEqual({ trim: { maxLen: 50, approx: false } })
    expect(streams({ trim: { maxLen: '', approx: false } })).toEqual({ trim: { approx: false } })
    expect(streams({ trim: false })).toEqual({ trim: false })
  })
})
