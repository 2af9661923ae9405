// A short tour of the three tiers. Uses REDIS_URL when set; otherwise starts a throwaway
// redis-server on a free loopback port and stops it at the end.
import { RedisStore } from '../store.mjs'
import { startRedis } from './redis-server.mjs'

const server = process.env.REDIS_URL ? null : await startRedis()
const url = process.env.REDIS_URL ?? server.url
const store = new RedisStore({ connection: { url } })
const run = `demo-${Date.now()}`
const show = (label, value) => console.log(`${label.padEnd(34)} ${JSON.stringify(value)}`)

try {
  console.log(`RedisStore demo against ${url}${server ? ' (throwaway server)' : ''}\n`)

  // stream: an append-only event log per subject
  const subject = `nvent:flow:run:${run}`
  await store.stream.append(subject, { type: 'flow.start', flowName: 'checkout', runId: run, data: { items: 2 } })
  await store.stream.append(subject, { type: 'step.completed', flowName: 'checkout', runId: run, stepName: 'pay', attempt: 1 })
  await store.stream.append(subject, { type: 'flow.completed', flowName: 'checkout', runId: run })
  show('stream.read(types: step.completed)', await store.stream.read(subject, { types: ['step.completed'] }))
  show('stream.read(desc, limit 1)', (await store.stream.read(subject, { order: 'desc', limit: 1 })).map((e) => e.type))

  // index: a sorted listing with per-entry metadata
  const runs = `nvent:flow:runs:checkout:${run}`
  await store.index.add(runs, run, Date.now(), { status: 'running', emittedEvents: {} })
  await store.index.updateWithRetry(runs, run, { emittedEvents: { 'order.created': { completed: 1 } } })
  await store.index.increment(runs, run, 'stats.completedSteps')
  show('index.get', await store.index.get(runs, run))
  show('index.read(filter: running)', (await store.index.read(runs, { filter: { status: ['running'] } })).map((e) => e.id))

  // kv: plain values with optional TTL
  await store.kv.set(`nvent:scheduler:lock:${run}`, { owner: 'worker-1' }, 1.5)
  await store.kv.set(`nvent:kv:${run}:code`, '123')
  show('kv.get (lock, ttl 1.5 s)', await store.kv.get(`nvent:scheduler:lock:${run}`))
  show('kv.get (the string "123")', await store.kv.get(`nvent:kv:${run}:code`))
  show('kv.increment', await store.kv.increment(`nvent:kv:${run}:count`, 2))

  // clean up what the demo wrote
  await store.stream.delete(subject)
  await store.index.delete(runs, run)
  show('kv.clear(nvent:*:<run>*)', (await store.kv.clear(`nvent:kv:${run}*`)) + (await store.kv.clear(`nvent:scheduler:lock:${run}`)))
} finally {
  await store.close()
  await server?.stop()
}
