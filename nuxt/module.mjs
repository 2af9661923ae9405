// The Nuxt module: `modules: ['@nvent-addon/adapter-store-redis']` registers the native
// RedisStore with nvent as its 'redis' store adapter (config key `nventStoreRedis`).
import { readFileSync } from 'node:fs'
import { addServerImports, addServerPlugin, createResolver, defineNuxtModule, hasNuxtModule, useLogger } from '@nuxt/kit'

export { RedisStore, StoreError } from '../store.mjs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

// The native entry must stay outside Nitro's bundle (Rollup cannot bundle a .node file); the
// runtime files next to this module must stay inside it (they import '#imports').
const ADDON_ENTRY = /^@nvent-addon\/adapter-store-redis\/store$|[\\/]@nvent-addon[\\/]adapter-store-redis[\\/](store\.[cm]js|native\.cjs|index\.js)$/
const isAddonEntry = (id) => typeof id === 'string' && ADDON_ENTRY.test(id)

// Runtime config keeps a '' placeholder for every field env may set at run time
// (NUXT_NVENT_STORE_REDIS_<FIELD>); an unset field is left out, so the store's default applies.
const CONNECTION_FIELDS = ['url', 'host', 'port', 'path', 'username', 'password', 'db', 'cluster', 'sentinels', 'name', 'sentinelUsername', 'sentinelPassword']

function withPlaceholders(own) {
  const trim = own.streams?.trim
  return {
    ...own,
    prefix: own.prefix ?? '',
    ioThread: own.ioThread ?? '',
    busyPollMicros: own.busyPollMicros ?? '',
    connection: { ...Object.fromEntries(CONNECTION_FIELDS.map((field) => [field, ''])), ...own.connection },
    streams: { ...own.streams, trim: trim === false ? false : { maxLen: '', approx: '', ...trim } },
  }
}

export default defineNuxtModule({
  meta: {
    name: '@nvent-addon/adapter-store-redis',
    version: pkg.version,
    configKey: 'nventStoreRedis',
    compatibility: { nuxt: '>=3.13.0' },
  },
  // none: every default is the store's own (src/store/config.rs)
  defaults: {},
  setup(options, nuxt) {
    const logger = useLogger('adapter-store-redis')
    const { resolve } = createResolver(import.meta.url)

    const existing = nuxt.options.runtimeConfig.nventStoreRedis ?? {}
    nuxt.options.runtimeConfig.nventStoreRedis = withPlaceholders({
      ...options,
      ...existing,
      connection: { ...options.connection, ...existing.connection },
    })

    addServerImports([
      { name: 'useRedisStore', from: resolve('./runtime/server/utils/redis-store') },
    ])
    addServerPlugin(resolve('./runtime/server/plugins/close-store'))

    nuxt.hook('nitro:config', (nitro) => {
      nitro.externals ||= {}
      nitro.externals.external = [...(nitro.externals.external || []), isAddonEntry]
    })

    nuxt.hook('modules:done', () => {
      if (!hasNuxtModule('nvent')) {
        logger.warn('nvent is not installed, so the Redis store is not registered as its adapter. The store is still available in server code through useRedisStore().')
        return
      }
      const register = resolve('./runtime/server/plugins/register-nvent')
      nuxt.hook('nitro:config', (nitro) => {
        nitro.plugins = [register, ...(nitro.plugins || []).filter((plugin) => plugin !== register)]
      })
    })
  },
})
