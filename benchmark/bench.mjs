// Side-by-side benchmark: this package vs the published 0.5.15 adapter (and plain ioredis as the
// client-side ceiling), the same operations on the same throwaway Redis, sequential and with 64
// calls in flight. Prints ops/s, p50, p99 and the ratio per operation; writes the results as JSON.
//   npm run bench                      # all operations
//   BENCH_SECONDS=0.5 npm run bench    # shorter measurements (default 0.75 s)
//   BENCH_ROUNDS=1 npm run bench       # one round instead of the best of 2 (see below)
//   BENCH_IO_THREAD=1 npm run bench    # this package with ioThread: true
//   BENCH_IO_THREAD=1 BENCH_BUSY_POLL=0 npm run bench    # …and busyPollMicros: 0 (default 100)
//   BENCH_ONLY=kv.get,index.read npm run bench
//   BENCH_CLUSTER=0 npm run bench      # skip the same operations on a local Redis Cluster
//   BENCH_CLUSTER_TAG=1 npm run bench  # …or run them with every key under one hash tag
//   npm run bench -- --paced           # calls spread at fixed rates instead (benchmark/paced.mjs)
import IORedis from 'ioredis'
import native_ from '../index.js'
import { RedisStore } from '../store.mjs'
import { startCluster } from '../__test__/support/cluster.mjs'
import { openAdapters, writeResult } from './setup.mjs'

if (process.argv.includes('--paced')) {
  // `npm run bench -- --paced`: the paced benchmark instead (benchmark/paced.mjs)
  await import('./paced.mjs')
  process.exit(0)
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 0.75)
// Each adapter is measured in ROUNDS interleaved rounds (native, 0.5.15, native, 0.5.15 …) and
// its best round is reported: on a shared VM a burst of load elsewhere makes wake-ups faster or
// slower for a second, and interleaving gives both adapters the same chance of a good round.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const ONLY = process.env.BENCH_ONLY?.split(',')
const CONCURRENCY = 64

// ------------------------------------------------------------------ measuring

const now = () => Number(process.hrtime.bigint()) / 1e6

function summarize(latencies, elapsedMs, errors = 0) {
  latencies.sort((a, b) => a - b)
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return { ops: latencies.length, opsPerSec: (latencies.length / elapsedMs) * 1000, p50: at(0.5), p99: at(0.99), errors }
}

/** Runs `op(i)` for SECONDS with `inFlight` calls outstanding; returns throughput and latency. */
async function measure(op, inFlight) {
  const deadline = now() + SECONDS * 1000
  const latencies = []
  let i = 0
  let errors = 0
  const start = now()
  const worker = async () => {
    while (now() < deadline) {
      const t = now()
      try {
        await op(i++)
        latencies.push(now() - t)
      } catch {
        // 0.5.15's updateWithRetry gives up under contention; failed calls are counted, not timed
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return summarize(latencies, now() - start, errors)
}

// ------------------------------------------------------------------ fixtures and operations

const TYPES = ['flow.start', 'step.started', 'step.completed', 'flow.completed']

async function fixtures(store, tag) {
  const subject = `bench:${tag}:stream`
  for (let i = 0; i < 1000; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => store.stream.append(subject, { type: TYPES[(i + j) % 4], runId: 'r1', flowName: 'f', stepName: `s${j}`, attempt: 1, data: { i: i + j, payload: { ok: true } } })))
  }
  const index = `bench:${tag}:index`
  for (let i = 0; i < 10000; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => {
      const n = i + j
      return store.index.add(index, `run-${n}`, 1_700_000_000_000 + n, { status: n % 10 === 0 ? 'running' : 'completed', flowName: 'f', stats: { steps: 3, done: n % 3 }, emittedEvents: { start: { completed: 1 } } })
    }))
  }
  await store.index.add(`bench:${tag}:hot`, 'run', 1, { status: 'running', stats: { done: 0 } })
  await store.kv.set(`bench:${tag}:kv`, { owner: 'worker-1', at: 1_700_000_000_000 })
  return { subject, index }
}

function operations(store, tag, f, redis) {
  const k = (s) => `bench:${tag}:${s}`
  return {
    'stream.append': (i) => store.stream.append(k('append'), { type: 'step.completed', runId: 'r1', stepName: 's', attempt: 1, data: { i } }),
    'stream.read 50': () => store.stream.read(f.subject, { limit: 50 }),
    'stream.read 50 desc': () => store.stream.read(f.subject, { limit: 50, order: 'desc' }),
    'stream.read 1000': () => store.stream.read(f.subject, { limit: 1000 }),
    'stream.read 1000 desc': () => store.stream.read(f.subject, { limit: 1000, order: 'desc' }),
    'stream.read types 50': () => store.stream.read(f.subject, { limit: 50, types: ['step.completed'] }),
    'index.add': (i) => store.index.add(k('added'), `e${i % 5000}`, i, { status: 'running', stats: { done: 0 } }),
    'index.get': (i) => store.index.get(f.index, `run-${i % 10000}`),
    'index.read 50': () => store.index.read(f.index, { limit: 50 }),
    'index.read 1000': () => store.index.read(f.index, { limit: 1000 }),
    'index.read 10000': () => store.index.read(f.index, { limit: 10000 }),
    'index.read filter 50': () => store.index.read(f.index, { limit: 50, filter: { status: 'running' } }),
    'index.update': (i) => store.index.update(k('hot'), 'run', { stats: { done: i } }),
    'index.updateWithRetry': (i) => store.index.updateWithRetry(k('hot'), 'run', { emittedEvents: { start: { completed: i } } }),
    'index.increment': () => store.index.increment(k('hot'), 'run', 'stats.done', 1),
    'kv.get': () => store.kv.get(k('kv')),
    'kv.set': (i) => store.kv.set(k(`set:${i % 1000}`), { owner: 'worker-1', i }),
    'kv.increment a:b': () => store.kv.increment(`benchctr${tag}:n`, 1),
    'kv.increment a:b:c': () => store.kv.increment(k('counter'), 1),
    'kv.clear 1000 of 13k': {
      // each call first re-creates the 1000 keys it deletes (not timed)
      setup: async () => {
        const pipe = redis.pipeline()
        for (let i = 0; i < 1000; i++) pipe.set(k(`clear:${i}`), '1')
        await pipe.exec()
      },
      run: () => store.kv.clear(k('clear:*')),
    },
  }
}

async function measureClear(op) {
  const latencies = []
  const deadline = now() + SECONDS * 1000
  let busy = 0
  while (now() < deadline || latencies.length < 3) {
    await op.setup()
    const t = now()
    await op.run()
    const dt = now() - t
    busy += dt
    latencies.push(dt)
  }
  return summarize(latencies, busy)
}

// The same operations on a local cluster (3 primaries, 3 replicas, on this machine), this package
// only: 0.5.15 has no Cluster mode. Each row beside the same operation on one server.
async function onCluster(serverRows) {
  const cluster = await startCluster()
  const store = new RedisStore({ connection: cluster.connection, logger: false, ...(ioThread ? { ioThread } : {}), ...(busyPoll === 'default' ? {} : { busyPollMicros: busyPoll }) })
  const raw = cluster.raw()
  const rows = []
  try {
    // `bench:{c}:…`: one slot for every key, as a prefix with a hash tag gives
    const tag = process.env.BENCH_CLUSTER_TAG === '1' ? '{c}' : 'c'
    const ops = operations(store, tag, await fixtures(store, tag), raw)
    console.log(`\non a local cluster (3 primaries + 3 replicas), keys bench:${tag}:…, this package; × is against one server above`)
    for (const op of Object.keys(ops)) {
      if (ONLY && !ONLY.some((o) => op.startsWith(o))) continue
      for (const inFlight of op.startsWith('kv.clear') ? [1] : [1, CONCURRENCY]) {
        let best
        for (let round = 0; round < ROUNDS; round++) {
          const fn = ops[op]
          const r = typeof fn === 'function' ? await measure(fn, inFlight) : await measureClear(fn)
          if (!best || r.opsPerSec > best.opsPerSec) best = r
        }
        const server = serverRows.find((r) => r.op === op && r.inFlight === inFlight)?.native
        rows.push({ op, inFlight, keys: `bench:${tag}:…`, native: best, ratioToServer: server ? best.opsPerSec / server.opsPerSec : null })
        const vs = server ? ` | ×${(best.opsPerSec / server.opsPerSec).toFixed(2)} of one server` : ''
        const latency = best.ops > 0 ? `p50 ${best.p50.toFixed(3)} p99 ${best.p99.toFixed(3)}` : 'no call succeeded'
        const failed = best.errors ? ` (${best.errors} failed)` : ''
        console.log(`${op.padEnd(24)} ${String(inFlight).padStart(2)}  cluster ${Math.round(best.opsPerSec).toLocaleString('en').padStart(9)}/s ${latency}${failed}${vs}`)
      }
    }
  } finally {
    await store.close()
    raw.disconnect()
    await cluster.stop()
  }
  return rows
}

// ------------------------------------------------------------------ main

const { url, connection, redis, adapters, busyPoll, ioThread, close } = await openAdapters()
const native = adapters.native
const ceiling = new IORedis(url, { enableAutoPipelining: true })

try {
  // 13k keys in the database besides the ones kv.clear deletes
  const filler = redis.pipeline()
  for (let i = 0; i < 12000; i++) filler.set(`bench:filler:${i}`, '1')
  await filler.exec()

  const ops = {}
  for (const [name, store] of Object.entries(adapters)) {
    const tag = name === 'native' ? 'n' : 's'
    ops[name] = operations(store, tag, await fixtures(store, tag), redis)
  }
  await ceiling.set('bench:ceiling', 'v')
  const ceilingOps = { 'kv.get': () => ceiling.get('bench:ceiling'), 'kv.set': (i) => ceiling.set(`bench:ceiling:${i % 1000}`, 'v') }

  // The floor of a native call: an empty batch crosses to tokio and back and does nothing else.
  const settling = new Map()
  const bare = new native_.NativeStore({ host: connection.host, port: connection.port }, (id) => {
    settling.get(id)()
    settling.delete(id)
  })
  const [batch] = bare.batchFunctions()
  let lastId = 0
  const emptyBatch = () => new Promise((resolve) => {
    settling.set(++lastId, resolve)
    batch(lastId, '[]', 0, false)
  })
  const floor = { sequential: await measure(emptyBatch, 1), inFlight64: await measure(emptyBatch, CONCURRENCY) }
  bare.close()
  console.log(`native call floor (empty batch)  1: ${Math.round(floor.sequential.opsPerSec)}/s p50 ${floor.sequential.p50.toFixed(3)} ms | 64: ${Math.round(floor.inFlight64.opsPerSec)}/s`)

  const rows = []
  for (const op of Object.keys(ops.native)) {
    if (ONLY && !ONLY.some((o) => op.startsWith(o))) continue
    for (const inFlight of op.startsWith('kv.clear') ? [1] : [1, CONCURRENCY]) {
      const row = { op, inFlight }
      const best = (a, b) => (!a || b.opsPerSec > a.opsPerSec ? b : a)
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of Object.keys(adapters)) {
          const fn = ops[name][op]
          row[name] = best(row[name], typeof fn === 'function' ? await measure(fn, inFlight) : await measureClear(fn))
        }
        if (ceilingOps[op]) row.ioredis = best(row.ioredis, await measure(ceilingOps[op], inFlight))
      }
      row.ratio = row.native.opsPerSec / row['0.5.15'].opsPerSec
      rows.push(row)
      const fmt = (r) => (r ? `${Math.round(r.opsPerSec).toLocaleString('en').padStart(9)}/s p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)}${r.errors ? ` (${r.errors} failed)` : ''}` : '')
      console.log(`${op.padEnd(24)} ${String(inFlight).padStart(2)}  native ${fmt(row.native)} | 0.5.15 ${fmt(row['0.5.15'])} | ×${row.ratio.toFixed(2)}${row.ioredis ? ` | ioredis ${fmt(row.ioredis)}` : ''}`)
    }
  }

  const cluster = process.env.BENCH_CLUSTER === '0' ? [] : await onCluster(rows)
  await writeResult('bench', redis, { secondsPerMeasurement: SECONDS, rounds: ROUNDS, ioThread, busyPollMicros: busyPoll, floor, rows, cluster })
} finally {
  ceiling.disconnect()
  await close()
}
