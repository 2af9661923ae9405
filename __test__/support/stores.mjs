// The two adapters under test, built the same way, plus a raw client for looking at Redis.
import { randomUUID } from 'node:crypto'
import IORedis from 'ioredis'
import { inject } from 'vitest'
import { RedisStore } from '../../store.mjs'

export const redisUrl = () => inject('redisUrl')

export function connectionOf(url = redisUrl()) {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port || 6379), ...(u.password ? { password: decodeURIComponent(u.password) } : {}) }
}

export function nativeStore(options = {}) {
  return new RedisStore({ connection: connectionOf(), logger: options.connection ? console : false, ...options })
}

export async function seedStore(options = {}) {
  const { RedisStoreAdapter } = await import('#seed-adapter')
  const quiet = { log: console.log, error: console.error }
  console.log = () => {}
  console.error = () => {}
  try {
    return new RedisStoreAdapter({ connection: connectionOf(), prefix: 'nvent', streams: { trim: { maxLen: 10000, approx: true } }, ...options })
  } finally {
    Object.assign(console, quiet)
  }
}

export function rawClient(url = redisUrl()) {
  return new IORedis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })
}

/** A key prefix no other test uses. */
export const uniquePrefix = () => `t:${randomUUID()}:`

/** Silences the seed adapter's console noise while `fn` runs. */
export async function quietly(fn) {
  const saved = { log: console.log, error: console.error }
  console.log = () => {}
  console.error = () => {}
  try {
    return await fn()
  } finally {
    Object.assign(console, saved)
  }
}
