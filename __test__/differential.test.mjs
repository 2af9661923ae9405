// The published 0.5.15 adapter and this package on one Redis: what either writes, the other
// reads. Where this package stores a value differently (README "Migrating from 0.5.x"), the
// difference is pinned here.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { nativeStore, quietly, rawClient, seedStore, uniquePrefix } from './support/stores.mjs'

let native
let seed
let redis
let p
beforeAll(async () => {
  native = nativeStore()
  seed = await seedStore()
  redis = rawClient()
  p = uniquePrefix()
})
afterAll(async () => {
  await native.close()
  await quietly(() => seed.close())
  const keys = await redis.keys(`${p}*`)
  if (keys.length) await redis.del(...keys)
  redis.disconnect()
})
const k = (s) => p + s
const old = (fn) => quietly(fn)

const event = { type: 'step:completed', flowName: 'f', runId: 'run-1', stepName: 's', stepId: 's-1', attempt: 1, data: { out: [1, 2], ok: true } }
const meta = { status: 'running', flowName: 'f', stats: { total: 3, ok: true }, tags: ['a', 'b'], startedAt: 1795669463704 }

describe('streams', () => {
  test('0.5.15 reads events the native store appended', async () => {
    const rec = await native.stream.append(k('s1'), { ...event, runId: '123' })
    const [read] = await old(() => seed.stream.read(k('s1')))
    expect(read).toEqual(rec)
  })

  test('the native store reads events 0.5.15 appended', async () => {
    await old(() => seed.stream.append(k('s2'), event))
    const [expected] = await old(() => seed.stream.read(k('s2')))
    expect(await native.stream.read(k('s2'))).toEqual([expected])
  })

  test('both append to one stream and both read it whole, in order', async () => {
    await native.stream.append(k('s3'), { type: 'a' })
    await old(() => seed.stream.append(k('s3'), { type: 'b' }))
    await native.stream.append(k('s3'), { type: 'c' })
    expect((await native.stream.read(k('s3'))).map((e) => e.type)).toEqual(['a', 'b', 'c'])
    expect((await old(() => seed.stream.read(k('s3')))).map((e) => e.type)).toEqual(['a', 'b', 'c'])
  })
})

describe('indexes', () => {
  test('0.5.15 reads entries the native store added', async () => {
    await native.index.add(k('i1'), 'r1', 100, meta)
    expect(await old(() => seed.index.get(k('i1'), 'r1'))).toEqual(await native.index.get(k('i1'), 'r1'))
    expect(await old(() => seed.index.read(k('i1')))).toEqual(await native.index.read(k('i1')))
  })

  test('the native store reads entries 0.5.15 added', async () => {
    await old(() => seed.index.add(k('i2'), 'r1', 100, meta))
    await old(() => seed.index.add(k('i2'), 'r2', 50))
    const expected = await old(() => seed.index.get(k('i2'), 'r1'))
    expect(expected.metadata).toEqual({ version: 0, ...meta })
    expect(await native.index.get(k('i2'), 'r1')).toEqual(expected)
    expect(await native.index.read(k('i2'))).toEqual([expected, { id: 'r2', score: 50 }])
  })

  test('updates from either side continue one version count', async () => {
    await old(() => seed.index.add(k('i3'), 'r1', 1, { status: 'queued', stats: { done: 0 } }))
    expect(await native.index.update(k('i3'), 'r1', { status: 'running' })).toBe(true)
    expect(await old(() => seed.index.update(k('i3'), 'r1', { stats: { done: 1 } }))).toBe(true)
    expect(await native.index.increment(k('i3'), 'r1', 'stats.done')).toBe(2)
    expect(await old(() => seed.index.increment(k('i3'), 'r1', 'stats.done', 1))).toBe(3)
    const expected = { id: 'r1', score: 1, metadata: { version: 4, status: 'running', stats: { done: 3 } } }
    expect(await native.index.get(k('i3'), 'r1')).toEqual(expected)
    expect(await old(() => seed.index.get(k('i3'), 'r1'))).toEqual(expected)
  })

  test('deletes from either side remove the entry for both', async () => {
    await native.index.add(k('i4'), 'a', 1, { x: 1 })
    await old(() => seed.index.add(k('i4'), 'b', 2, { x: 2 }))
    expect(await old(() => seed.index.delete(k('i4'), 'a'))).toBe(true)
    expect(await native.index.delete(k('i4'), 'b')).toBe(true)
    expect(await redis.exists(k('i4'), `${k('i4')}:meta:a`, `${k('i4')}:meta:b`)).toBe(0)
  })
})

describe('kv', () => {
  const values = { str: 'plain text', num: 42, obj: { owner: 'w1', at: 1795669463704 }, list: [1, 'two'], numericString: '123', bool: true }

  test('0.5.15 reads values the native store set', async () => {
    for (const [name, v] of Object.entries(values)) await native.kv.set(k(`n:${name}`), v)
    for (const [name, v] of Object.entries(values)) expect(await old(() => seed.kv.get(k(`n:${name}`)))).toEqual(v)
  })

  test('the native store reads values 0.5.15 set', async () => {
    const unambiguous = { str: 'plain text', obj: values.obj, list: values.list, num: 42 }
    for (const [name, v] of Object.entries(unambiguous)) await old(() => seed.kv.set(k(`o:${name}`), v))
    for (const [name, v] of Object.entries(unambiguous)) expect(await native.kv.get(k(`o:${name}`))).toEqual(v)
  })

  test('counters at keys of one or two parts are shared', async () => {
    // 0.5.15 counts at the key itself only when it has fewer than three ':'-separated parts
    const key = `counter-${p.replace(/[^a-z0-9]/gi, '')}:n`
    try {
      await old(() => seed.kv.increment(key, 2))
      expect(await native.kv.increment(key, 3)).toBe(5)
      expect(await old(() => seed.kv.get(key))).toBe(5)
    } finally {
      await redis.del(key)
    }
  })
})

describe('documented differences (README: Migrating from 0.5.x)', () => {
  test('metadata strings that look like other types reach 0.5.15 as JSON literals', async () => {
    await native.index.add(k('d1'), 'a', 1, { code: '123', flag: 'true' })
    expect((await old(() => seed.index.get(k('d1'), 'a'))).metadata).toEqual({ version: 0, code: '"123"', flag: '"true"' })
  })

  test('keys with dots and empty objects are read differently by 0.5.15', async () => {
    await native.index.add(k('d2'), 'a', 1, { events: { 'order.created': 1 }, empty: {} })
    expect((await old(() => seed.index.get(k('d2'), 'a'))).metadata).toEqual({ version: 0, events: { 'order\\': { created: 1 } }, empty: '{}' })
  })

  test('strings 0.5.15 wrote bare that look like numbers read back as numbers, as 0.5.15 read them', async () => {
    await old(() => seed.kv.set(k('d3'), '123'))
    expect(await native.kv.get(k('d3'))).toBe(123)
    expect(await old(() => seed.kv.get(k('d3')))).toBe(123)
  })

  test('0.5.15 counters at keys of three or more parts lived in a hash field, which is not read', async () => {
    await old(() => seed.kv.increment(k('a:b:c'), 1))
    expect(await redis.hget(`${k('a')}:b`, 'c')).toBe('1')
    expect(await native.kv.get(k('a:b:c'))).toBeNull()
  })
})
