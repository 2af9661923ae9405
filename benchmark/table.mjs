// Prints a results file of bench.mjs or paced.mjs as the README's markdown table.
//   node benchmark/table.mjs benchmark/results/bench-….json
//   node benchmark/table.mjs benchmark/results/paced-….json
import { readFileSync } from 'node:fs'

const result = JSON.parse(readFileSync(process.argv[2], 'utf8'))
if (result.rows[0]?.rate !== undefined) {
  pacedTable(result)
  process.exit(0)
}

/** A results file of paced.mjs as the README's paced table. */
function pacedTable({ rows, date, rounds }) {
  const us = (v) => Math.round(v)
  const ms = (v) => v.toFixed(3)
  // what the call costs the process and Redis together (both on the user's bill when they share a
  // host); files from before the rounds have no cpuWithRedisRatio
  const withRedis = (n, s) => (n.cpuUsPerCall + n.redisCpuUsPerCall) / (s.cpuUsPerCall + s.redisCpuUsPerCall)
  // a ratio, with the lowest and highest of the rounds where there were several
  const ratio = (row, name, value = row[name]) => {
    const range = row[`${name}Range`]
    return range && range[0] !== range[1] ? `${value.toFixed(2)} (${range.map((v) => v.toFixed(2)).join('–')})` : value.toFixed(2)
  }
  // files from before the floor have no floor columns
  const hasFloor = rows[0]?.floorCpuRatio !== undefined
  const floorColumns = (row) => (hasFloor ? ` ${ratio(row, 'floorCpuRatio')} | ${ratio(row, 'floorEventLoopRatio')} |` : '')
  console.log(`| op @ calls/s | CPU µs/call: native | 0.5.15 | ratio | event loop µs/call: native | 0.5.15 | ratio | Redis µs/call: native / 0.5.15 | ratio of CPU with Redis's | p50 ms: native / 0.5.15 | p99 ms: native / 0.5.15 |${hasFloor ? ' floor: CPU ratio | floor: event loop ratio |' : ''}`)
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${hasFloor ? '---:|---:|' : ''}`)
  for (const row of rows) {
    const { op, rate, native: n, '0.5.15': s } = row
    const short = [['0.5.15', s], ['native', n]].filter(([, r]) => r.achieved < rate * 0.95).map(([name, r]) => `${name} reached ${Math.round(r.achieved).toLocaleString('en')}/s`)
    const label = `${op} @ ${rate}${short.length ? ` (${short.join('; ')})` : ''}`
    console.log(
      `| ${label} | ${us(n.cpuUsPerCall)} | ${us(s.cpuUsPerCall)} | ${ratio(row, 'cpuRatio')} | ${us(n.eventLoopUsPerCall)} | ${us(s.eventLoopUsPerCall)} | ${ratio(row, 'eventLoopRatio')} | ${us(n.redisCpuUsPerCall)} / ${us(s.redisCpuUsPerCall)} | ${ratio(row, 'cpuWithRedisRatio', row.cpuWithRedisRatio ?? withRedis(n, s))} | ${ms(n.p50)} / ${ms(s.p50)} | ${ms(n.p99)} / ${ms(s.p99)} |${floorColumns(row)}`,
    )
  }
  console.log(`\n${date}${rounds > 1 ? `; each figure the median of ${rounds} rounds, a ratio the median of the rounds' ratios (their lowest–highest)` : ''}`)
}

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
console.log(`\nNative call floor (an empty batch: JS → the runtime → JS): ${Math.round(sequential.opsPerSec).toLocaleString('en')}/s sequential (p50 ${(sequential.p50 * 1000).toFixed(0)} µs), ${Math.round(inFlight64.opsPerSec).toLocaleString('en')}/s with 64 in flight.`)
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
