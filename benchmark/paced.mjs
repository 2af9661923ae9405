// Paced benchmark: what one call costs at the load a Nitro server usually sees — calls spread
// evenly at a fixed rate, far below saturation — for this package and 0.5.15 in turns, on one
// throwaway Redis. Per operation and rate: process CPU time per call (all threads), the event
// loop's busy time per call, Redis's own CPU time per call, and p50/p99 latency.
//   npm run bench:paced                       # every operation at 1000, 5000 and 20000 calls/s
//   PACED_RATES=1000 PACED_SECONDS=2 PACED_ROUNDS=9 npm run bench:paced
//   PACED_ONLY=kv.get,kv.set npm run bench:paced
//   BENCH_IO_THREAD=1 npm run bench:paced      # this package with ioThread: true
//   BENCH_IO_THREAD=1 BENCH_BUSY_POLL=0 npm run bench:paced      # …and busyPollMicros: 0
//
// Pacing: Node's timers tick at most once a millisecond, so each tick issues the calls that are
// due, each from its own macrotask (setImmediate), so that no two share a tick's batch. The
// figures include the pacer's own cost, the same for both adapters; the JSON also has them with
// a baseline run of the pacer (calls that do nothing) subtracted ("net"), which overstates the
// pacer's share (its wake-ups coincide with the calls' own).
//
// The floor: beside the two adapters, each round also measures a bare socket to the same Redis
// that writes one PING per call and resolves the call when its reply arrives, with nothing else:
// no command to build, no reply to decode, no result to make. What it costs is what any adapter
// whose promise resolves on the JS thread pays at that rate and pace (the pacer, the write, the
// wake-up for the reply), so its ratio to 0.5.15 is the lowest ratio such an adapter can reach
// while a loop iteration makes one call; one that writes several calls at once can go below it.
//
// Rounds: each op and rate is measured PACED_ROUNDS times, the adapters and the floor in turns
// (which goes first alternates), and each figure is the median over the rounds; a ratio is the
// median of the rounds' ratios, with their lowest and highest beside it. On a shared VM one
// measurement can be off by a fifth either way; adjacent measurements drift together. Before
// them each adapter makes 200 calls one after another, then calls at the rate for half a second
// unmeasured, so that what is measured is a process whose code the engine has compiled.
import { bareSocket, fixtures, median, medianOf, operations, paced, SECONDS, sleep, warmUp } from './pace.mjs'
import { openAdapters, writeResult } from './setup.mjs'
const ROUNDS = Number(process.env.PACED_ROUNDS ?? 5)
const RATES = (process.env.PACED_RATES ?? '1000,5000,20000').split(',').map(Number)
const ONLY = process.env.PACED_ONLY?.split(',')

/** A round's ratios of this package's figures to 0.5.15's, and of the bare socket's. */
function ratios(n, s, floor) {
  return {
    cpuRatio: n.cpuUsPerCall / s.cpuUsPerCall,
    eventLoopRatio: n.eventLoopUsPerCall / s.eventLoopUsPerCall,
    // what the call costs the process and Redis together (both on the bill when they share a host)
    cpuWithRedisRatio: (n.cpuUsPerCall + n.redisCpuUsPerCall) / (s.cpuUsPerCall + s.redisCpuUsPerCall),
    floorCpuRatio: floor.cpuUsPerCall / s.cpuUsPerCall,
    floorEventLoopRatio: floor.eventLoopUsPerCall / s.eventLoopUsPerCall,
  }
}

const { redis, connection, adapters, busyPoll, ioThread, close } = await openAdapters()
const floor = await bareSocket(connection)

try {
  const ops = {}
  for (const [name, store] of Object.entries(adapters)) {
    await fixtures(store, name)
    ops[name] = operations(store, name)
  }
  ops.floor = Object.fromEntries(Object.keys(ops.native).map((op) => [op, floor.call]))
  // what the pacer itself costs, subtracted from every measurement's figures ("net")
  const baseline = {}
  for (const rate of RATES) baseline[rate] = await paced(() => Promise.resolve(), rate, redis)

  const rows = []
  const names = Object.keys(ops)
  for (const op of Object.keys(ops.native)) {
    if (ONLY && !ONLY.some((o) => op.startsWith(o))) continue
    for (const rate of RATES) {
      const rounds = []
      // warm up: connections and scripts, then the engine's compiled code at this pace (in the
      // first op's first rounds, each adapter's code was still being compiled and optimized)
      for (const name of names) await warmUp(ops[name][op], rate, redis)
      for (let round = 0; round < ROUNDS; round++) {
        const measured = {}
        for (const name of round % 2 ? [...names].reverse() : names) {
          await sleep(20)
          const r = await paced(ops[name][op], rate, redis)
          r.netCpuUsPerCall = r.cpuUsPerCall - baseline[rate].cpuUsPerCall
          r.netEventLoopUsPerCall = r.eventLoopUsPerCall - baseline[rate].eventLoopUsPerCall
          measured[name] = r
        }
        rounds.push({ ...measured, ...ratios(measured.native, measured['0.5.15'], measured.floor) })
      }
      const row = { op, rate, rounds }
      for (const name of names) row[name] = medianOf(rounds.map((r) => r[name]))
      for (const ratio of Object.keys(rounds[0]).filter((key) => key.endsWith('Ratio'))) {
        const each = rounds.map((r) => r[ratio])
        row[ratio] = median(each)
        row[`${ratio}Range`] = [Math.min(...each), Math.max(...each)]
      }
      rows.push(row)
      const n = row.native
      const s = row['0.5.15']
      const range = (ratio) => `×${row[ratio].toFixed(2)} (${row[`${ratio}Range`].map((v) => v.toFixed(2)).join('–')})`
      const fmt = (r) => `${Math.round(r.achieved).toString().padStart(6)}/s cpu ${r.cpuUsPerCall.toFixed(1).padStart(6)} µs loop ${r.eventLoopUsPerCall.toFixed(1).padStart(5)} µs redis ${r.redisCpuUsPerCall.toFixed(1).padStart(5)} µs p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)}`
      console.log(`${op.padEnd(15)} @${String(rate).padStart(5)}  native ${fmt(n)} | 0.5.15 ${fmt(s)} | cpu ${range('cpuRatio')} loop ${range('eventLoopRatio')} with Redis ${range('cpuWithRedisRatio')} | floor cpu ${range('floorCpuRatio')} loop ${range('floorEventLoopRatio')}`)
    }
  }
  await writeResult('paced', redis, { secondsPerMeasurement: SECONDS, rounds: ROUNDS, ioThread, busyPollMicros: busyPoll, baseline, rows })
} finally {
  floor.close()
  await close()
}
