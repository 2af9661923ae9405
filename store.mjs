// ESM entry of `@nvent-addon/adapter-store-redis/store`: the same classes as store.cjs.
import store from './store.cjs'

export const { RedisStore, StoreError } = store
