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
 * `nventStoreRedis.prefix`, then `nvent.store.prefix`, then 'nvent'.
 * @returns {{ options: import('../../store').RedisStoreOptions, source: string }}
 */
export function resolveStoreOptions(runtimeConfig) {
  let source = 'default (localhost:6379)'
  let connection = {}
  for (const [name, pick] of CONNECTION_SOURCES) {
    const candidate = withoutUnset(pick(runtimeConfig))
    if (Object.keys(candidate).length > 0) {
      source = name
      connection = candidate
      break
    }
  }
  const own = runtimeConfig.nventStoreRedis ?? {}
  const prefix = [own.prefix, runtimeConfig.nvent?.store?.prefix].find((p) => !isUnset(p)) ?? 'nvent'
  const trim = own.streams?.trim
  return {
    source,
    options: {
      connection,
      prefix,
      streams: { trim: trim === false ? false : { maxLen: isUnset(trim?.maxLen) ? 10000 : trim.maxLen, approx: trim?.approx ?? true } },
      ...(isUnset(own.busyPollMicros) ? {} : { busyPollMicros: own.busyPollMicros }),
    },
  }
}
