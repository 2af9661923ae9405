import type { NuxtModule } from '@nuxt/schema'
import type { RedisStoreOptions } from '../store'

export { RedisStore, StoreError } from '../store'
export type { RedisStoreOptions, RedisConnectionOptions, StoreErrorCode } from '../store'

/**
 * `nventStoreRedis` in nuxt.config: the options of the store itself (each documented, with its
 * default, in {@link RedisStoreOptions}). When `connection` is unset, nvent's
 * `nvent.store.connection`, then `nvent.store.redis`, then `nvent.connections.redis` is used; when
 * `prefix` is unset, `nvent.store.prefix`. Each field can be set at run time with
 * `NUXT_NVENT_STORE_REDIS_<FIELD>` (e.g. `NUXT_NVENT_STORE_REDIS_CONNECTION_PASSWORD`).
 */
export type ModuleOptions = Pick<RedisStoreOptions, 'connection' | 'prefix' | 'streams' | 'busyPollMicros'>

declare const module: NuxtModule<ModuleOptions>
export default module
