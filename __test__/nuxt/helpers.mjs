// Shared by the Nuxt tests: fixture paths and a look at which Redis database got a key.
import { fileURLToPath } from 'node:url'
import { setup } from '@nuxt/test-utils/e2e'
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

/** Builds and serves the nuxt-app fixture with `nuxtConfig` merged in (call inside `describe`). */
export function serveFixture(nuxtConfig, env = {}) {
  return setup({ rootDir: fixture('nuxt-app'), server: true, build: true, setupTimeout: 240000, nuxtConfig, env })
}
