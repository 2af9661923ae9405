// Registers the store with nvent. The module puts this plugin first in Nitro's list: nvent
// calls the hook from its own first plugin and only reaches listeners registered by then.
import { defineNitroPlugin, registerStoreAdapter } from '#imports'
import { useRedisStore } from '../utils/redis-store.mjs'

export default defineNitroPlugin((nitroApp) => {
  nitroApp.hooks.hook('nvent:register-adapters', () => {
    registerStoreAdapter('redis', useRedisStore())
  })
})
