// The behaviour nvent relies on (../shared/spec/store-contract.md), as one suite that any store
// adapter can run. Tests named in `expectedFailures` are run with `test.fails`: they document the
// defects of an adapter and fail the run if that adapter ever stops failing them.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort } from '../scripts/redis-server.mjs'
import { rawClient, uniquePrefix } from './support/stores.mjs'

/**
 * @param makeStore (options?) => a store; `options.connection`, when given, replaces the store's own
 * @param options.rawUrl where a plain client sees the same data (the shared test server by default)
 * @param options.raw instead of `rawUrl`: makes that client (a cluster's, say)
 * @param options.prefix makes the suite's key prefix (a unique one by default)
 */
export function contractSuite(name, makeStore, { expectedFailures = [], rawUrl, raw, prefix = uniquePrefix } = {}) {
  const failing = new Set(expectedFailures)
  const it = (title, fn) => (failing.has(title) ? test.fails : test)(title, fn)

  describe(`store contract: ${name}`, () => {
    let store
    let redis
    let p
    beforeAll(async () => {
      store = await makeStore()
      redis = raw ? await raw() : rawClient(typeof rawUrl === 'function' ? await rawUrl() : rawUrl)
      p = prefix()
    })
    afterAll(async () => {
      await store.close()
      const keys = await redis.keys(`${p}*`)
      if (keys.length) await redis.del(...keys)
      redis.disconnect()
    })
    const k = (s) => p + s

    describe('stream', () => {
      it('append returns the record and read returns it unchanged', async () => {
        const before = Date.now()
        const rec = await store.stream.append(k('s1'), { type: 'flow:started', flowName: 'f', runId: 'r1', data: { input: 'x' } })
        expect(rec).toMatchObject({ type: 'flow:started', flowName: 'f', runId: 'r1', data: { input: 'x' } })
        expect(rec.id).toMatch(/^\d+-\d+$/)
        expect(rec.ts).toBeGreaterThanOrEqual(before)
        expect(await store.stream.read(k('s1'))).toEqual([rec])
      })

      it('read of a missing subject is empty', async () => {
        expect(await store.stream.read(k('nothing'))).toEqual([])
      })

      it('event fields keep their types, unknown fields too', async () => {
        const event = { type: 'step:done', runId: '123', stepId: 'true', stepName: '{}', attempt: 2, data: [1, null, { a: '1' }], note: 'kept', big: 1795669463704 }
        const rec = await store.stream.append(k('types'), event)
        const [read] = await store.stream.read(k('types'))
        expect(read).toEqual({ ...event, id: rec.id, ts: rec.ts })
        expect(read).toEqual(rec)
      })

      it('an event field named __proto__ is kept as a field, and an id or ts given is replaced', async () => {
        const event = JSON.parse('{"type":"t","__proto__":{"x":1},"id":"0-1","ts":5}')
        const rec = await store.stream.append(k('protoevent'), event)
        expect(Object.getPrototypeOf(rec)).toBe(Object.prototype)
        expect(Object.hasOwn(rec, '__proto__')).toBe(true)
        expect(rec.__proto__).toEqual({ x: 1 })
        expect(rec.id).not.toBe('0-1')
        expect(rec.ts).not.toBe(5)
        const [read] = await store.stream.read(k('protoevent'))
        expect(read).toEqual(rec)
        expect(Object.hasOwn(read, '__proto__')).toBe(true)
      })

      it('append returns what a read returns, where JSON changes or drops a value', async () => {
        const when = new Date(1_700_000_000_000)
        const events = [
          // undefined members are dropped, as a read drops them
          { type: 't', note: undefined, data: { a: 1, b: undefined, list: ['x'] } },
          // an undefined array element becomes null
          { type: 't', data: { list: [1, undefined] } },
          // -0 becomes 0
          { type: 't', data: { list: [-0] }, n: -0 },
          // a Date becomes its string
          { type: 't', data: { when } },
        ]
        const recs = []
        for (const event of events) recs.push(await store.stream.append(k('asread'), event))
        const reads = await store.stream.read(k('asread'))
        for (const [i, rec] of recs.entries()) {
          expect(rec).toEqual(reads[i])
          expect(Object.keys(rec)).toEqual(Object.keys(reads[i]))
          expect(rec).not.toBe(events[i])
        }
        expect(recs[1].data.list).toEqual([1, null])
        expect(Object.is(recs[2].n, 0) && Object.is(recs[2].data.list[0], 0)).toBe(true)
        expect(recs[3].data.when).toBe(when.toISOString())
      })

      it('types filter returns up to limit matching events', async () => {
        for (let i = 0; i < 12; i++) await store.stream.append(k('mixed'), { type: i % 3 === 0 ? 'b' : 'a', data: i })
        const got = await store.stream.read(k('mixed'), { types: ['b'], limit: 4 })
        expect(got.map((e) => e.data)).toEqual([0, 3, 6, 9])
      })

      it('to includes every event of its millisecond', async () => {
        for (const id of ['1000-0', '1000-1', '1000-2', '1001-0']) await redis.xadd(k('ms'), id, 'type', 't', 'ts', id.split('-')[0])
        const got = await store.stream.read(k('ms'), { to: 1000 })
        expect(got.map((e) => e.id)).toEqual(['1000-0', '1000-1', '1000-2'])
      })

      it('from is inclusive, after and before are exclusive', async () => {
        for (const id of ['2000-0', '2000-1', '2001-0', '2002-0']) await redis.xadd(k('range'), id, 'type', 't')
        expect((await store.stream.read(k('range'), { from: 2001 })).map((e) => e.id)).toEqual(['2001-0', '2002-0'])
        expect((await store.stream.read(k('range'), { after: '2000-0' })).map((e) => e.id)).toEqual(['2000-1', '2001-0', '2002-0'])
        expect((await store.stream.read(k('range'), { before: '2001-0' })).map((e) => e.id)).toEqual(['2000-0', '2000-1'])
      })

      it('order desc returns the newest first, limit counts', async () => {
        for (let i = 0; i < 5; i++) await store.stream.append(k('order'), { type: 't', data: i })
        expect((await store.stream.read(k('order'), { order: 'desc', limit: 2 })).map((e) => e.data)).toEqual([4, 3])
        expect((await store.stream.read(k('order'), { order: 'desc', types: ['t'], limit: 3 })).map((e) => e.data)).toEqual([4, 3, 2])
      })

      it('limit 0 returns no events', async () => {
        await store.stream.append(k('zero'), { type: 't' })
        expect(await store.stream.read(k('zero'), { limit: 0 })).toEqual([])
      })

      it('delete reports whether the stream existed', async () => {
        await store.stream.append(k('del'), { type: 't' })
        expect(await store.stream.delete(k('del'))).toBe(true)
        expect(await store.stream.read(k('del'))).toEqual([])
        expect(await store.stream.delete(k('del'))).toBe(false)
      })
    })

    describe('index', () => {
      const meta = { cron: '0 * * * *', enabled: true, stats: { totalFires: 0, lastFire: 1795669463704 } }

      it('add then get returns the entry with version 0', async () => {
        await store.index.add(k('i1'), 'a', 1795669463704, meta)
        expect(await store.index.get(k('i1'), 'a')).toEqual({ id: 'a', score: 1795669463704, metadata: { version: 0, ...meta } })
      })

      it('get of a missing entry is null', async () => {
        expect(await store.index.get(k('i1'), 'missing')).toBeNull()
      })

      it('metadata round-trips exactly', async () => {
        const m = {
          numericString: '123',
          boolString: 'true',
          empty: '',
          list: [1, null, 'x'],
          events: { 'order.created': { completed: 2 } },
          nothing: {},
          nested: { deeper: { empty: {} } },
        }
        await store.index.add(k('exact'), 'a', 1, m)
        expect((await store.index.get(k('exact'), 'a')).metadata).toEqual({ version: 0, ...m })
      })

      it('stored __proto__ keys never pollute a prototype', async () => {
        await store.index.add(k('proto'), 'a', 1, JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}'))
        try {
          const got = await store.index.get(k('proto'), 'a')
          await store.index.read(k('proto'))
          expect({}.polluted).toBeUndefined()
          expect({}.x).toBeUndefined()
          expect(Object.getOwnPropertyNames(got.metadata)).toContain('__proto__')
        } finally {
          // an adapter that fails this must not leave the pollution to later tests
          delete Object.prototype.polluted
          delete Object.prototype.x
        }
      })

      it('add replaces the metadata and the version never goes backwards', async () => {
        await store.index.add(k('re'), 'a', 1, { a: 1, b: { c: 2 } })
        await store.index.update(k('re'), 'a', { a: 5 })
        await store.index.add(k('re'), 'a', 2, { z: 1 })
        expect(await store.index.get(k('re'), 'a')).toEqual({ id: 'a', score: 2, metadata: { version: 2, z: 1 } })
      })

      it('a version passed in metadata is ignored', async () => {
        await store.index.add(k('ver'), 'a', 1, { version: 41, x: 1 })
        expect((await store.index.get(k('ver'), 'a')).metadata).toEqual({ version: 0, x: 1 })
      })

      it('update deep-merges and bumps the version', async () => {
        await store.index.add(k('up'), 'a', 1, { status: 'queued', emittedEvents: { start: { completed: 1 } }, keep: 'x' })
        expect(await store.index.update(k('up'), 'a', { status: 'running', emittedEvents: { start: { failed: 1 }, end: { completed: 1 } } })).toBe(true)
        expect((await store.index.get(k('up'), 'a')).metadata).toEqual({
          version: 1,
          status: 'running',
          keep: 'x',
          emittedEvents: { start: { completed: 1, failed: 1 }, end: { completed: 1 } },
        })
      })

      it('update with null deletes the whole subtree', async () => {
        await store.index.add(k('null'), 'a', 1, { stats: { a: 1, b: { c: 2 } }, other: 1 })
        await store.index.update(k('null'), 'a', { stats: null })
        expect((await store.index.get(k('null'), 'a')).metadata).toEqual({ version: 1, other: 1 })
      })

      it('a field may change between a number and an object', async () => {
        await store.index.add(k('shape'), 'a', 1, { x: 5, y: { a: 1, b: 2 } })
        await store.index.update(k('shape'), 'a', { x: { n: 1 }, y: 7 })
        expect((await store.index.get(k('shape'), 'a')).metadata).toEqual({ version: 1, x: { n: 1 }, y: 7 })
      })

      it('an entry added without metadata can be updated', async () => {
        await store.index.add(k('bare'), 'a', 1)
        expect(await store.index.get(k('bare'), 'a')).toEqual({ id: 'a', score: 1 })
        expect(await store.index.update(k('bare'), 'a', { status: 'done' })).toBe(true)
        expect((await store.index.get(k('bare'), 'a')).metadata).toEqual({ version: 1, status: 'done' })
      })

      it('update of a missing entry returns false and writes nothing', async () => {
        expect(await store.index.update(k('none'), 'ghost', { a: 1 })).toBe(false)
        expect(await redis.exists(k('none'), `${k('none')}:meta:ghost`)).toBe(0)
      })

      it('50 concurrent updateWithRetry calls all land', async () => {
        await store.index.add(k('race'), 'run', 1, { status: 'running' })
        await Promise.all(Array.from({ length: 50 }, (_, i) => store.index.updateWithRetry(k('race'), 'run', { steps: { [`s${i}`]: { done: i } } })))
        const { metadata } = await store.index.get(k('race'), 'run')
        expect(metadata.version).toBe(50)
        expect(Object.keys(metadata.steps)).toHaveLength(50)
        for (let i = 0; i < 50; i++) expect(metadata.steps[`s${i}`]).toEqual({ done: i })
      })

      it('increment adds fractions and negatives at a dotted path, with the version', async () => {
        await store.index.add(k('inc'), 'a', 1, { stats: { running: 1 } })
        expect(await store.index.increment(k('inc'), 'a', 'stats.running')).toBe(2)
        expect(await store.index.increment(k('inc'), 'a', 'stats.running', -3)).toBe(-1)
        expect(await store.index.increment(k('inc'), 'a', 'stats.load', 0.5)).toBe(0.5)
        expect((await store.index.get(k('inc'), 'a')).metadata).toEqual({ version: 3, stats: { running: -1, load: 0.5 } })
      })

      it('increment refuses a path through a value, onto an object, or onto a non-number, and writes nothing', async () => {
        await store.index.add(k('incshape'), 'a', 1, { stats: 5, nested: { x: 1 }, status: 'running' })
        for (const field of ['stats.running', 'stats.deep.er', 'nested', 'status']) {
          await expect(store.index.increment(k('incshape'), 'a', field), field).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        }
        expect((await store.index.get(k('incshape'), 'a')).metadata).toEqual({ version: 0, stats: 5, nested: { x: 1 }, status: 'running' })
      })

      it('increment of a missing entry rejects NOT_FOUND and creates nothing', async () => {
        await expect(store.index.increment(k('inc'), 'ghost', 'n')).rejects.toMatchObject({ code: 'NOT_FOUND' })
        expect(await redis.exists(`${k('inc')}:meta:ghost`)).toBe(0)
      })

      it('read lists by descending score with offset and limit, scores exact', async () => {
        for (const [id, score] of [['a', 1.5], ['b', 3.25], ['c', 2], ['d', 1795669463704.5]]) await store.index.add(k('list'), id, score, { id })
        const all = await store.index.read(k('list'))
        expect(all.map((e) => [e.id, e.score])).toEqual([['d', 1795669463704.5], ['b', 3.25], ['c', 2], ['a', 1.5]])
        expect(all[0].metadata).toEqual({ version: 0, id: 'd' })
        expect((await store.index.read(k('list'), { offset: 1, limit: 2 })).map((e) => e.id)).toEqual(['b', 'c'])
        expect(await store.index.read(k('list'), { limit: 0 })).toEqual([])
      })

      it('read filters on nested fields and lists of allowed values, by type', async () => {
        await store.index.add(k('f'), 'a', 3, { status: 'running', step: { attempt: 1 } })
        await store.index.add(k('f'), 'b', 2, { status: 'queued', step: { attempt: 2 } })
        await store.index.add(k('f'), 'c', 1, { status: 'failed', step: { attempt: '1' } })
        const ids = async (filter) => (await store.index.read(k('f'), { filter })).map((e) => e.id)
        expect(await ids({ status: ['running', 'queued'] })).toEqual(['a', 'b'])
        expect(await ids({ 'step.attempt': 1 })).toEqual(['a'])
        expect(await ids({ step: { attempt: [2, '1'] } })).toEqual(['b', 'c'])
      })

      it('read with a filter covers the whole index', async () => {
        const key = k('big')
        const pipe = redis.pipeline()
        for (let i = 0; i < 10050; i++) {
          pipe.zadd(key, i, `e${i}`)
          pipe.hset(`${key}:meta:e${i}`, 'version', '0', 'status', i < 5 ? 'running' : 'done')
        }
        await pipe.exec()
        const got = await store.index.read(key, { filter: { status: 'running' }, limit: 1000 })
        expect(got.map((e) => e.id)).toEqual(['e4', 'e3', 'e2', 'e1', 'e0'])
      })

      it('delete removes the member and its metadata', async () => {
        await store.index.add(k('d'), 'a', 1, { x: 1 })
        expect(await store.index.delete(k('d'), 'a')).toBe(true)
        expect(await store.index.get(k('d'), 'a')).toBeNull()
        expect(await redis.exists(`${k('d')}:meta:a`)).toBe(0)
        expect(await store.index.delete(k('d'), 'a')).toBe(false)
      })
    })

    describe('kv', () => {
      it('set and get round-trip type and value', async () => {
        const values = ['123', '', 'true', 'null', '{"a":1}', 'plain', 0, 1.5, 1795669463704, true, false, null, [1, null, '2'], { a: { b: ['x'] } }]
        for (const [i, v] of values.entries()) await store.kv.set(k(`v${i}`), v)
        for (const [i, v] of values.entries()) expect(await store.kv.get(k(`v${i}`))).toEqual(v)
      })

      it('get of a missing key is null', async () => {
        expect(await store.kv.get(k('missing'))).toBeNull()
      })

      it('ttl is honoured in fractions of a second', async () => {
        await store.kv.set(k('ttl'), { owner: 'w1' }, 1.5)
        const pttl = await redis.pttl(k('ttl'))
        expect(pttl).toBeGreaterThan(1000)
        expect(pttl).toBeLessThanOrEqual(1500)
      })

      it('a ttl that is not positive is rejected and nothing is written', async () => {
        for (const ttl of [0, -5]) {
          await expect(store.kv.set(k(`bad-ttl${ttl}`), 1, ttl)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
          expect(await redis.exists(k(`bad-ttl${ttl}`))).toBe(0)
        }
      })

      it('increment counts at exactly its key', async () => {
        expect(await store.kv.increment(k('a:b:c'))).toBe(1)
        expect(await store.kv.increment(k('a:b:c'), 4)).toBe(5)
        expect(await store.kv.get(k('a:b:c'))).toBe(5)
        expect(await store.kv.increment(k('frac'), 0.25)).toBe(0.25)
        expect(await store.kv.increment(k('frac'), -1)).toBe(-0.75)
      })

      it('delete removes the key', async () => {
        await store.kv.set(k('gone'), 1)
        await store.kv.delete(k('gone'))
        expect(await store.kv.get(k('gone'))).toBeNull()
      })

      it('clear deletes every matching key and returns the exact count', async () => {
        const pipe = redis.pipeline()
        for (let i = 0; i < 2500; i++) pipe.set(k(`clear:${i}`), '1')
        pipe.set(k('clearx'), '1')
        await pipe.exec()
        expect(await store.kv.clear(k('clear:*'))).toBe(2500)
        expect(await redis.exists(k('clearx'))).toBe(1)
        expect(await store.kv.clear(k('clear:*'))).toBe(0)
      })
    })

    describe('lifecycle', () => {
      it('after close() calls reject and nothing reconnects', async () => {
        const other = await makeStore()
        await other.kv.set(k('closing'), 1)
        await other.close()
        await other.close()
        await expect(other.kv.get(k('closing'))).rejects.toThrow()
        await expect(other.stream.append(k('closing-s'), { type: 't' })).rejects.toThrow()
        expect(await redis.exists(k('closing-s'))).toBe(0)
      })

      it('while Redis is down calls fail fast, name the operation and key, and log once', async () => {
        const port = await freePort()
        const logged = []
        const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error }
        for (const level of Object.keys(saved)) console[level] = (...args) => logged.push(args.join(' '))
        const down = await makeStore({ connection: { host: '127.0.0.1', port } })
        try {
          for (let i = 0; i < 5; i++) {
            const err = await down.kv.get(k(`down${i}`)).catch((e) => e)
            expect(err).toBeInstanceOf(Error)
            expect(err.message).toContain('kv.get')
            expect(err.message).toContain(k(`down${i}`))
          }
        } finally {
          Object.assign(console, saved)
          await down.close()
        }
        expect(logged.length).toBeLessThanOrEqual(1)
      })
    })

    describe('values follow JSON', () => {
      it('undefined properties are omitted and toJSON is used', async () => {
        const when = new Date('2026-01-02T03:04:05.678Z')
        const bare = Object.assign(Object.create(null), { list: [1, undefined, 'x'] })
        await store.kv.set(k('json'), { a: undefined, b: 1, when, bare })
        expect(await store.kv.get(k('json'))).toEqual({ b: 1, when: '2026-01-02T03:04:05.678Z', bare: { list: [1, null, 'x'] } })
      })

      it('what JSON cannot hold is rejected and nothing is written', async () => {
        const cyclic = {}
        cyclic.self = cyclic
        // deeper than the store's fast check of plain data follows
        let deepNaN = { n: NaN }
        for (let i = 0; i < 100; i++) deepNaN = { deepNaN }
        const bad = [undefined, () => 1, Symbol('s'), NaN, Infinity, -Infinity, 10n, cyclic, new Map([[1, 2]]), new Set([1]), { nested: { n: NaN } }, { bytes: new Uint8Array(2) }, deepNaN]
        for (const [i, value] of bad.entries()) {
          await expect(store.kv.set(k(`bad${i}`), value), `value #${i}`).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
          expect(await redis.exists(k(`bad${i}`))).toBe(0)
        }
        await expect(store.index.add(k('badmeta'), 'a', 1, { n: 10n })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        await expect(store.stream.append(k('badevent'), { type: 't', data: new Map() })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        expect(await redis.exists(k('badmeta'), `${k('badmeta')}:meta:a`, k('badevent'))).toBe(0)
      })

      it('large integers come back as numbers', async () => {
        const now = Date.now()
        await store.kv.set(k('now'), { now })
        const got = await store.kv.get(k('now'))
        expect(typeof got.now).toBe('number')
        expect(got.now).toBe(now)
        expect(await redis.get(k('now'))).toBe(`{"now":${now}}`)
      })
    })

    describe('order and refusals', () => {
      it('a read sees the writes asked for before it, on the same key', async () => {
        for (let i = 0; i < 300; i++) {
          const [, got] = await Promise.all([store.kv.set(k('order'), i), store.kv.get(k('order'))])
          expect(got).toBe(i)
        }
        for (let i = 0; i < 100; i++) {
          const [, entry, read] = await Promise.all([
            store.index.add(k('order-i'), `e${i}`, i, { i }),
            store.index.get(k('order-i'), `e${i}`),
            store.index.read(k('order-i'), { limit: 1 }),
          ])
          expect(entry).toMatchObject({ id: `e${i}`, metadata: { i } })
          expect(read[0]).toMatchObject({ id: `e${i}` })
        }
        const sets = Array.from({ length: 40 }, (_, i) => store.kv.set(k(`order${i}`), i))
        const gets = Array.from({ length: 40 }, (_, i) => store.kv.get(k(`order${i}`)))
        await Promise.all(sets)
        expect(await Promise.all(gets)).toEqual(Array.from({ length: 40 }, (_, i) => i))
      })

      it('calls made by separate callbacks of one loop iteration, as a server makes them, keep their order', async () => {
        // each call from a callback of its own, all of them run in one iteration of the event loop
        const fromCallbacks = (n, call) =>
          Promise.all(Array.from({ length: n }, (_, i) => new Promise((resolve) => setImmediate(() => resolve(call(i))))))
        for (let round = 0; round < 10; round++) {
          // more calls than one batch holds, writes and the reads of what they wrote interleaved
          const got = await fromCallbacks(40, (i) => (i % 2 === 0 ? store.kv.set(k(`cb${i >> 1}`), round * 100 + i) : store.kv.get(k(`cb${i >> 1}`))))
          expect(got.filter((_, i) => i % 2 === 1)).toEqual(Array.from({ length: 20 }, (_, j) => round * 100 + 2 * j))
        }
        await fromCallbacks(30, (i) => store.stream.append(k('cb-stream'), { type: 'step.completed', data: { i } }))
        const events = await store.stream.read(k('cb-stream'), { limit: 100 })
        expect(events.map((e) => e.data.i)).toEqual(Array.from({ length: 30 }, (_, i) => i))
      })

      it('a read sees an update of an entry added without metadata, made before it', async () => {
        for (let i = 0; i < 50; i++) {
          await store.index.add(k('bare'), `b${i}`, i)
          const [updated, entry, counted, after] = await Promise.all([
            store.index.update(k('bare'), `b${i}`, { n: i }),
            store.index.get(k('bare'), `b${i}`),
            store.index.increment(k('bare'), `b${i}`, 'n'),
            store.index.get(k('bare'), `b${i}`),
          ])
          expect([updated, entry.metadata.n, counted, after.metadata.n]).toEqual([true, i, i + 1, i + 1])
        }
      })

      it('increment refuses a string that only looks like a number, and writes nothing', async () => {
        await store.kv.set(k('007'), '007')
        await expect(store.kv.increment(k('007'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        expect(await store.kv.get(k('007'))).toBe('007')
        await store.index.add(k('007i'), 'f', 1, { n: '007', m: '1e3' })
        await expect(store.index.increment(k('007i'), 'f', 'n')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        await expect(store.index.increment(k('007i'), 'f', 'm')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        expect(await store.index.get(k('007i'), 'f')).toMatchObject({ metadata: { n: '007', m: '1e3', version: 0 } })
      })

      it('a write refused for the type of its key writes nothing', async () => {
        await store.kv.increment(k('typed'))
        await expect(store.index.add(k('typed'), 'x', 1, { a: 1 })).rejects.toMatchObject({ code: 'REDIS' })
        expect(await redis.exists(`${k('typed')}:meta:x`)).toBe(0)
        // the index key holds a number: later calls find no entry, or are refused, and write nothing
        await store.index.update(k('typed'), 'x', { a: 2 }).catch((e) => expect(e.code).toBe('REDIS'))
        await store.index.increment(k('typed'), 'x', 'a').catch((e) => expect(e.code).toMatch(/^(REDIS|NOT_FOUND)$/))
        expect(await redis.exists(`${k('typed')}:meta:x`)).toBe(0)
        expect(await store.kv.get(k('typed'))).toBe(1)
      })

      it('increment below an empty object creates the field', async () => {
        await store.index.add(k('empty'), 'e', 1, { stats: {} })
        expect(await store.index.increment(k('empty'), 'e', 'stats.total', 2)).toBe(2)
        expect(await store.index.get(k('empty'), 'e')).toMatchObject({ metadata: { stats: { total: 2 }, version: 1 } })
      })

      it('a filter without conditions adds none', async () => {
        await store.index.add(k('nofilter'), 'a', 2, { status: 'x' })
        await store.index.add(k('nofilter'), 'b', 1)
        for (const filter of [{}, { stats: {} }, { status: { a: undefined } }]) {
          expect((await store.index.read(k('nofilter'), { filter })).map((e) => e.id)).toEqual(['a', 'b'])
        }
      })

      it("a value whose getter throws is the caller's error, and nothing is written", async () => {
        const boom = {
          type: 'a',
          get data() {
            throw new Error('boom')
          },
        }
        await expect(store.stream.append(k('boom'), boom)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        await expect(store.kv.set(k('boom'), { get x() { throw new Error('boom') } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        await expect(store.index.read(k('boom'), { get filter() { throw new Error('boom') } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
        expect(await redis.exists(k('boom'))).toBe(0)
      })
    })
  })
}
