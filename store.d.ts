/** Any value `JSON.stringify` can hold without loss. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** Stable codes of {@link StoreError}. */
export type StoreErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'CLOSED'
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'UNCERTAIN'
  | 'REDIS'

/** Every rejection of a {@link RedisStore} call. The message names the operation and the key. */
export declare class StoreError extends Error {
  readonly name: 'StoreError'
  readonly code: StoreErrorCode
}

export interface RedisTlsOptions {
  /** PEM of the CA(s) to trust instead of the system store. */
  ca?: string | Buffer
  /** PEM of the client certificate, for mutual TLS (with `key`). */
  cert?: string | Buffer
  /** PEM of the client key, for mutual TLS (with `cert`). */
  key?: string | Buffer
  /** The name the server certificate must carry, when it differs from `host`. */
  servername?: string
}

export interface RedisConnectionOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS), or
   * `redis+unix:///path/to/redis.sock[?db=N&user=U&pass=P]`. Exclusive with host/port and path.
   */
  url?: string
  /** @default 'localhost' */
  host?: string
  /** @default 6379 */
  port?: number
  /** A Unix socket of a server on the same host, instead of host and port (not on Windows). */
  path?: string
  username?: string
  password?: string
  /** @default 0 */
  db?: number
  /** `true` for TLS with the system CAs, or the TLS settings. @default false */
  tls?: boolean | RedisTlsOptions
  /** Milliseconds to wait for a connection. @default 2000 */
  connectTimeout?: number
  /** Milliseconds to wait for a reply. @default 3000 */
  commandTimeout?: number
  /**
   * Cluster mode, instead of url/host/port: some of the cluster's nodes (any that answers will
   * do; replicas too), as `{ host, port }` or `'host:port,host:port'`. `username`, `password` and
   * `tls` apply to every node; `db` must be 0.
   */
  cluster?: Array<{ host: string; port: number }> | string
  /**
   * Sentinel mode, instead of url/host/port: the sentinels that watch the primary (any that
   * answer will do), as `{ host, port }` or `'host:port,host:port'`. `username`, `password` and
   * `db` are the data nodes'.
   */
  sentinels?: Array<{ host: string; port: number }> | string
  /** The primary's name on the sentinels (`sentinel monitor <name> …`); required with `sentinels`. */
  name?: string
  /** The sentinels' own ACL user, when they require one. */
  sentinelUsername?: string
  sentinelPassword?: string
  /** TLS to the sentinels (`tls` is the data nodes'; its `servername` defaults to the host a sentinel names). @default false */
  sentinelTls?: boolean | RedisTlsOptions
}

export interface RedisStoreOptions {
  connection?: RedisConnectionOptions
  /** The key prefix nvent uses; the store adds no prefix of its own. @default 'nvent' */
  prefix?: string
  streams?: {
    /** Trim each stream on append; `false` keeps streams whole. @default { maxLen: 10000, approx: true } */
    trim?: { maxLen?: number; approx?: boolean } | false
  }
  /**
   * Runs this store's I/O on a thread of its own instead of on Node's event loop: the JS thread
   * does less per call (event-loop time), the process more (CPU time, a thread wake-up each way)
   * and calls answer later (README, Performance). Always so where the event loop cannot drive
   * the store (outside Linux).
   * @default false
   */
  ioThread?: boolean
  /**
   * With `ioThread`: while calls follow one another within this many µs, the I/O thread keeps polling this long
   * after each before it sleeps, so that the next call starts without waiting for it to wake
   * (README, Performance); calls further apart never pay for it. `0` never polls: less CPU
   * time, slower back-to-back calls. Process-wide while any store uses it.
   * @default 100
   */
  busyPollMicros?: number
  /** Where the one line per outage goes; `false` for silence. @default console */
  logger?: { warn(message: string): void; info(message: string): void } | false
}

export interface EventInput {
  type: string
  runId?: string
  flowName?: string
  stepName?: string
  stepId?: string
  attempt?: number
  data?: unknown
  [field: string]: unknown
}

export interface EventRecord extends EventInput {
  /** The stream entry id, `"<ms>-<seq>"`. */
  id: string
  /** Milliseconds since the epoch, set by `append`. */
  ts: number
}

export interface StreamReadOptions {
  /** Only events of these types (the limit counts matching events). */
  types?: string[]
  /** Exclusive stream ids. */
  after?: string
  before?: string
  /** Inclusive milliseconds. */
  from?: number
  to?: number
  /** @default 1000 */
  limit?: number
  /** @default 'asc' */
  order?: 'asc' | 'desc'
}

export interface IndexEntry {
  id: string
  score: number
  /** Absent for an entry added without metadata and never updated. */
  metadata?: { version: number; [field: string]: unknown }
}

export interface IndexReadOptions {
  /** @default 0 */
  offset?: number
  /** @default 50 */
  limit?: number
  /** Field (or dotted path) → wanted value, or an array of allowed values, or a nested filter. */
  filter?: Record<string, unknown>
}

export interface StreamStore {
  append(subject: string, event: EventInput): Promise<EventRecord>
  read(subject: string, options?: StreamReadOptions): Promise<EventRecord[]>
  delete(subject: string): Promise<boolean>
}

export interface IndexStore {
  /** Adds the entry, or replaces the score and metadata of an existing one. */
  add(key: string, id: string, score: number, metadata?: Record<string, unknown>): Promise<void>
  get(key: string, id: string): Promise<IndexEntry | null>
  /** Highest score first. */
  read(key: string, options?: IndexReadOptions): Promise<IndexEntry[]>
  /** Deep-merges `partial` (a `null` deletes); false when the entry does not exist. */
  update(key: string, id: string, partial: Record<string, unknown>): Promise<boolean>
  /** `update`, retried with backoff while the entry is missing; rejects NOT_FOUND after the last try. */
  updateWithRetry(key: string, id: string, partial: Record<string, unknown>, maxRetries?: number): Promise<void>
  /** Adds `by` to the number at the dotted path `field`; rejects NOT_FOUND for a missing entry. */
  increment(key: string, id: string, field: string, by?: number): Promise<number>
  delete(key: string, id: string): Promise<boolean>
}

export interface KvStore {
  get<T = JsonValue>(key: string): Promise<T | null>
  /** `ttlSeconds` must be positive; fractions are honoured (to the millisecond). */
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>
  delete(key: string): Promise<boolean>
  /** Deletes every key matching the Redis glob `pattern`; returns how many. */
  clear(pattern: string): Promise<number>
  increment(key: string, by?: number): Promise<number>
}

/** nvent's store adapter on Redis, implemented natively (Rust, napi-rs). */
export declare class RedisStore {
  /** Checks the options (throws INVALID_ARGUMENT); does no I/O. */
  constructor(options?: RedisStoreOptions)
  readonly prefix: string
  /** `host:port` of the Redis server, the nodes given of a cluster, or with Sentinel the primary's name and the sentinels (never the credentials). */
  readonly address: string
  readonly stream: StreamStore
  readonly index: IndexStore
  readonly kv: KvStore
  readonly closed: boolean
  /** Final: later calls reject with CLOSED. */
  close(): Promise<void>
}
