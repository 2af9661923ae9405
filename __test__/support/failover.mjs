// What the failover tests of every mode share: waiting for a condition, calls in a loop while a
// fault happens, the codes such calls may fail with, and the first write on a new primary.
import { expect } from 'vitest'

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Waits until `check()` holds (a throw counts as not yet); throws after `timeoutMs`. */
export async function until(what, check, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(50)
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`)
}

/** Calls `call(i)` in a loop until `stop()`; what each came to, in order. */
export function loop(call) {
  const outcomes = []
  let running = true
  const done = (async () => {
    for (let i = 0; running; i++) {
      const at = Date.now()
      try {
        outcomes.push({ at, ok: true, value: await call(i) })
      } catch (err) {
        outcomes.push({ at, ok: false, code: err.code, message: err.message })
        await sleep(20)
      }
    }
  })()
  return {
    outcomes,
    async stop() {
      running = false
      await done
    },
  }
}

/** Every failed call failed as a fault allows: not applied, or in flight at the fault. */
export function failedAsAllowed(outcomes) {
  for (const f of outcomes.filter((o) => !o.ok)) expect(['UNAVAILABLE', 'UNCERTAIN', 'TIMEOUT'], f.message).toContain(f.code)
}

/**
 * Increments `key` through the store until one lands on the new primary (`connect()` gives an
 * ioredis client of it); how long that took.
 */
export async function firstWriteOn(store, key, connect) {
  const server = connect()
  const started = Date.now()
  try {
    await until(`a write lands on ${server.options.port}`, async () => {
      const value = await store.kv.increment(key).catch(() => null)
      return value !== null && Number(await server.get(key)) === value
    }, 10000)
    return Date.now() - started
  } finally {
    server.disconnect()
  }
}
