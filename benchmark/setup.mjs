// What both benchmarks share: one throwaway Redis (or REDIS_URL), this package and the published
// 0.5.15 adapter connected to it, and where results are written.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import IORedis from 'ioredis'
import { RedisStore } from '../store.mjs'
import { startRedis } from '../scripts/redis-server.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The 0.5.15 adapter, with its `#imports` pointed at the stand-in used by the tests. */
async function loadSeed() {
  const source = readFileSync(join(root, 'node_modules/seed-adapter-store-redis/dist/runtime/adapter.js'), 'utf8')
  const dir = join(root, '.tmp', 'bench')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'seed-adapter.mjs')
  writeFileSync(file, source.replace('from "#imports"', `from ${JSON.stringify(join(root, '__test__/support/nvent-imports.mjs'))}`))
  const { RedisStoreAdapter } = await import(file)
  return RedisStoreAdapter
}

/**
 * Starts Redis and both adapters (this package with `ioThread: true` when BENCH_IO_THREAD=1,
 * and `busyPollMicros` from BENCH_BUSY_POLL).
 * `close()` stops all of it.
 */
export async function openAdapters() {
  const server = process.env.REDIS_URL ? null : await startRedis()
  const url = process.env.REDIS_URL ?? server.url
  const { hostname: host, port } = new URL(url)
  const connection = { host, port: Number(port) }
  const redis = new IORedis(url)
  const RedisStoreAdapter = await loadSeed()
  // 0.5.15 logs its connections to console.log
  const log = console.log
  console.log = () => {}
  const seed = new RedisStoreAdapter({ connection, prefix: 'nvent', streams: { trim: { maxLen: 10000, approx: true } } })
  console.log = log
  const busyPoll = process.env.BENCH_BUSY_POLL
  const ioThread = process.env.BENCH_IO_THREAD === '1'
  const native = new RedisStore({ connection, logger: false, ...(ioThread ? { ioThread } : {}), ...(busyPoll ? { busyPollMicros: Number(busyPoll) } : {}) })
  return {
    url,
    connection,
    redis,
    busyPoll: busyPoll === undefined ? 'default' : Number(busyPoll),
    ioThread,
    adapters: { native, '0.5.15': seed },
    async close() {
      await native.close()
      console.log = () => {}
      await seed.close()
      console.log = log
      redis.disconnect()
      await server?.stop()
    },
  }
}

/** Redis's CPU time so far (user and system, `INFO cpu`), in ms. */
export async function redisCpuMs(redis) {
  const info = await redis.info('cpu')
  const field = (name) => Number(info.match(new RegExp(`${name}:([\\d.]+)`))[1])
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000
}

/** Writes `result` (with the date and machine added) to benchmark/results/<kind>-<date>.json. */
export async function writeResult(kind, redis, result) {
  const date = new Date().toISOString()
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, redis: (await redis.info('server')).match(/redis_version:(\S+)/)?.[1] }
  const dir = join(root, 'benchmark', 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${kind}-${date.replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify({ date, machine, ...result }, null, 2))
  console.log(`\nresults: ${file}`)
}
