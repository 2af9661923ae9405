'use strict'
// One call of each tier against the Redis at the given URL, through whichever binary the loader
// picks (NAPI_RS_NATIVE_LIBRARY_PATH names one): the check a cross-built addon gets under an
// emulator (scripts/check-builds.mjs). CommonJS and no dependencies, so any node runs it as is.
const assert = require('node:assert/strict')
const { RedisStore } = require('../store.cjs')

async function main(url) {
  const store = new RedisStore({ connection: { url }, logger: false })
  const run = `round-trip:${process.platform}-${process.arch}:${Date.now()}`
  try {
    await store.kv.set(`${run}:kv`, { ok: true })
    assert.deepEqual(await store.kv.get(`${run}:kv`), { ok: true })
    await store.stream.append(`${run}:stream`, { type: 'step.completed', data: { n: 1 } })
    assert.deepEqual((await store.stream.read(`${run}:stream`)).map((e) => [e.type, e.data]), [['step.completed', { n: 1 }]])
    await store.index.add(`${run}:index`, 'a', 1, { status: 'running' })
    assert.equal(await store.index.increment(`${run}:index`, 'a', 'stats.done'), 1)
    assert.equal((await store.index.get(`${run}:index`, 'a')).metadata.status, 'running')
    assert.equal(await store.kv.clear(`${run}:kv*`), 1)
    await store.stream.delete(`${run}:stream`)
    await store.index.delete(`${run}:index`, 'a')
  } finally {
    await store.close()
  }
  console.log(`round trip ok: node ${process.version} ${process.platform}-${process.arch}`)
}

main(process.argv[2]).catch((err) => {
  console.error(err)
  process.exit(1)
})
