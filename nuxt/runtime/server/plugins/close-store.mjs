// Closes the store when Nitro shuts down or reloads (nvent 0.5.15 never calls close() itself).
import { defineNitroPlugin } from '#imports'
import { closeRedisStore } from '../utils/redis-store.mjs'

export default defineNitroPlugin((nitroApp) => {
  nitroApp.hooks.hook('close', () => closeRedisStore())
})
