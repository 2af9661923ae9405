// Turns Nitro's runtime config into RedisStore options, in the precedence nvent documents.
// Pure (no Nitro imports), so it is unit-tested directly.

const CONNECTION_SOURCES = [
  ['nventStoreRedis.connection', (c) => c.nventStoreRedis?.connection],
  ['nvent.store.connection', (c) => c.nvent?.store?.connection],
  // nvent 0.5.15 normalises its own store connection to this key
  ['nvent.store.redis', (c) => c.nvent?.store?.redis],
  ['nvent.connections.redis', (c) => c.nvent?.connections?.redis],
]

const isUnset = (value) => value === undefined || value === null || value === ''

// What RedisStore's `connection` accepts. A connection nvent shares with its queue adapter may
// also hold ioredis/BullMQ options (maxRetriesPerRequest …): those are left out, and said so.
const STORE_FIELDS = new Set(['url', 'host', 'port', 'path', 'username', 'password', 'db', 'tls', 'connectTimeout', 'commandTimeout', 'cluster', 'sentinels', 'name', 'sentinelUsername', 'sentinelPassword', 'sentinelTls'])
// Fields that choose a server the store cannot reach yet: dropping one would connect elsewhere.
const SERVER_FIELDS = new Set(['nodes', 'socket'])

/** The fields of a shared connection this store uses, and the names of those it leaves out. */
function storeFieldsOf(connection, source) {
  const kept = {}
  const leftOut = []
  for (const [key, value] of Object.entries(connection)) {
    if (STORE_FIELDS.has(key)) kept[key] = value
    else if (SERVER_FIELDS.has(key)) {
      throw new Error(
        `[adapter-store-redis] ${source}.${key} is not supported: this store connects to one Redis server (host/port, url or a Unix socket ` +
          'path), to the primary behind Sentinel (sentinels, name) or to a Cluster (cluster: [{ host, port }]). ' +
          'Give nventStoreRedis.connection one of those.',
      )
    } else leftOut.push(key)
  }
  // ioredis ignores host and port beside a socket path (a normalised connection may carry both)
  if ('path' in kept) {
    for (const key of ['host', 'port']) {
      if (key in kept) {
        delete kept[key]
        leftOut.push(key)
      }
    }
  }
  return { kept, leftOut }
}

/** Drops unset fields: runtime config keeps '' placeholders so that env variables can fill them. */
function withoutUnset(object) {
  const out = {}
  for (const [key, value] of Object.entries(object ?? {})) {
    if (isUnset(value)) continue
    out[key] = value !== null && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value) ? withoutUnset(value) : value
  }
  return out
}

/**
 * The first connection source with any field set wins as a whole (as in 0.5.15); the prefix is
 * `nventStoreRedis.prefix`, then `nvent.store.prefix`. Unset options are left out (the store has
 * the defaults).
 * Fields of a shared nvent connection that this store does not use are left out (`leftOut`);
 * one that picks a server it cannot reach (ioredis's `nodes`, node-redis's `socket`) throws.
 * @returns {{ options: import('../../store').RedisStoreOptions, source: string, leftOut: string[] }}
 */
export function resolveStoreOptions(runtimeConfig) {
  let source = 'default (localhost:6379)'
  let connection = {}
  let leftOut = []
  for (const [name, pick] of CONNECTION_SOURCES) {
    const candidate = withoutUnset(pick(runtimeConfig))
    if (Object.keys(candidate).length > 0) {
      source = name
      // this module's own key is checked by RedisStore itself, unknown fields included
      ;({ kept: connection, leftOut } = name === 'nventStoreRedis.connection' ? { kept: candidate, leftOut: [] } : storeFieldsOf(candidate, name))
      break
    }
  }
  const own = runtimeConfig.nventStoreRedis ?? {}
  const prefix = [own.prefix, runtimeConfig.nvent?.store?.prefix].find((p) => !isUnset(p))
  // unset fields are left out: the store applies its own defaults
  const trim = own.streams?.trim === false ? false : withoutUnset(own.streams?.trim)
  return {
    source,
    leftOut,
    options: {
      connection,
      ...(prefix === undefined ? {} : { prefix }),
      ...(trim === false || Object.keys(trim).length > 0 ? { streams: { trim } } : {}),
      ...(isUnset(own.ioThread) ? {} : { ioThread: own.ioThread }),
      ...(isUnset(own.busyPollMicros) ? {} : { busyPollMicros: own.busyPollMicros }),
    },
  }
}
