// Prints a results file of bench.mjs as the README's markdown table.
//   node benchmark/table.mjs benchmark/results/bench-….json
import { readFileSync } from 'node:fs'

const result = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const ops = (r) => (r ? Math.round(r.opsPerSec).toLocaleString('en') : '')
const byOp = new Map()
for (const row of result.rows) {
  if (!byOp.has(row.op)) byOp.set(row.op, {})
  byOp.get(row.op)[row.inFlight] = row
}
console.log('| op | sequential: native | 0.5.15 | ratio | 64 in flight: native | 0.5.15 | ratio | ioredis (64, auto-pipelining) |')
console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
for (const [op, modes] of byOp) {
  const seq = modes[1]
  const par = modes[64]
  const failed = par?.['0.5.15']?.errors ? ` (${par['0.5.15'].errors} failed)` : ''
  console.log(
    `| ${op} | ${ops(seq?.native)} | ${ops(seq?.['0.5.15'])} | ${seq ? seq.ratio.toFixed(2) : ''} | ${ops(par?.native)} | ${ops(par?.['0.5.15'])}${failed} | ${par ? par.ratio.toFixed(2) : ''} | ${ops(par?.ioredis)} |`,
  )
}
const { sequential, inFlight64 } = result.floor
console.log(`\nNative call floor (an empty batch: JS → tokio → JS): ${Math.round(sequential.opsPerSec).toLocaleString('en')}/s sequential (p50 ${(sequential.p50 * 1000).toFixed(0)} µs), ${Math.round(inFlight64.opsPerSec).toLocaleString('en')}/s with 64 in flight.`)
console.log(`Machine: ${result.machine.cpus} × ${result.machine.cpu}, ${result.machine.memoryGiB} GiB, Node ${result.machine.node}, Redis ${result.machine.redis}; best of ${result.rounds ?? 1} interleaved rounds of ${result.secondsPerMeasurement} s per measurement, ${result.date}.`)
if (result.cluster?.length) {
  console.log('\n| op (local cluster) | sequential | of one server | 64 in flight | of one server |')
  console.log('|---|---:|---:|---:|---:|')
  const rows = new Map()
  for (const row of result.cluster) rows.set(row.op, { ...rows.get(row.op), [row.inFlight]: row })
  const ratio = (r) => (r?.ratioToServer ? `×${r.ratioToServer.toFixed(2)}` : '')
  const failed = (r) => (r?.native?.errors ? ` (${r.native.errors} timed out)` : '')
  for (const [op, modes] of rows) console.log(`| ${op} | ${ops(modes[1]?.native)}${failed(modes[1])} | ${ratio(modes[1])} | ${ops(modes[64]?.native)}${failed(modes[64])} | ${ratio(modes[64])} |`)
}
