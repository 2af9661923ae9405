// The store when production Redis misbehaves: a stalled server, one out of memory, a rotated
// password, a failover that demotes the primary, a host that vanishes, options it cannot honour.
// Each test starts redis-servers of its own. (Connection-level faults no real server makes —
// garbage, a peer that stops reading — are tested in Rust: src/store/wire/tests.rs.)
import IORedis from 'ioredis'
import { describe, expect, test } from 'vitest'
import { RedisStore, StoreError } from '../store.mjs'
import { startRedis } from '../scripts/redis-server.mjs'
import { startProxy } from './support/fault-proxy.mjs'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Runs `fn(store, admin, server)` against a redis-server of its own, started with `args`. */
async function withServer({ args = [], connection = {} } = {}, fn) {
  const server = await startRedis({ args })
  const admin = new IORedis(server.url, { maxRetriesPerRequest: 1 })
  const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, ...connection }, logger: false })
  try {
    await fn(store, admin, server)
  } finally {
    await store.close()
    admin.disconnect()
    await server.stop()
  }
}

/** Every key and its DUMP, to show that a refused call changed nothing. */
async function snapshot(admin) {
  const keys = (await admin.keys('*')).sort()
  return Promise.all(keys.map(async (key) => [key, (await admin.dumpBuffer(key))?.toString('hex')]))
}

const outcome = (promise) => promise.then(() => 'ok', (e) => e.code)

describe('commandTimeout bounds the whole call', () => {
  test('while the server stalls, every kind of call settles within the timeout, and none is uncertain about a write it never sent', () =>
    withServer({ args: ['--enable-debug-command', 'local'], connection: { commandTimeout: 1000, connectTimeout: 1000 } }, async (store, admin, server) => {
      for (let i = 0; i < 300; i++) await admin.set(`c:${i}`, i)
      await store.index.add('i', 'a', 1, { status: 'x' })
      await store.kv.set('k', 1)
      expect(await store.kv.get('k')).toBe(1)
      const sleeper = new IORedis(server.url)
      const stall = sleeper.call('DEBUG', 'SLEEP', '3')
      await sleep(50)
      const kinds = [
        () => store.kv.get('k'),
        () => store.kv.set('k', 2),
        () => store.index.read('i', { filter: { status: 'x' } }),
        () => store.index.add('i', 'b', 2, { status: 'y' }),
        () => store.kv.clear('c:*'),
        () => store.stream.read('s', { types: ['t'] }),
        () => store.index.updateWithRetry('i', 'a', { n: 1 }),
      ]
      const timings = []
      const started = Date.now()
      const calls = []
      for (let i = 0; Date.now() - started < 2600; i++) {
        const t0 = Date.now()
        calls.push(outcome(kinds[i % kinds.length]()).then((code) => timings.push([Date.now() - t0, code])))
        await sleep(90)
      }
      await Promise.all(calls)
      await stall
      sleeper.disconnect()
      // a write that gave up before it was sent is never sent later, after newer writes
      await store.kv.set('k', 'last')
      await sleep(300)
      expect(await admin.get('k')).toBe('last')
      expect(timings.length).toBeGreaterThan(20)
      for (const [ms, code] of timings) {
        // 'ok' for the last calls, answered once the server woke up
        expect(['ok', 'TIMEOUT', 'UNAVAILABLE']).toContain(code)
        // the bound is 1000 ms; the margin is for a busy machine, well below the 1.5-2 s of a call that waits for a second login
        expect(ms).toBeLessThan(1400)
      }
      expect(await store.kv.get('k')).toBe('last')
    }))
})

describe('out of memory', () => {
  test('writes reject REDIS saying so and write nothing; reads answer; writes work once memory is freed', () =>
    withServer({ args: ['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'] }, async (store, admin) => {
      await store.index.add('i', 'a', 1, { n: 1, s: { t: 1 } })
      await store.stream.append('s', { type: 't' })
      await store.kv.set('k', 1)
      await store.kv.set('text', 'abc')
      const filler = 'x'.repeat(64 * 1024)
      for (let i = 0; ; i++) {
        try {
          await admin.set(`filler:${i}`, filler)
        } catch (err) {
          expect(String(err)).toMatch(/OOM/)
          break
        }
      }
      const before = await snapshot(admin)
      const writes = {
        'kv.set': () => store.kv.set('k2', 'v'),
        'kv.set existing': () => store.kv.set('k', 2),
        'kv.increment': () => store.kv.increment('k'),
        'index.add new': () => store.index.add('i', 'b', 2, { n: 2 }),
        'index.add existing': () => store.index.add('i', 'a', 3, { n: 3 }),
        'index.update': () => store.index.update('i', 'a', { n: 4, s: null }),
        'index.increment': () => store.index.increment('i', 'a', 'n'),
        'index.updateWithRetry': () => store.index.updateWithRetry('i', 'a', { m: 1 }),
        'stream.append': () => store.stream.append('s', { type: 't' }),
      }
      for (const [name, write] of Object.entries(writes)) {
        const err = await write().then(() => null, (e) => e)
        expect(err, name).toBeInstanceOf(StoreError)
        expect(err.code, name).toBe('REDIS')
        expect(err.message, name).toMatch(/out of memory/)
      }
      expect(await snapshot(admin)).toEqual(before)
      expect(await store.kv.get('k')).toBe(1)
      expect(await store.index.get('i', 'a')).toMatchObject({ metadata: { n: 1 } })
      expect(await store.index.read('i')).toHaveLength(1)
      expect(await store.stream.read('s')).toHaveLength(1)
      await admin.config('SET', 'maxmemory', '0')
      for (const [name, write] of Object.entries(writes)) await expect(write(), name).resolves.not.toThrow()
    }))
})

describe('a password that no longer works', () => {
  test('is tried about once a second, and calls in between fail at once with UNAVAILABLE', () =>
    withServer({}, async (_, admin, server) => {
      await admin.call('ACL', 'SETUSER', 'app', 'on', '>first', '~*', '&*', '+@all')
      const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, username: 'app', password: 'first' }, logger: false })
      try {
        await store.kv.set('k', 1)
        expect(await store.kv.get('k')).toBe(1)
        await admin.call('ACL', 'SETUSER', 'app', 'resetpass', '>second')
        await admin.call('CLIENT', 'KILL', 'USER', 'app')
        const connectionsBefore = Number((await admin.info('stats')).match(/total_connections_received:(\d+)/)[1])
        const outcomes = []
        const started = Date.now()
        while (Date.now() - started < 3000) {
          const t0 = Date.now()
          const err = await store.kv.get('k').then(() => null, (e) => e)
          outcomes.push([err?.code, err?.message ?? '', Date.now() - t0])
          await sleep(20)
        }
        const attempts = Number((await admin.info('stats')).match(/total_connections_received:(\d+)/)[1]) - connectionsBefore
        expect(outcomes.length).toBeGreaterThan(50)
        expect(attempts).toBeLessThanOrEqual(5)
        expect(attempts).toBeGreaterThanOrEqual(2)
        for (const [code, message] of outcomes) {
          expect(code).toBe('UNAVAILABLE')
          expect(message).toMatch(/authentication failed/)
        }
        // most calls did not wait for a login
        expect(outcomes.filter(([, , ms]) => ms < 50).length).toBeGreaterThan(outcomes.length * 0.8)
        await admin.call('ACL', 'SETUSER', 'app', 'resetpass', '>first')
        const back = Date.now()
        while ((await outcome(store.kv.get('k'))) !== 'ok') {
          expect(Date.now() - back).toBeLessThan(3000)
          await sleep(50)
        }
      } finally {
        await store.close()
      }
    }))

  test('a database that does not exist is refused the same way', () =>
    withServer({ args: ['--databases', '4'] }, async (_, admin, server) => {
      const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, db: 9 }, logger: false })
      try {
        const err = await store.kv.get('k').catch((e) => e)
        expect(err.code).toBe('UNAVAILABLE')
        expect(err.message).toMatch(/DB index is out of range/)
        const t0 = Date.now()
        expect(await outcome(store.kv.get('k'))).toBe('UNAVAILABLE')
        expect(Date.now() - t0).toBeLessThan(200)
      } finally {
        await store.close()
      }
    }))
})

describe('ACL key patterns', () => {
  test('kv.clear skips a key the user may not touch and deletes the rest', () =>
    withServer({}, async (_, admin, server) => {
      await admin.call('ACL', 'SETUSER', 'app', 'on', '>pw', '~mine:*', 'resetchannels', '-@all', '+@read', '+@write', '+@keyspace', '+@scripting', '-@dangerous', '+scan')
      const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, username: 'app', password: 'pw' }, logger: false })
      try {
        for (let i = 0; i < 600; i++) await admin.set(`mine:${i}`, i)
        await admin.set('mine-secret', 'theirs')
        // SCAN lists keys whatever the ACL: the foreign one shares a DEL with 255 of ours
        expect(await store.kv.clear('mine*')).toBe(600)
        expect(await admin.get('mine-secret')).toBe('theirs')
        expect(await admin.keys('mine:*')).toEqual([])
      } finally {
        await store.close()
      }
    }))
})

describe('failover', () => {
  test('a primary demoted by REPLICAOF is left for the server that took over; no write is refused for longer', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()])
    const proxy = await startProxy(a.port)
    const adminA = new IORedis(a.url)
    const adminB = new IORedis(b.url)
    const store = new RedisStore({ connection: { host: '127.0.0.1', port: proxy.port }, logger: false })
    try {
      await store.kv.set('k', 'on a')
      expect(await store.kv.get('k')).toBe('on a')
      // what a managed failover does: the old primary follows the new one, and the address moves
      proxy.retarget(b.port)
      await adminA.call('REPLICAOF', '127.0.0.1', String(b.port))
      const codes = []
      const started = Date.now()
      let firstSuccess = null
      for (let i = 0; Date.now() - started < 2500; i++) {
        const code = await outcome(store.kv.set('k', i))
        codes.push(code)
        if (code === 'ok' && firstSuccess === null) firstSuccess = Date.now() - started
        await sleep(20)
      }
      expect(codes.filter((c) => c !== 'ok').every((c) => c === 'UNAVAILABLE')).toBe(true)
      expect(firstSuccess).not.toBeNull()
      expect(firstSuccess).toBeLessThan(1500)
      expect(codes.slice(codes.indexOf('ok'))).toEqual(codes.slice(codes.indexOf('ok')).map(() => 'ok'))
      expect(await adminB.get('k')).toBe(String(codes.length - 1))
      expect(await store.kv.get('k')).toBe(codes.length - 1)
    } finally {
      await store.close()
      adminA.disconnect()
      adminB.disconnect()
      await proxy.close()
      await Promise.all([a.stop(), b.stop()])
    }
  })
})

describe('a host that vanishes', () => {
  test('an idle connection whose peer went silent is replaced before a caller pays a timeout for it', () =>
    withServer({}, async (_, admin, server) => {
      const proxy = await startProxy(server.port)
      const store = new RedisStore({ connection: { host: '127.0.0.1', port: proxy.port, commandTimeout: 1500 }, logger: false })
      try {
        await store.kv.set('k', 1)
        expect(await store.kv.get('k')).toBe(1)
        proxy.blackhole()
        // two heartbeats (1 s each) and the heartbeat's timeout: the silent connections are noticed
        // at most 3.5 s; the rest is margin for a busy machine
        await sleep(5000)
        await store.kv.set('k', 2)
        expect(await store.kv.get('k')).toBe(2)
      } finally {
        await store.close()
        await proxy.close()
      }
    }))

  test('connections reset under load: only calls in flight reject, with codes that say whether they were sent', () =>
    withServer({}, async (store, admin) => {
      const proxy = await startProxy((await admin.config('GET', 'port'))[1])
      const viaProxy = new RedisStore({ connection: { host: '127.0.0.1', port: proxy.port }, logger: false })
      try {
        let acknowledged = 0
        let uncertain = 0
        const codes = new Set()
        for (let round = 0; round < 10; round++) {
          const calls = Array.from({ length: 50 }, () => viaProxy.kv.increment('n'))
          // the reset is done before the next round (it could otherwise meet the last check's call)
          const reset = round % 2 === 1 ? new Promise((done) => setTimeout(() => done(proxy.reset()), 0)) : null
          const settled = await Promise.allSettled(calls)
          await reset
          for (const result of settled) {
            if (result.status === 'fulfilled') acknowledged++
            else {
              codes.add(result.reason.code)
              if (result.reason.code === 'UNCERTAIN') uncertain++
            }
          }
        }
        for (const code of codes) expect(['UNAVAILABLE', 'UNCERTAIN']).toContain(code)
        // every acknowledged increment landed once; an uncertain one may have landed too
        const stored = Number(await admin.get('n'))
        expect(stored).toBeGreaterThanOrEqual(acknowledged)
        expect(stored).toBeLessThanOrEqual(acknowledged + uncertain)
        expect(await viaProxy.kv.increment('n')).toBe(stored + 1)
      } finally {
        await viaProxy.close()
        await proxy.close()
      }
    }))
})

describe('a slow link', () => {
  test('calls keep their order and settle within the timeout', () =>
    withServer({}, async (_, admin, server) => {
      const proxy = await startProxy(server.port)
      const store = new RedisStore({ connection: { host: '127.0.0.1', port: proxy.port, commandTimeout: 2000 }, logger: false })
      try {
        await store.kv.set('k', 0)
        proxy.slow(40)
        const calls = []
        for (let i = 1; i <= 200; i++) {
          calls.push(store.kv.set('k', i), store.kv.get('k').then((v) => expect(v).toBe(i)), store.index.add('i', `e${i % 7}`, i, { i }))
          if (i % 20 === 0) await sleep(5)
        }
        await Promise.all(calls)
        expect(await admin.get('k')).toBe('200')
        expect(await store.index.read('i')).toHaveLength(7)
      } finally {
        await store.close()
        await proxy.close()
      }
    }))
})

describe('options it cannot honour', () => {
  test('unknown fields and #insecure are refused, naming the field', () => {
    const cases = [
      [{ connection: { host: 'h', sentinels: [{ host: 'h', port: 26379 }], name: 'mymaster' } }, 'connection.host'],
      [{ connection: { sentinels: [], name: 'mymaster' } }, 'connection.sentinels'],
      [{ connection: { sentinels: 'h:26379,h' , name: 'mymaster' } }, 'connection.sentinels[1]'],
      [{ connection: { sentinels: [{ host: 'h', port: 26379 }] } }, 'connection.name'],
      [{ connection: { host: 'h', name: 'mymaster' } }, 'connection.name'],
      [{ connection: { cluster: [{ host: 'h', port: 7000 }], port: 6379 } }, 'connection.port'],
      [{ connection: { socket: { path: '/tmp/redis.sock' } } }, 'connection.socket'],
      [{ connection: { host: 'h', maxRetriesPerRequest: null } }, 'connection.maxRetriesPerRequest'],
      [{ connection: { tls: { rejectUnauthorized: false } } }, 'connection.tls.rejectUnauthorized'],
      [{ streams: { trim: { maxlen: 5 } } }, 'streams.trim.maxlen'],
      [{ keyPrefix: 'x' }, 'keyPrefix'],
      [{ connection: { url: 'rediss://127.0.0.1:6380/#insecure' } }, '#insecure'],
    ]
    for (const [options, field] of cases) {
      let error
      try {
        new RedisStore(options)
      } catch (e) {
        error = e
      }
      expect(error, field).toBeInstanceOf(StoreError)
      expect(error.code).toBe('INVALID_ARGUMENT')
      expect(error.message).toContain(field)
    }
  })
})
