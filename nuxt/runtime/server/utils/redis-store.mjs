// The one RedisStore of this Nitro app, built from runtime config on first use.
import { consola } from 'consola'
import { RedisStore } from '@nvent-addon/adapter-store-redis/store'
import { useRuntimeConfig } from '#imports'
import { resolveStoreOptions } from '../../options.mjs'

const logger = consola.withTag('adapter-store-redis')
let store

/** The app's RedisStore (auto-imported in server code). */
export function useRedisStore() {
  if (!store) {
    const { options, source, leftOut } = resolveStoreOptions(useRuntimeConfig())
    store = new RedisStore({ ...options, logger })
    if (leftOut.length > 0) {
      logger.info(`Options of ${source} this store does not use were left out: ${leftOut.join(', ')}`)
    }
    logger.info(`Redis store at ${store.address}, prefix '${store.prefix}' (connection from ${source})`)
  }
  return store
}

/** Closes the app's store, if one was made; later calls on it reject with CLOSED. */
export async function closeRedisStore() {
  if (!store || store.closed) return
  await store.close()
  logger.info(`Redis store at ${store.address} closed`)
}
