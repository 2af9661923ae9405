// Shared by the Nuxt tests: fixture paths and a look at which Redis database got a key.
import { fileURLToPath } from 'node:url'
import IORedis from 'ioredis'
import { redisUrl } from '../support/stores.mjs'

export const fixture = (name) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

/** The databases (0–3) of the test server that hold `key`. */
export async function databasesHolding(key) {
  const found = []
  for (const db of [0, 1, 2, 3]) {
    const redis = new IORedis(redisUrl(), { db })
    if (await redis.exists(key)) found.push(db)
    redis.disconnect()
  }
  return found
}
