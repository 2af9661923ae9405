import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const which = process.argv[2]
const { NativeStore } = require(which === 'old' ? '/tmp/old/index.js' : './index.js')
const s = new NativeStore({ host: '127.0.0.1', port: 6379 })
const call = which === 'old' ? () => s.batch('[]') : () => s.batch('[]', false)
for (let r = 0; r < 3; r++) {
  const t = []
  for (let i = 0; i < 20000; i++) { const t0 = process.hrtime.bigint(); await call(); t.push(Number(process.hrtime.bigint() - t0)) }
  t.sort((a, b) => a - b)
  let done = 0; const t1 = performance.now(); const N = 200000
  await Promise.all(Array.from({ length: 64 }, async () => { while (done++ < N) await call() }))
  console.log(which, 'p50', (t[10000] / 1000).toFixed(1), 'µs', '64:', Math.round(N / (performance.now() - t1) * 1000), '/s')
}
