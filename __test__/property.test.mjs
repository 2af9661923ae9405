// Random sequences of calls, good and bad, against a model of the contract
// (../shared/spec/store-contract.md): every result matches the model, and a rejected call
// leaves Redis exactly as it was.
import fc from 'fast-check'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { StoreError } from '../store.mjs'
import { nativeStore, rawClient, uniquePrefix } from './support/stores.mjs'

let store
let redis
beforeAll(() => {
  store = nativeStore()
  redis = rawClient()
})
afterAll(async () => {
  await store.close()
  redis.disconnect()
})

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)))

// ---------------------------------------------------------------- the model

/**
 * What the contract says a store holds, in the Redis layout: kv values, index sorted sets
 * (id -> score), metadata hashes (which outlive their sorted set when another call replaces
 * it, as in Redis), and stream events.
 */
class Model {
  kv = new Map()
  index = new Map() // key -> Map(id -> score)
  meta = new Map() // `${key} ${id}` -> metadata, with its version
  streams = new Map() // subject -> [{ type, data }]

  /** The type of the Redis key: a call on a key of another type is refused. */
  typeOf(key) {
    if (this.kv.has(key)) return 'string'
    if (this.index.get(key)?.size) return 'zset'
    if (this.streams.get(key)?.length) return 'stream'
    return 'none'
  }

  /** Whatever is at the key goes (SET and DEL do that to any type). */
  drop(key) {
    this.kv.delete(key)
    this.index.delete(key)
    this.streams.delete(key)
  }
}

// Whether a partial writes anything: an object of nulls only deletes, so it creates nothing.
const writes = (v) => (isObject(v) ? Object.keys(v).length === 0 || Object.values(v).some(writes) : v !== null)

/** Deep merge as index.update does it: null deletes, objects merge, the rest replaces. */
function merge(target, partial) {
  for (const [key, value] of Object.entries(partial)) {
    if (value === null) delete target[key]
    else if (isObject(value)) {
      if (!isObject(target[key])) {
        if (!writes(value)) continue
        target[key] = {}
      }
      merge(target[key], value)
    } else target[key] = value
  }
  return target
}

const KEYS = ['a', 'b', 'c']
const IDS = ['x', 'y', 'z']
const key = fc.constantFrom(...KEYS)
const entryId = fc.constantFrom(...IDS)
const trickyString = fc.constantFrom('007', '1e3', '7', '{}', 'true', '', 'x y', '__proto__', '0x1A', '-0')
const scalar = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.string({ maxLength: 6 }), trickyString, fc.boolean())
const kvValue = fc.oneof(scalar, fc.constant(null), fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.constantFrom('p', 'q'), scalar, { maxKeys: 2 }))
const objectOrEmpty = fc.oneof(fc.record({ t: fc.integer({ min: 0, max: 9 }) }), fc.constant({}))
const metaObject = fc.record({ n: fc.oneof(fc.integer({ min: -50, max: 50 }), trickyString), s: fc.string({ maxLength: 4 }), o: objectOrEmpty }, { requiredKeys: [] })
const orNull = (arb) => fc.oneof(arb, fc.constant(null))
const partial = fc.record(
  { n: orNull(fc.integer({ min: -50, max: 50 })), s: orNull(fc.string({ maxLength: 4 })), o: orNull(fc.oneof(fc.record({ t: orNull(fc.integer({ min: 0, max: 9 })) }, { requiredKeys: [] }), fc.constant({}))) },
  { requiredKeys: [] },
)
const score = fc.integer({ min: -5, max: 5 })
const amount = fc.integer({ min: -5, max: 5 })

const invalid = { code: 'INVALID_ARGUMENT' }
const wrongType = { code: 'REDIS' }
const is = (m, k, ...types) => types.includes(m.typeOf(k))

/** An increment of `current` (undefined when missing): only a number may be added to. */
function increment(current, by) {
  if (current === undefined) return { value: by }
  return typeof current === 'number' ? { value: current + by } : invalid
}

/** A metadata write where the hash may be missing: it exists, or the entry does (then it is made), or neither. */
function onMetadata(m, k, id, apply, missing) {
  const stored = m.meta.get(`${k} ${id}`)
  if (!stored) {
    // the store asks the sorted set whether the entry exists
    if (!is(m, k, 'none', 'zset')) return wrongType
    if (!m.index.get(k)?.has(id)) return missing
  }
  const { version, ...fields } = stored ?? { version: 0 }
  const outcome = apply(fields)
  if (outcome.code) return outcome
  m.meta.set(`${k} ${id}`, { ...fields, version: version + 1 })
  return outcome
}

// Each command: `run(prefix)` calls the store; `expect(model)` says what must come back
// (`{ value }`, or `{ code }` for a rejection) and updates the model.
const commands = [
  fc.tuple(key, kvValue).map(([k, v]) => ({
    name: `kv.set(${k}, ${JSON.stringify(v)})`,
    run: (p) => store.kv.set(p + k, v).then(() => undefined),
    expect: (m) => {
      m.drop(k)
      m.kv.set(k, clone(v))
      return { value: undefined }
    },
  })),
  key.map((k) => ({
    name: `kv.get(${k})`,
    run: (p) => store.kv.get(p + k),
    expect: (m) => (is(m, k, 'none', 'string') ? { value: m.kv.get(k) ?? null } : wrongType),
  })),
  key.map((k) => ({
    name: `kv.delete(${k})`,
    run: (p) => store.kv.delete(p + k),
    expect: (m) => {
      const existed = !is(m, k, 'none')
      m.drop(k)
      return { value: existed }
    },
  })),
  fc.tuple(key, amount).map(([k, by]) => ({
    name: `kv.increment(${k}, ${by})`,
    run: (p) => store.kv.increment(p + k, by),
    expect: (m) => {
      if (!is(m, k, 'none', 'string')) return wrongType
      const next = increment(m.kv.get(k), by)
      if (!next.code) m.kv.set(k, next.value)
      return next
    },
  })),
  fc.tuple(key, entryId, score, fc.option(metaObject, { nil: undefined })).map(([k, id, s, meta]) => ({
    name: `index.add(${k}, ${id}, ${s}, ${JSON.stringify(meta)})`,
    run: (p) => store.index.add(p + k, id, s, meta).then(() => undefined),
    expect: (m) => {
      if (!is(m, k, 'none', 'zset')) return wrongType
      if (!m.index.has(k)) m.index.set(k, new Map())
      m.index.get(k).set(id, s)
      const before = m.meta.get(`${k} ${id}`)
      if (meta !== undefined || before) m.meta.set(`${k} ${id}`, { ...clone(meta ?? {}), version: before ? before.version + 1 : 0 })
      return { value: undefined }
    },
  })),
  fc.tuple(key, entryId).map(([k, id]) => ({
    name: `index.get(${k}, ${id})`,
    run: (p) => store.index.get(p + k, id),
    expect: (m) => {
      if (!is(m, k, 'none', 'zset')) return wrongType
      const score = m.index.get(k)?.get(id)
      if (score === undefined) return { value: null }
      const metadata = m.meta.get(`${k} ${id}`)
      return { value: { id, score, ...(metadata ? { metadata: clone(metadata) } : {}) } }
    },
  })),
  key.map((k) => ({
    name: `index.read(${k})`,
    run: (p) => store.index.read(p + k),
    expect: (m) => {
      if (!is(m, k, 'none', 'zset')) return wrongType
      const entries = [...(m.index.get(k) ?? new Map())].map(([id, score]) => {
        const metadata = m.meta.get(`${k} ${id}`)
        return { id, score, ...(metadata ? { metadata: clone(metadata) } : {}) }
      })
      // ZREVRANGE: score descending, ties by member descending
      entries.sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1))
      return { value: entries }
    },
  })),
  fc.tuple(key, entryId, partial).map(([k, id, part]) => ({
    name: `index.update(${k}, ${id}, ${JSON.stringify(part)})`,
    run: (p) => store.index.update(p + k, id, part),
    expect: (m) =>
      onMetadata(m, k, id, (fields) => {
        merge(fields, clone(part))
        return { value: true }
      }, { value: false }),
  })),
  fc.tuple(key, entryId, fc.constantFrom('n', 'o.t', 's'), amount).map(([k, id, field, by]) => ({
    name: `index.increment(${k}, ${id}, ${field}, ${by})`,
    run: (p) => store.index.increment(p + k, id, field, by),
    expect: (m) =>
      onMetadata(m, k, id, (fields) => {
        const path = field.split('.')
        let parent = fields
        for (const part of path.slice(0, -1)) {
          if (parent[part] === undefined) parent[part] = {}
          else if (!isObject(parent[part])) return invalid
          parent = parent[part]
        }
        const next = increment(parent[path.at(-1)], by)
        if (!next.code) parent[path.at(-1)] = next.value
        return next
      }, { code: 'NOT_FOUND' }),
  })),
  fc.tuple(key, entryId).map(([k, id]) => ({
    name: `index.delete(${k}, ${id})`,
    run: (p) => store.index.delete(p + k, id),
    expect: (m) => {
      if (!is(m, k, 'none', 'zset')) return wrongType
      const existed = m.index.get(k)?.delete(id) ?? false
      m.meta.delete(`${k} ${id}`)
      return { value: existed }
    },
  })),
  fc.tuple(key, fc.constantFrom('t1', 't2'), scalar).map(([k, type, data]) => ({
    name: `stream.append(${k}, ${type}, ${JSON.stringify(data)})`,
    run: (p) => store.stream.append(p + k, { type, data }).then(() => undefined),
    expect: (m) => {
      if (!is(m, k, 'none', 'stream')) return wrongType
      m.streams.set(k, [...(m.streams.get(k) ?? []), { type, data }])
      return { value: undefined }
    },
  })),
  key.map((k) => ({
    name: `stream.read(${k})`,
    run: (p) => store.stream.read(p + k).then((events) => events.map(({ type, data }) => ({ type, data }))),
    expect: (m) => (is(m, k, 'none', 'stream') ? { value: m.streams.get(k) ?? [] } : wrongType),
  })),
]

// Calls the contract refuses whatever the state: each must reject INVALID_ARGUMENT.
const throwing = {
  type: 't',
  get data() {
    throw new Error('boom')
  },
}
const badCalls = fc
  .tuple(
    fc.constantFrom(
      (s, k) => s.kv.set(k, undefined),
      (s, k) => s.kv.set(k, NaN),
      (s, k) => s.kv.set(k, { n: 10n }),
      (s, k) => s.kv.set(k, 1, -1),
      (s, k) => s.kv.set(k, 1, 0),
      (s, k) => s.kv.increment(k, NaN),
      (s, k) => s.kv.increment(k, '1'),
      (s) => s.kv.get(7),
      (s, k) => s.index.add(k, 'x', NaN),
      (s, k) => s.index.add(k, 'x', Infinity, {}),
      (s, k) => s.index.add(k, 'x', 1, [1]),
      (s, k) => s.index.add(k, 'x', 1, { f: () => 1 }),
      (s, k) => s.index.update(k, 'x', 'not an object'),
      (s, k) => s.index.increment(k, 'x', 'version'),
      (s, k) => s.index.increment(k, 'x', 'a..b'),
      (s, k) => s.index.increment(k, 'x', 'n', Infinity),
      (s, k) => s.index.read(k, { limit: -1 }),
      (s, k) => s.index.read(k, { filter: 'x' }),
      (s, k) => s.stream.append(k, 'not an object'),
      (s, k) => s.stream.append(k, throwing),
      (s, k) => s.stream.read(k, { after: 'abc' }),
      (s, k) => s.index.updateWithRetry(k, 'x', {}, 0),
    ),
    key,
  )
  .map(([call, k]) => ({
    name: `bad call ${call.toString()} on ${k}`,
    run: (p) => call(store, p + k),
    expect: () => invalid,
  }))

/** Every key of the run and its DUMP. */
async function snapshot(p) {
  const keys = (await redis.keys(`${p}*`)).sort()
  return Promise.all(keys.map(async (k) => [k, (await redis.dumpBuffer(k))?.toString('hex')]))
}

// counterexamples print as the calls' names
const named = (arbitrary) => arbitrary.map((c) => Object.assign(c, { [fc.toStringMethod]: () => c.name }))

test('random calls match the model, and rejected calls change nothing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(named(fc.oneof({ weight: 5, arbitrary: fc.oneof(...commands) }, { weight: 1, arbitrary: badCalls })), { maxLength: 30 }), async (calls) => {
      const p = uniquePrefix()
      const model = new Model()
      try {
        for (const call of calls) {
          const wanted = call.expect(model)
          const before = wanted.code ? await snapshot(p) : null
          const got = await call.run(p).then(
            (value) => ({ value }),
            (err) => {
              expect(err, call.name).toBeInstanceOf(StoreError)
              return { code: err.code, message: err.message }
            },
          )
          if (wanted.code) {
            expect(got.code, `${call.name}: ${got.message ?? JSON.stringify(got.value)}`).toBe(wanted.code)
            expect(await snapshot(p), `${call.name} changed Redis`).toEqual(before)
          } else {
            expect(got, call.name).toEqual({ value: wanted.value })
          }
        }
      } finally {
        const keys = await redis.keys(`${p}*`)
        if (keys.length) await redis.del(...keys)
      }
    }),
    { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) },
  )
}, 120_000)
