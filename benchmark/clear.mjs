// kv.clear at scale, for this package and 0.5.15 in turns on one throwaway Redis: 64 callers (or
// one) each own 1000 keys `bench:clear:<caller>:<i>` of a 64k-key database; each round a caller
// clears its pattern (every clear walks all 64k keys) and writes its keys again. Per adapter:
// clears per second, Redis's CPU time per clear (INFO cpu, the rewrite included) and the SCAN
// and DEL calls per clear (INFO commandstats).
//   npm run bench:clear
import { performance } from 'node:perf_hooks'
import { openAdapters, redisCpuMs, writeResult } from './setup.mjs'

const KEYS = 1000
const CALLERS = 64

const { redis, adapters, close } = await openAdapters()

async function writeKeys(caller) {
  const pipe = redis.pipeline()
  for (let i = 0; i < KEYS; i++) pipe.set(`bench:clear:${caller}:${i}`, '1')
  await pipe.exec()
}

async function calls() {
  const info = await redis.info('commandstats')
  const count = (command) => Number(info.match(new RegExp(`cmdstat_${command}:calls=(\\d+)`))?.[1] ?? 0)
  return { scan: count('scan'), del: count('del') }
}

async function measure(store, inFlight) {
  const rounds = inFlight === 1 ? 40 : 4
  const [cpuBefore, callsBefore] = [await redisCpuMs(redis), await calls()]
  const start = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async (_, caller) => {
      for (let round = 0; round < rounds; round++) {
        const deleted = await store.kv.clear(`bench:clear:${caller}:*`)
        if (Number(deleted) !== KEYS) throw new Error(`a clear deleted ${deleted} keys, not ${KEYS}`)
        await writeKeys(caller)
      }
    }),
  )
  const seconds = (performance.now() - start) / 1000
  const [cpuAfter, callsAfter] = [await redisCpuMs(redis), await calls()]
  const clears = inFlight * rounds
  return {
    clearsPerSec: clears / seconds,
    redisMsPerClear: (cpuAfter - cpuBefore) / clears,
    scanPerClear: (callsAfter.scan - callsBefore.scan) / clears,
    delPerClear: (callsAfter.del - callsBefore.del) / clears,
  }
}

try {
  for (let caller = 0; caller < CALLERS; caller++) await writeKeys(caller)
  const rows = []
  for (const inFlight of [1, CALLERS]) {
    // two rounds in turns; each adapter's better one counts
    const best = {}
    for (let round = 0; round < 2; round++) {
      for (const [name, store] of Object.entries(adapters)) {
        const r = await measure(store, inFlight)
        if (!best[name] || r.clearsPerSec > best[name].clearsPerSec) best[name] = r
      }
    }
    for (const [name, r] of Object.entries(best)) {
      rows.push({ inFlight, adapter: name, ...r })
      console.log(
        `kv.clear ${KEYS} of ${CALLERS}k, ${String(inFlight).padStart(2)} in flight  ${name.padEnd(7)} ${r.clearsPerSec.toFixed(1).padStart(6)}/s  ` +
          `Redis ${r.redisMsPerClear.toFixed(2)} ms/clear  SCAN ${r.scanPerClear.toFixed(1)}  DEL ${r.delPerClear.toFixed(1)} per clear`,
      )
    }
    console.log(`  ratio ${(best.native.clearsPerSec / best['0.5.15'].clearsPerSec).toFixed(2)}`)
  }
  await writeResult('clear', redis, { keysPerClear: KEYS, callers: CALLERS, rows })
} finally {
  await close()
}
