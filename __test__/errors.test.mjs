// Errors, connections and lifecycle of the native RedisStore: codes, messages, close(),
// outages and restarts, timeouts, ACL users, and a password that must never leak.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import IORedis from 'ioredis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { RedisStore, StoreError } from '../store.mjs'
import { freePort, startRedis } from '../scripts/redis-server.mjs'
import { nativeStore, rawClient, uniquePrefix } from './support/stores.mjs'
import { sleep } from './support/failover.mjs'

const CANARY = 'S3cr3t-canary-7f3a'
const root = fileURLToPath(new URL('..', import.meta.url))

async function clientCount(redis) {
  return (await redis.client('LIST')).trim().split('\n').length
}

/** Runs `fn(store, admin)` against a redis-server of its own, started with `args`. */
async function withOwnServer({ args = [], connection = {}, ...options }, fn) {
  const server = await startRedis({ args })
  const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, ...connection }, logger: false, ...options })
  const admin = new IORedis(server.url)
  try {
    await fn(store, admin)
  } finally {
    admin.disconnect()
    await store.close()
    await server.stop()
  }
}

describe('arguments and options', () => {
  let store
  beforeAll(() => {
    store = nativeStore()
  })
  afterAll(() => store.close())

  test('bad options throw INVALID_ARGUMENT from the constructor', () => {
    const bad = [
      { connection: { port: 'abc' } },
      { connection: { port: 70000 } },
      { connection: { db: -1 } },
      { connection: { tls: 'yes' } },
      { connection: { url: 'redis://127.0.0.1:6379', host: 'x' } },
      { connection: { url: 'http://127.0.0.1' } },
      { connection: { tls: { cert: 'only a cert' } } },
      { streams: { trim: { maxLen: -1 } } },
      { busyPollMicros: -1 },
      { busyPollMicros: 1.5 },
      { ioThread: 'yes' },
      { logger: {} },
      'not an object',
    ]
    for (const options of bad) {
      let error
      try {
        new RedisStore(options)
      } catch (e) {
        error = e
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(StoreError)
      expect(error.code).toBe('INVALID_ARGUMENT')
    }
  })

  test('the 0.5.15 option shape and a URL are accepted', async () => {
    const a = new RedisStore({ connection: { host: 'localhost', port: 6379, db: 0, password: undefined }, prefix: 'nvent', streams: { trim: { maxLen: 10000, approx: true } } })
    const b = new RedisStore({ connection: { url: 'rediss://user:pw@localhost:6380/2', tls: { servername: 'redis.local' } } })
    expect(a.prefix).toBe('nvent')
    await Promise.all([a.close(), b.close()])
  })

  test('bad arguments reject the promise instead of throwing', async () => {
    const calls = [
      () => store.kv.set(1, 'x'),
      () => store.kv.set('k', 1, '10'),
      () => store.index.add('k', 'id', '1'),
      () => store.index.add('k', 'id', NaN),
      () => store.index.add('k', 'id', Infinity),
      () => store.index.update('k', 'id', null),
      () => store.index.updateWithRetry('k', 'id', {}, 0),
      () => store.index.increment('k', 'id', 'a..b'),
      () => store.index.read('k', { limit: -1 }),
      () => store.index.read('k', { offset: 1.5 }),
      () => store.stream.append('s', { data: 1 }),
      () => store.stream.append('s', 'event'),
      () => store.stream.read('s', { order: 'up' }),
      () => store.stream.read('s', { after: 'abc' }),
      () => store.stream.read('s', { limit: 2.5 }),
      () => store.kv.increment('k', 'one'),
      // metadata is flattened field by field, which stops at 128 levels
      () => store.index.add('k', 'id', 1, { deep: JSON.parse('['.repeat(200) + ']'.repeat(200)) }),
    ]
    for (const call of calls) {
      let promise
      expect(() => {
        promise = call()
      }).not.toThrow()
      await expect(promise, call.toString()).rejects.toMatchObject({ name: 'StoreError', code: 'INVALID_ARGUMENT' })
    }
  })

  test('a bad value fails only its own call, not the others of its batch', async () => {
    const key = `${uniquePrefix()}deep`
    const deep = JSON.parse('['.repeat(300) + ']'.repeat(300))
    const calls = [store.kv.set(`${key}:1`, deep), store.index.add(`${key}:i`, 'a', 1, { deep }), store.index.add(`${key}:i`, 'b', 2, { ok: 1 })]
    const [kvSet, badAdd, goodAdd] = await Promise.allSettled(calls)
    expect(kvSet.status).toBe('fulfilled')
    expect(badAdd.reason).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/index.add.*recursion limit/) })
    expect(goodAdd.status).toBe('fulfilled')
    // a kv value keeps any depth JSON.stringify can write
    expect(await store.kv.get(`${key}:1`)).toEqual(deep)
    expect((await store.index.read(`${key}:i`)).map((e) => e.id)).toEqual(['b'])
    await store.kv.delete(`${key}:1`)
    await store.index.delete(`${key}:i`, 'b')
  })

  test('messages name the operation and the key', async () => {
    const key = `${uniquePrefix()}wrongtype`
    await store.kv.set(key, 'a string')
    const err = await store.stream.append(key, { type: 't' }).catch((e) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe('REDIS')
    expect(err.message).toContain('stream.append')
    expect(err.message).toContain(JSON.stringify(key))
    expect(err.message).toContain('WRONGTYPE')
    await store.kv.delete(key)
  })

  test('store.stream, store.index and store.kv keep their identity', () => {
    expect(store.stream).toBe(store.stream)
    expect(store.index).toBe(store.index)
    expect(store.kv).toBe(store.kv)
  })
})

describe('connection', () => {
  test('one connection serves concurrent writes, and close() is final', async () => {
    const redis = rawClient()
    const before = await clientCount(redis)
    const store = nativeStore()
    const key = `${uniquePrefix()}many`
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.kv.set(`${key}:${i}`, i)))
    expect(await clientCount(redis)).toBe(before + 1)
    await store.close()
    await store.close()
    expect(store.closed).toBe(true)
    await expect(store.kv.get(`${key}:1`)).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(store.index.read('x')).rejects.toMatchObject({ code: 'CLOSED' })
    await new Promise((r) => setTimeout(r, 50))
    expect(await clientCount(redis)).toBe(before)
    await redis.del(...Array.from({ length: 200 }, (_, i) => `${key}:${i}`))
    redis.disconnect()
  })

  test('while Redis is down calls fail with UNAVAILABLE, one line is logged, and the first call after it is back succeeds', async () => {
    const port = await freePort()
    const lines = []
    const logger = { warn: (m) => lines.push(['warn', m]), info: (m) => lines.push(['info', m]) }
    const store = new RedisStore({ connection: { host: '127.0.0.1', port, connectTimeout: 500 }, logger })
    for (let i = 0; i < 10; i++) {
      await expect(store.kv.get('k')).rejects.toMatchObject({ code: 'UNAVAILABLE' })
    }
    expect(lines).toHaveLength(1)
    expect(lines[0][0]).toBe('warn')
    expect(lines[0][1]).toContain(`127.0.0.1:${port}`)
    const server = await startRedis({ port })
    try {
      expect(await store.kv.get('k')).toBeNull()
      expect(lines).toHaveLength(2)
      expect(lines[1][0]).toBe('info')
    } finally {
      await store.close()
      await server.stop()
    }
  })

  test('a restart in the middle of a run loses no acknowledged write and needs no new store', async () => {
    const server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, connectTimeout: 1000 }, logger: false })
    const acknowledged = []
    const failures = new Set()
    let running = true
    const writer = (async () => {
      for (let i = 0; running; i++) {
        try {
          acknowledged.push((await store.stream.append('restart:events', { type: 't', data: i })).id)
        } catch (e) {
          failures.add(e.code)
          await new Promise((r) => setTimeout(r, 10))
        }
      }
    })()
    try {
      await new Promise((r) => setTimeout(r, 200))
      await server.kill('SIGKILL')
      await new Promise((r) => setTimeout(r, 300))
      await server.start()
      const firstAfter = await store.kv.set('restart:probe', 1).then(
        () => 'ok',
        (e) => e.code,
      )
      expect(firstAfter).toBe('ok')
      await new Promise((r) => setTimeout(r, 200))
      running = false
      await writer
      const stored = new Set((await store.stream.read('restart:events', { limit: 1e9 })).map((e) => e.id))
      expect(acknowledged.length).toBeGreaterThan(10)
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([])
      expect([...failures].every((code) => ['UNAVAILABLE', 'UNCERTAIN', 'TIMEOUT'].includes(code))).toBe(true)
      expect(failures.size).toBeGreaterThan(0)
    } finally {
      running = false
      await writer
      await store.close()
      await server.stop()
    }
  })

  test('a command that outlasts the timeout rejects with TIMEOUT, and the next call works', () =>
    withOwnServer({ args: ['--enable-debug-command', 'local'], connection: { commandTimeout: 200 } }, async (store, admin) => {
      await store.kv.set('k', 1)
      expect(await store.kv.get('k')).toBe(1) // both connections are up before the stall
      const sleeping = admin.call('DEBUG', 'SLEEP', '1')
      await new Promise((r) => setTimeout(r, 50))
      await expect(store.kv.get('k')).rejects.toMatchObject({ code: 'TIMEOUT' })
      await sleeping
      expect(await store.kv.get('k')).toBe(1)
    }))

  test('the connections to a stalled server are closed once their calls gave up, and the store recovers when it resumes', async () => {
    const server = await startRedis()
    const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, commandTimeout: 200, connectTimeout: 200 }, logger: false })
    // inodes of this process's established TCP connections to the server
    const connections = () => {
      const ours = new Set()
      for (const fd of readdirSync('/proc/self/fd')) {
        const link = (() => { try { return readlinkSync(`/proc/self/fd/${fd}`) } catch { return '' } })()
        const inode = link.match(/^socket:\[(\d+)\]$/)?.[1]
        if (inode) ours.add(inode)
      }
      const port = server.port.toString(16).toUpperCase().padStart(4, '0')
      return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/))
        .filter((f) => f[2]?.endsWith(`:${port}`) && f[3] === '01' && ours.has(f[9]))
        .map((f) => f[9])
    }
    try {
      await store.kv.set('k', 1)
      expect(await store.kv.get('k')).toBe(1)
      const before = connections()
      expect(before).toHaveLength(2)
      process.kill(server.pid, 'SIGSTOP')
      const codes = new Set()
      for (let i = 0; i < 5; i++) {
        const outcomes = [store.kv.get('k'), store.kv.set('k', 2)].map((call) => call.then(() => 'ok', (e) => e.code))
        for (const code of await Promise.all(outcomes)) codes.add(code)
      }
      expect([...codes].sort()).toEqual(['TIMEOUT', 'UNAVAILABLE'])
      // the stalled connections are closed (a reconnect attempt may be open meanwhile)
      expect(connections().filter((inode) => before.includes(inode))).toEqual([])
      process.kill(server.pid, 'SIGCONT')
      expect(await store.kv.get('k')).toBeTypeOf('number')
    } finally {
      process.kill(server.pid, 'SIGCONT')
      await store.close()
      await server.stop()
    }
  })

  test('reads keep answering while Redis pauses writes; a read of the key being written waits for it', () =>
    withOwnServer({}, async (store, admin) => {
      await store.index.add('p:i', 'a', 1, { n: 1 })
      await store.stream.append('p:s', { type: 't' })
      await store.kv.set('p:k', 1)
      await store.kv.set('p:other', 1)
      await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE')
      let writeDone = false
      const write = store.kv.set('p:k', 2).then(() => (writeDone = true))
      let sameKeyRead
      const sameKey = store.kv.get('p:k').then((v) => (sameKeyRead = v))
      expect(await store.index.get('p:i', 'a')).toMatchObject({ metadata: { n: 1 } })
      expect(await store.index.read('p:i', { filter: { n: 1 } })).toHaveLength(1)
      expect(await store.stream.read('p:s', { types: ['t'] })).toHaveLength(1)
      expect(await store.kv.get('p:other')).toBe(1)
      expect(writeDone).toBe(false)
      expect(sameKeyRead).toBeUndefined()
      await admin.call('CLIENT', 'UNPAUSE')
      await write
      await sameKey
      expect(sameKeyRead).toBe(2)
    }))

  test('a connection the server closed while idle is replaced before the next call, read or write', () =>
    withOwnServer({}, async (store, admin) => {
      await store.kv.set('k', 1)
      expect(await store.kv.get('k')).toBe(1)
      expect(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')).toBe(2)
      await new Promise((r) => setTimeout(r, 50))
      await store.kv.set('k', 2)
      expect(await store.kv.get('k')).toBe(2)
    }))

  test('values of several megabytes arrive whole, among small calls', () =>
    withOwnServer({}, async (store) => {
      const big = 'x'.repeat(5 * 1024 * 1024) + '\r\n$5\r\nlooks like RESP'
      await store.kv.set('big', { big })
      const results = await Promise.all([store.kv.get('big'), ...Array.from({ length: 50 }, (_, i) => store.kv.increment('n', i))])
      expect(results[0].big).toBe(big)
      expect(results.at(-1)).toBe((49 * 50) / 2)
      await store.index.add('i', 'e', 1, { big })
      expect((await store.index.read('i'))[0].metadata.big).toBe(big)
    }))

  // CPU time of this whole process, in µs
  const cpuMicros = () => {
    const used = process.cpuUsage()
    return used.user + used.system
  }

  test('on the event loop, an idle store and a store called every 5 ms use CPU for their calls only', () =>
    withOwnServer({}, async (store) => {
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.kv.set(`idle:${i}`, i)))
      // idle: the runtime's timer ticks four times a second; a store that kept the loop
      // turning would take a core here
      await sleep(20)
      let before = cpuMicros()
      await sleep(1000)
      const idle = cpuMicros() - before
      // the same 400 pauses of 5 ms, without and with a call in each: the difference is what the
      // calls cost. A call here costs 0.1–0.4 ms of CPU, mostly the wake-ups of a sleeping
      // process, for 0.5.15's ioredis as for this store; turning the runtime between calls
      // would cost up to the whole 5 ms
      before = cpuMicros()
      for (let i = 0; i < 400; i++) await sleep(5)
      const pauses = cpuMicros() - before
      before = cpuMicros()
      for (let i = 0; i < 400; i++) {
        await store.kv.get('idle:1')
        await sleep(5)
      }
      const withCalls = cpuMicros() - before
      expect(idle).toBeLessThan(20_000)
      expect((withCalls - pauses) / 400).toBeLessThan(1000)
      expect(await store.kv.get('idle:1')).toBe(1)
    }))

  test('settled calls leave no garbage that young-generation collections must keep (they would copy it into the old one)', async () => {
    // in a process of its own, with collections on demand: the store's bookkeeping is in the old
    // generation, then 20000 calls run, one at a time, with a young collection every 1000. A Map
    // or Set with a set and a delete per call left 7 MB in the old generation here; V8 copies such
    // garbage at each scavenge (at 20000 paced calls/s, 4–9 ms per scavenge instead of 0.4)
    const server = await startRedis()
    try {
      const script = `
        import v8 from 'node:v8'
        import { RedisStore } from '@nvent-addon/adapter-store-redis/store'
        const store = new RedisStore({ connection: { url: ${JSON.stringify(server.url)} }, logger: false })
        const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size
        for (let i = 0; i < 100; i++) await store.kv.set('k' + (i % 10), i)
        gc()
        gc()
        const before = oldSpace()
        for (let round = 0; round < 20; round++) {
          for (let i = 0; i < 500; i++) {
            await store.kv.set('k' + (i % 10), { i })
            await store.kv.get('k' + (i % 10))
          }
          gc({ type: 'minor' })
        }
        console.log(oldSpace() - before)
        await store.close()`
      const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })
      expect(child.stderr).toBe('')
      expect(Number(child.stdout)).toBeLessThan(1024 * 1024)
    } finally {
      await server.stop()
    }
  })

  test('the I/O thread (ioThread: true) stops polling soon after the last call, and busyPollMicros: 0 never polls', async () => {
    // CPU time of this process while it waits, after a burst of calls
    const idleCpuMs = async (store) => {
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.kv.set(`idle:${i}`, i)))
      for (let i = 0; i < 20; i++) await store.kv.get('idle:1')
      await sleep(20)
      const before = cpuMicros()
      await sleep(500)
      return (cpuMicros() - before) / 1000
    }
    await withOwnServer({ ioThread: true }, async (store) => expect(await idleCpuMs(store)).toBeLessThan(100))
    await withOwnServer({ ioThread: true, busyPollMicros: 0 }, async (store) => {
      expect(await idleCpuMs(store)).toBeLessThan(100)
      expect(await store.kv.get('idle:1')).toBe(1)
    })
  })

  test('a store on the I/O thread called every 5 ms does not keep it polling between calls', async () => {
    // CPU time of the store's I/O thread in ms, from the scheduler's account in /proc
    const ioThreadMs = () => {
      let ms = 0
      for (const tid of readdirSync('/proc/self/task')) {
        if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== 'nvent-redis') continue
        ms += Number(readFileSync(`/proc/self/task/${tid}/sched`, 'utf8').match(/se\.sum_exec_runtime\s*:\s*([\d.]+)/)[1])
      }
      return ms
    }
    // µs of that thread per call, for 40 calls 5 ms apart
    const perCall = async (store) => {
      const before = ioThreadMs()
      for (let i = 0; i < 40; i++) {
        await store.kv.get('paced')
        await sleep(5)
      }
      return ((ioThreadMs() - before) / 40) * 1000
    }
    await withOwnServer({ ioThread: true }, async (polling, admin) => {
      const never = new RedisStore({ connection: { host: '127.0.0.1', port: admin.options.port }, logger: false, ioThread: true, busyPollMicros: 0 })
      try {
        await polling.kv.set('paced', 1)
        await never.kv.get('paced')
        // the two stores take turns, so that a load elsewhere on the machine weighs on both alike
        const rounds = []
        for (let round = 0; round < 10; round++) rounds.push({ polling: await perCall(polling), never: await perCall(never) })
        const median = (values) => values.sort((a, b) => a - b)[values.length >> 1]
        // the thread did the calls' work (some tens of µs each here): it exists and was measured
        expect(median(rounds.map((r) => r.never))).toBeGreaterThan(1)
        // the calls' own work is the same; polling 100 µs after each call would add about that much
        expect(median(rounds.map((r) => r.polling - r.never)), JSON.stringify(rounds)).toBeLessThan(40)
      } finally {
        await never.close()
      }
    })
  })

  test('worker threads may close, keep or be terminated with calls in flight, and the process lives on', () =>
    withOwnServer({}, async (_store, admin) => {
      const script = fileURLToPath(new URL('./support/worker-threads.mjs', import.meta.url))
      const run = spawnSync(process.execPath, [script, String(admin.options.port)], { encoding: 'utf8', timeout: 60_000 })
      expect({ status: run.status, signal: run.signal, out: run.stdout.trim() }, run.stderr).toEqual({ status: 0, signal: null, out: 'ok' })
    }))

  // on a server of its own: a SCRIPT FLUSH on the shared one would make other files' calls in
  // flight run their scripts again after the calls behind them
  test('scripts run again after Redis forgot them', () =>
    withOwnServer({}, async (store, admin) => {
      const key = 'flush'
      await store.index.add(key, 'a', 1, { n: 1 })
      await admin.script('FLUSH')
      expect(await store.index.update(key, 'a', { n: 2 })).toBe(true)
      expect(await store.index.increment(key, 'a', 'n')).toBe(3)
      // scripts forgotten again, with other calls before them in the same batch: each runs its own
      await admin.script('FLUSH')
      const [, , updated, incremented, added] = await Promise.all([
        store.kv.set('flush:k', 1),
        store.kv.increment('flush:n', 5),
        store.index.update(key, 'a', { m: 1 }),
        store.index.increment(key, 'a', 'n', 10),
        store.index.add(key, 'b', 2),
      ])
      expect([updated, incremented, added]).toEqual([true, 13, null])
      expect(await admin.get('flush:n')).toBe('5')
      expect(await store.index.get(key, 'a')).toMatchObject({ id: 'a', score: 1, metadata: { n: 13, m: 1 } })
      await store.index.delete(key, 'a')
    }))
})

describe('security', () => {
  let server
  beforeAll(async () => {
    server = await startRedis({ args: ['--requirepass', CANARY] })
    const admin = new IORedis(server.url, { password: CANARY })
    // data commands only: no INFO, CONFIG, KEYS, PING, HELLO, CLIENT or anything else in @dangerous
    await admin.call('ACL', 'SETUSER', 'nvent', 'on', `>${CANARY}`, '~*', 'resetchannels', '-@all', '+@read', '+@write', '+@keyspace', '+@scripting', '-@dangerous', '+scan')
    admin.disconnect()
  })
  afterAll(() => server.stop())

  test('a user with only data commands can use every tier', async () => {
    const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, username: 'nvent', password: CANARY }, logger: false })
    const rec = await store.stream.append('acl:s', { type: 't' })
    expect(await store.stream.read('acl:s')).toEqual([rec])
    await store.index.add('acl:i', 'a', 1, { n: 1 })
    expect(await store.index.update('acl:i', 'a', { m: 1 })).toBe(true)
    expect(await store.index.increment('acl:i', 'a', 'n')).toBe(2)
    expect(await store.index.read('acl:i', { filter: { m: 1 } })).toHaveLength(1)
    await store.kv.set('acl:k', 'v', 10)
    expect(await store.kv.increment('acl:c')).toBe(1)
    expect(await store.kv.clear('acl:*')).toBe(5)
    await store.close()
  })

  test('a missing or wrong password fails with UNAVAILABLE and says so', async () => {
    for (const password of [undefined, `${CANARY}-wrong`]) {
      const store = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, password, connectTimeout: 500 }, logger: false })
      const err = await store.kv.get('x').catch((e) => e)
      expect(err.code, String(password)).toBe('UNAVAILABLE')
      expect(err.message).toMatch(/authentication failed/)
      await store.close()
    }
  })

  test('the password never appears in errors, logs or inspect()', async () => {
    const seen = []
    const logger = { warn: (m) => seen.push(m), info: (m) => seen.push(m) }
    const wrong = new RedisStore({ connection: { host: '127.0.0.1', port: server.port, password: `${CANARY}-wrong` }, logger })
    const down = new RedisStore({ connection: { url: `redis://nvent:${CANARY}@127.0.0.1:${await freePort()}` }, logger })
    for (const store of [wrong, down]) {
      const err = await store.kv.get('x').catch((e) => e)
      expect(err.code).toBe('UNAVAILABLE')
      seen.push(err.message, err.stack, inspect(store), inspect(err))
    }
    for (const options of [{ connection: { url: `redis://:${CANARY}@[bad` } }, { connection: { url: `http://u:${CANARY}@h` } }]) {
      try {
        new RedisStore(options)
      } catch (e) {
        seen.push(e.message, e.stack)
      }
    }
    expect(seen.length).toBeGreaterThan(6)
    expect(seen.filter((s) => s.includes('S3cr3t'))).toEqual([])
    await Promise.all([wrong.close(), down.close()])
  })
})
