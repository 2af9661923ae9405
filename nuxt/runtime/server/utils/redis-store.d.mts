import type { RedisStore } from '../../../../store'

/** The app's RedisStore (auto-imported in server code), built from runtime config on first use. */
export declare function useRedisStore(): RedisStore
/** Closes the app's store, if one was made; later calls on it reject with CLOSED. */
export declare function closeRedisStore(): Promise<void>
