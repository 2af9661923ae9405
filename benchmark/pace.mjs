// The pacer that benchmark/paced.mjs and benchmark/ab.mjs share: calls spread evenly at a fixed
// rate, what each call cost, and the operations and fixtures they call. See paced.mjs for how
// calls are paced and why.
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { redisCpuMs } from './setup.mjs'

/** Seconds per measurement. */
export const SECONDS = Number(process.env.PACED_SECONDS ?? 1)
/** Calls at the rate, unmeasured, before an op and rate is measured (after 200 in a row). */
const WARM_UP_SECONDS = 0.5
/** Calls outstanding at most; a rate an adapter cannot sustain shows as a lower achieved rate. */
const MAX_OUTSTANDING = 256

export const now = () => Number(process.hrtime.bigint()) / 1e6
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Calls `op(i)` at `rate` per second for `seconds`; returns what each call cost. */
export async function paced(op, rate, redis, seconds = SECONDS) {
  const total = Math.round(rate * seconds)
  const latencies = []
  let issued = 0
  let started = 0
  let outstanding = 0
  let skipped = 0
  let errors = 0
  const call = () => {
    started++
    if (outstanding >= MAX_OUTSTANDING) {
      skipped++
      return
    }
    outstanding++
    const t = now()
    op(issued).then(
      () => latencies.push(now() - t),
      () => errors++,
    ).finally(() => outstanding--)
  }
  const redisBefore = await redisCpuMs(redis)
  const cpuBefore = process.cpuUsage()
  const eluBefore = performance.eventLoopUtilization()
  const start = now()
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - start) / 1000) * rate) + 1)
      while (issued < due) {
        issued++
        setImmediate(call)
      }
      if (issued < total) setTimeout(tick, 1)
      else resolve()
    }
    tick()
  })
  // the last tick's calls start after it (setImmediate)
  while (started < issued || outstanding > 0) await sleep(1)
  const elapsed = now() - start
  const cpu = process.cpuUsage(cpuBefore)
  const elu = performance.eventLoopUtilization(eluBefore)
  const redisCpu = (await redisCpuMs(redis)) - redisBefore
  latencies.sort((a, b) => a - b)
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
  const calls = latencies.length + errors
  return {
    rate,
    achieved: (calls / elapsed) * 1000,
    calls,
    skipped,
    errors,
    cpuUsPerCall: (cpu.user + cpu.system) / calls,
    eventLoopUsPerCall: (elu.active * 1000) / calls,
    redisCpuUsPerCall: (redisCpu * 1000) / calls,
    p50: at(0.5),
    p99: at(0.99),
  }
}

/** Readies `fn` at `rate`: connections and scripts, then the engine's compiled code at this pace. */
export async function warmUp(fn, rate, redis) {
  for (let i = 0; i < 200; i++) await fn(i)
  await paced(fn, rate, redis, WARM_UP_SECONDS)
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Each figure's median over the rounds' measurements of one adapter. */
export function medianOf(measurements) {
  const out = {}
  for (const key of Object.keys(measurements[0])) out[key] = median(measurements.map((m) => m[key]))
  return out
}

export function operations(store, tag) {
  const k = (s) => `paced:${tag}:${s}`
  return {
    'kv.get': () => store.kv.get(k('kv')),
    'kv.set': (i) => store.kv.set(k(`set:${i % 1000}`), { owner: 'worker-1', i }),
    'index.get': (i) => store.index.get(k('index'), `run-${i % 1000}`),
    'index.update': (i) => store.index.update(k('hot'), 'run', { stats: { done: i } }),
    'index.read 50': () => store.index.read(k('index'), { limit: 50 }),
    'stream.append': (i) => store.stream.append(k('append'), { type: 'step.completed', runId: 'r1', stepName: 's', attempt: 1, data: { i } }),
    'stream.read 50': () => store.stream.read(k('stream'), { limit: 50 }),
  }
}

export async function fixtures(store, tag) {
  const k = (s) => `paced:${tag}:${s}`
  await Promise.all(Array.from({ length: 200 }, (_, i) => store.stream.append(k('stream'), { type: 'step.completed', runId: 'r1', data: { i } })))
  await Promise.all(Array.from({ length: 1000 }, (_, i) => store.index.add(k('index'), `run-${i}`, i, { status: 'completed', stats: { steps: 3, done: i % 3 } })))
  await store.index.add(k('hot'), 'run', 1, { status: 'running', stats: { done: 0 } })
  await store.kv.set(k('kv'), { owner: 'worker-1', at: 1_700_000_000_000 })
}

/**
 * The floor of paced.mjs and instructions.mjs: a call is a PING written at once, done at its
 * reply, with no command built, no reply decoded and no result made.
 */
export async function bareSocket({ host, port }) {
  const socket = net.connect({ host, port, noDelay: true })
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const waiting = []
  let head = 0
  socket.on('data', (chunk) => {
    // each reply is one line, +PONG
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) waiting[head++]()
    if (head === waiting.length) waiting.length = head = 0
  })
  const ping = Buffer.from('*1\r\n$4\r\nPING\r\n')
  const call = () => new Promise((resolve) => {
    waiting.push(resolve)
    socket.write(ping)
  })
  return { call, close: () => socket.destroy() }
}
