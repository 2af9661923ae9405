// Run as a script by errors.test.mjs: stores in worker threads that close, stay open, or are
// terminated with thousands of calls in flight, three rounds, then a store on the main thread.
// Prints `ok` and exits 0; a call that outlived its worker's memory would crash the process.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { RedisStore } from '../../store.mjs'

const store = (port) => new RedisStore({ connection: { host: '127.0.0.1', port }, logger: false })

if (isMainThread) {
  const port = Number(process.argv[2])
  const run = (mode) =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: { port, mode } })
      worker.once('message', () => (mode === 'terminate' ? worker.terminate().then(resolve) : resolve()))
      worker.once('error', reject)
    })
  for (let round = 0; round < 3; round++) await Promise.all(['close', 'open', 'terminate', 'terminate'].map(run))
  const main = store(port)
  await main.kv.set('workers:main', 1)
  console.log((await main.kv.get('workers:main')) === 1 ? 'ok' : 'wrong value')
  await main.close()
} else {
  const { port, mode } = workerData
  const s = store(port)
  for (let i = 0; i < 50; i++) await s.stream.append('workers:events', { type: 't', i })
  if (mode === 'terminate') {
    for (let i = 0; i < 5000; i++) s.stream.append('workers:events', { type: 't', i }).catch(() => {})
    s.index.read('workers:none', { limit: 1000 }).catch(() => {})
  }
  if (mode === 'close') await s.close()
  parentPort.postMessage('ready')
}
