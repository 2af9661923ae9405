import type { NuxtModule } from '@nuxt/schema'
import type { RedisConnectionOptions } from '../store'

export { RedisStore, StoreError } from '../store'
export type { RedisStoreOptions, RedisConnectionOptions, StoreErrorCode } from '../store'

export interface ModuleOptions {
  /**
   * Where Redis is. When unset, nvent's `nvent.store.connection`, then `nvent.store.redis`, then
   * `nvent.connections.redis` is used; the first source with any field set wins as a whole.
   * Each field can be set at run time with `NUXT_NVENT_STORE_REDIS_CONNECTION_<FIELD>`
   * (e.g. `NUXT_NVENT_STORE_REDIS_CONNECTION_PASSWORD`), so a password need not be in nuxt.config.
   * @default { host: 'localhost', port: 6379, db: 0 }
   */
  connection?: RedisConnectionOptions
  /**
   * nvent's key prefix. When unset, `nvent.store.prefix`, then 'nvent'.
   * Run time: `NUXT_NVENT_STORE_REDIS_PREFIX`.
   * @default 'nvent'
   */
  prefix?: string
  streams?: {
    /**
     * Trim each stream on append to about `maxLen` entries (`approx`: `MAXLEN ~`); `false` keeps streams whole.
     * @default { maxLen: 10000, approx: true }
     */
    trim?: { maxLen?: number; approx?: boolean } | false
  }
  /**
   * Microseconds the I/O thread keeps polling after a call before it sleeps, while calls
   * follow one another that closely (`0`: never).
   * Run time: `NUXT_NVENT_STORE_REDIS_BUSY_POLL_MICROS`.
   * @default 100
   */
  busyPollMicros?: number
}

declare const module: NuxtModule<ModuleOptions>
export default module
