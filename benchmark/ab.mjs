// A/B of two builds of this package in one process, at a steady rate: whether a change made
// calls cheaper. Separate runs on a shared VM differ by a tenth or more; two builds measured in
// alternating rounds of one process drift together, so the median of the rounds' paired ratios
// says more than any figure alone.
//   git worktree add ../before HEAD~1 && (cd ../before && npm ci && npm run build)
//   npm run bench:ab -- ../before                  # B: this checkout
//   AB_OPS=kv.get,kv.set PACED_RATES=1000 PACED_ROUNDS=14 npm run bench:ab -- ../before [../after]
// A build is a package root with its addon built (store.cjs and the .node beside it). Each op
// and rate is measured PACED_ROUNDS times (default 12), A and B in turns, which goes first
// alternating. Each ratio comes with a 95% interval for its median (see medianInterval): one that
// holds 1 says nothing. Measured against itself, a build's medians spread over 0.90–1.06 on this
// VM (8–14 rounds at 1000 and 5000/s).
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import IORedis from 'ioredis'
import { startRedis } from '../scripts/redis-server.mjs'
import { fixtures, median, medianOf, operations, paced, sleep, warmUp } from './pace.mjs'
import { writeResult } from './setup.mjs'

const ROUNDS = Number(process.env.PACED_ROUNDS ?? 12)
const RATES = (process.env.PACED_RATES ?? '1000,5000').split(',').map(Number)
const OPS = (process.env.AB_OPS ?? 'kv.get,kv.set,stream.append').split(',')
const [dirA, dirB = '.'] = process.argv.slice(2)
if (!dirA) {
  console.error('usage: node benchmark/ab.mjs <build A> [<build B, default this checkout>]')
  process.exit(2)
}
const builds = { A: resolve(dirA), B: resolve(dirB) }

/**
 * Where the median of `ratios` may lie, 95% of the time, had other rounds been drawn: the
 * percentile bootstrap, resampling the rounds (with a fixed seed, so that a result file is
 * reproducible). An interval that holds 1 does not tell B from A.
 */
function medianInterval(ratios, draws = 4000) {
  let seed = 1
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647
  const medians = []
  for (let d = 0; d < draws; d++) medians.push(median(ratios.map(() => ratios[Math.floor(random() * ratios.length)])))
  medians.sort((a, b) => a - b)
  return [medians[Math.floor(0.025 * draws)], medians[Math.ceil(0.975 * draws) - 1]]
}

const require = createRequire(import.meta.url)

const server = process.env.REDIS_URL ? null : await startRedis()
const url = process.env.REDIS_URL ?? server.url
const { hostname: host, port } = new URL(url)
const redis = new IORedis(url)
const stores = {}
try {
  const ops = {}
  for (const [name, dir] of Object.entries(builds)) {
    // two paths, two copies of the addon in the process (see benchmark/NOTES.md, "mimalloc's TLS model")
    const { RedisStore } = require(`${dir}/store.cjs`)
    stores[name] = new RedisStore({ connection: { host, port: Number(port) }, logger: false })
    await fixtures(stores[name], `ab-${name}`)
    ops[name] = operations(stores[name], `ab-${name}`)
  }
  const rows = []
  for (const op of OPS) {
    if (!ops.A[op]) throw new Error(`unknown op ${op}: one of ${Object.keys(ops.A).join(', ')}`)
    for (const rate of RATES) {
      for (const name of ['A', 'B']) await warmUp(ops[name][op], rate, redis)
      const rounds = []
      for (let round = 0; round < ROUNDS; round++) {
        const measured = {}
        for (const name of round % 2 ? ['B', 'A'] : ['A', 'B']) {
          await sleep(20)
          measured[name] = await paced(ops[name][op], rate, redis)
        }
        rounds.push(measured)
      }
      const ratios = (key) => rounds.map((r) => r.B[key] / r.A[key])
      const row = { op, rate, A: medianOf(rounds.map((r) => r.A)), B: medianOf(rounds.map((r) => r.B)), rounds }
      for (const key of ['cpuUsPerCall', 'eventLoopUsPerCall', 'p50', 'p99']) {
        const each = ratios(key)
        row[key] = {
          ratio: median(each),
          interval: medianInterval(each),
          range: [Math.min(...each), Math.max(...each)],
          lowerInB: each.filter((r) => r < 1).length,
        }
      }
      rows.push(row)
      const fmt = (r) => `cpu ${r.cpuUsPerCall.toFixed(1).padStart(6)} µs loop ${r.eventLoopUsPerCall.toFixed(1).padStart(5)} µs p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)}`
      const span = (pair) => pair.map((v) => v.toFixed(2)).join('–')
      const ratio = (key) => `${row[key].ratio.toFixed(3)} [95%: ${span(row[key].interval)}] (rounds ${span(row[key].range)}, lower in ${row[key].lowerInB}/${ROUNDS})`
      console.log(`${op.padEnd(15)} @${String(rate).padStart(5)}  A ${fmt(row.A)} | B ${fmt(row.B)} | B/A cpu ${ratio('cpuUsPerCall')} loop ${ratio('eventLoopUsPerCall')}`)
    }
  }
  await writeResult('ab', redis, { builds, rounds: ROUNDS, rows })
} finally {
  for (const store of Object.values(stores)) await store.close()
  redis.disconnect()
  await server?.stop()
}
