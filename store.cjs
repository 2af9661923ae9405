'use strict'
// The public RedisStore: argument checks, JSON in and out, and errors with a stable `code`,
// around the native class (native.cjs loads it). Everything that talks to Redis lives in Rust
// (src/store); this file holds no Redis logic.

const { inspect, types } = require('node:util')
const { NativeStore } = require('./native.cjs').loadNative()

const LOG_PREFIX = '[adapter-store-redis]'
// Calls cross to Rust in batches of this many at most, each one pipeline: Redis works on one
// batch while the replies of the one before travel back and let their callers go on, so the
// calls overlap as if each were sent alone, for a sixteenth of the crossings. (64 in flight on
// two cores: ~2x the throughput of one batch per tick; batches of 8 or 32 did less well.)
const SLICE = 16

/** A failed store operation. `code` is one of the codes listed in the README. */
class StoreError extends Error {
  constructor(code, message) {
    super(message)
    this.name = 'StoreError'
    this.code = code
  }
}

const invalid = (message) => new StoreError('INVALID_ARGUMENT', message)

// An error thrown by the native class carries the store's code already; anything else (napi's own
// argument conversion, an engine limit) is an internal fault.
function storeError(err) {
  if (err instanceof StoreError) return err
  return new StoreError(/^[A-Z_]+$/.test(err?.code) ? err.code : 'REDIS', String(err?.message))
}

// ---------------------------------------------------------------- argument checks

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !types.isMap(v) && !types.isSet(v)

function str(value, name, op) {
  if (typeof value !== 'string') throw invalid(`${op}: ${name} must be a string`)
  return value
}

function id(value, op) {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  return str(value, 'id', op)
}

function num(value, name, op) {
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalid(`${op}: ${name} must be a number`)
  return value
}

function finite(value, name, op) {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${op}: ${name} must be a finite number`)
  return value
}

// JSON text of a string argument of a batched call
const q = JSON.stringify

function optional(value, check, name, op) {
  return value === undefined || value === null ? undefined : check(value, name, op)
}

function object(value, name, op) {
  if (!isPlainObject(value)) throw invalid(`${op}: ${name} must be a plain object`)
  return value
}

// JSON.stringify, except that what it would silently drop or corrupt is refused.
function rejectUnrepresentable(key, value) {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw invalid(`${value} is not representable in JSON`)
      return value
    case 'bigint':
      throw invalid('a BigInt is not representable in JSON; convert it to a number or string')
    case 'function':
    case 'symbol':
      throw invalid(`a ${typeof value} is not representable in JSON`)
    case 'object':
      if (value === null) return value
      if (types.isMap(value) || types.isSet(value) || types.isWeakMap(value) || types.isWeakSet(value)) {
        throw invalid('a Map or Set is not representable in JSON; convert it to an object or array')
      }
      if (types.isTypedArray(value) || types.isAnyArrayBuffer(value)) {
        throw invalid('binary data is not representable in JSON; encode it as a string')
      }
      return value
    default:
      return value
  }
}

// Nesting the fast check follows at most; deeper values (or cyclic ones) take the replacer path.
const PLAIN_DEPTH = 64

// Whether `value` is plain data, which JSON.stringify writes as it is and JSON.parse gives back
// equal: strings, booleans, finite numbers but -0, null, and arrays and prototype-less or plain
// objects of those (undefined members are dropped as JSON drops them; an undefined array element
// would come back as null). Anything else, even what JSON would write correctly (a Date), is left
// to the replacer, which also words the errors.
function isPlainData(value, depth) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0)
    case 'object': {
      if (value === null) return true
      if (depth === PLAIN_DEPTH) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item = value[i]
          if (item === undefined || !isPlainData(item, depth + 1)) return false
        }
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if ((proto !== Object.prototype && proto !== null) || typeof value.toJSON === 'function') return false
      for (const key in value) if (!isPlainData(value[key], depth + 1)) return false
      return true
    }
    default:
      return false
  }
}

// Sets an own field of `target`. An own __proto__ (JSON.parse makes one) is a field like any
// other, not the prototype.
function setField(target, key, value) {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

// The fields of an event as stored: its own, but the id and ts the store gives it. Copied one by
// one: JSON.stringify writes an object made by spreading (`{ ...fields, ts }`) at half the speed
// of one built by assignment (1.9 against 0.9 µs for a typical event).
function stored(event) {
  const fields = {}
  for (const key in event) {
    if (key === 'id' || key === 'ts' || !Object.hasOwn(event, key)) continue
    setField(fields, key, event[key])
  }
  fields.ts = Date.now()
  return fields
}

// The entry an append resolves with, as a read returns it: the id first, then the stored fields.
// Plain data reads back equal, so its fields are copied (their values shared with the event, as
// 0.5.15 shared them) rather than parsed again from their JSON, which cost ~5% of an append's CPU
// at 5000 calls/s; other fields (a Date, say) are read back from their JSON.
function appended(entryId, fields, json, plain) {
  if (!plain) return JSON.parse(`{"id":${q(entryId)},${json.slice(1)}`)
  const entry = { id: entryId }
  for (const key in fields) if (fields[key] !== undefined) setField(entry, key, fields[key])
  return entry
}

// JSON of `value`; `plain`: whether it is plain data (see isPlainData).
function toJson(value, name, op, plain = isPlainData(value, 0)) {
  if (value === undefined) throw invalid(`${op}: ${name} is undefined`)
  let json
  try {
    // A replacer turns off JSON.stringify's fast path: with it a kv.set value took 1.0 µs and an
    // event 2.2 µs, checked first and written without it 0.34 and 1.2 µs.
    json = plain ? JSON.stringify(value) : JSON.stringify(value, rejectUnrepresentable)
  } catch (err) {
    if (err instanceof StoreError) throw invalid(`${op}: ${name}: ${err.message}`)
    throw invalid(`${op}: ${name} is not representable in JSON (${err.message.split('\n')[0]})`)
  }
  if (json === undefined) throw invalid(`${op}: ${name} is not representable in JSON`)
  return json
}

// What reading a call's arguments threw, before anything was sent: a check of ours, or the
// caller's own value (a getter, a toJSON) — its fault, not Redis's.
function argumentError(err) {
  return err instanceof StoreError ? err : invalid(`the arguments could not be read: ${err && err.message}`)
}

// ---------------------------------------------------------------- options

function stringOrBuffer(value, name) {
  if (typeof value === 'string') return value
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  throw invalid(`${name} must be a string or a Buffer`)
}

function whole(value, name, min, max) {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw invalid(`${name} must be a whole number from ${min} to ${max}`)
  }
  return n
}

function maybe(value, convert, ...rest) {
  return value === undefined || value === null || value === '' ? undefined : convert(value, ...rest)
}

// The fields each options object may hold; anything else is refused, so that a setting this
// store does not support (a sentinel list, say) is never silently ignored.
const KNOWN_FIELDS = {
  '': ['connection', 'prefix', 'streams', 'ioThread', 'busyPollMicros', 'logger'],
  connection: ['url', 'host', 'port', 'path', 'username', 'password', 'db', 'tls', 'connectTimeout', 'commandTimeout', 'cluster', 'sentinels', 'name', 'sentinelUsername', 'sentinelPassword', 'sentinelTls'],
  'connection.tls': ['ca', 'cert', 'key', 'servername'],
  'connection.sentinelTls': ['ca', 'cert', 'key', 'servername'],
  streams: ['trim'],
  'streams.trim': ['maxLen', 'approx'],
}

function onlyKnownFields(object, path) {
  for (const [key, value] of Object.entries(object)) {
    if (value !== undefined && !KNOWN_FIELDS[path].includes(key)) {
      throw invalid(`unknown option ${path ? `${path}.` : ''}${key} (this store supports: ${KNOWN_FIELDS[path].join(', ')})`)
    }
  }
}

// Sentinels or cluster nodes as `[{ host, port }, …]`, or `'host:port,host:port'` (as an env
// variable gives them); `field` names the option.
function nodeList(value, field) {
  const nodes = typeof value === 'string' ? value.split(',').map((node) => node.trim()).filter(Boolean) : value
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw invalid(`connection.${field} must be a non-empty list of { host, port } (or 'host:port,host:port')`)
  }
  return nodes.map((node, i) => {
    const name = `connection.${field}[${i}]`
    if (typeof node === 'string') {
      const at = node.lastIndexOf(':')
      if (at <= 0) throw invalid(`${name} must be host:port`)
      node = { host: node.slice(0, at), port: node.slice(at + 1) }
    }
    if (!isPlainObject(node) || typeof node.host !== 'string' || node.host === '') throw invalid(`${name} must be { host, port }`)
    return `${node.host}:${whole(node.port, `${name}.port`, 1, 65535)}`
  })
}

// `connection.tls` or `connection.sentinelTls` as the native fields `tls`, `tlsCa` … (`field` …).
function tlsOptions(tls, field) {
  const name = `connection.${field}`
  if (tls === undefined || tls === null || tls === false) return {}
  if (tls === true) return { [field]: true }
  if (!isPlainObject(tls)) throw invalid(`${name} must be true, false or an object { ca, cert, key, servername }`)
  onlyKnownFields(tls, name)
  return {
    [field]: true,
    [`${field}Ca`]: maybe(tls.ca, stringOrBuffer, `${name}.ca`),
    [`${field}Cert`]: maybe(tls.cert, stringOrBuffer, `${name}.cert`),
    [`${field}Key`]: maybe(tls.key, stringOrBuffer, `${name}.key`),
    [`${field}Servername`]: maybe(tls.servername, stringOrBuffer, `${name}.servername`),
  }
}

function nativeOptions(options) {
  if (!isPlainObject(options)) throw invalid('RedisStore options must be an object')
  onlyKnownFields(options, '')
  const c = options.connection ?? {}
  if (!isPlainObject(c)) throw invalid('connection must be an object')
  onlyKnownFields(c, 'connection')
  if (typeof c.url === 'string' && /#insecure\b/i.test(c.url)) {
    throw invalid('connection.url: #insecure (TLS without certificate checks) is not supported; give connection.tls.ca instead')
  }
  const given = (field) => c[field] !== undefined && c[field] !== null && c[field] !== ''
  const cluster = given('cluster') ? nodeList(c.cluster, 'cluster') : undefined
  if (cluster) {
    for (const field of ['url', 'host', 'port', 'path', 'sentinels']) {
      if (given(field)) throw invalid(`connection.${field}: give either connection.cluster or connection.${field}, not both`)
    }
    if (given('db') && Number(c.db) !== 0) throw invalid('connection.db: a cluster has only db 0')
  }
  const sentinels = maybe(c.sentinels, nodeList, 'sentinels')
  if (sentinels) {
    for (const field of ['url', 'host', 'port', 'path']) {
      if (given(field)) throw invalid(`connection.${field}: give either connection.sentinels or connection.url/host/port/path, not both`)
    }
    if (typeof c.name !== 'string' || c.name === '') throw invalid("connection.name (the primary's name on the sentinels) is required with connection.sentinels")
  } else {
    for (const field of ['name', 'sentinelUsername', 'sentinelPassword', 'sentinelTls']) {
      if (c[field] !== undefined && c[field] !== null && c[field] !== '') throw invalid(`connection.${field} goes with connection.sentinels`)
    }
  }
  const out = {
    cluster,
    sentinels,
    sentinelName: sentinels && c.name,
    sentinelUsername: maybe(c.sentinelUsername, stringOrBuffer, 'connection.sentinelUsername'),
    sentinelPassword: maybe(c.sentinelPassword, stringOrBuffer, 'connection.sentinelPassword'),
    url: maybe(c.url, stringOrBuffer, 'connection.url'),
    host: maybe(c.host, stringOrBuffer, 'connection.host'),
    port: maybe(c.port, whole, 'connection.port', 1, 65535),
    path: maybe(c.path, stringOrBuffer, 'connection.path'),
    username: maybe(c.username, stringOrBuffer, 'connection.username'),
    password: maybe(c.password, stringOrBuffer, 'connection.password'),
    db: maybe(c.db, whole, 'connection.db', 0, 2 ** 31 - 1),
    connectTimeoutMs: maybe(c.connectTimeout, whole, 'connection.connectTimeout', 1, 2 ** 31 - 1),
    commandTimeoutMs: maybe(c.commandTimeout, whole, 'connection.commandTimeout', 1, 2 ** 31 - 1),
  }
  Object.assign(out, tlsOptions(c.tls, 'tls'), tlsOptions(c.sentinelTls, 'sentinelTls'))
  if (options.streams !== undefined && options.streams !== null) {
    if (!isPlainObject(options.streams)) throw invalid('streams must be an object { trim }')
    onlyKnownFields(options.streams, 'streams')
  }
  // unset options are left out: their defaults are the native side's (src/store/config.rs)
  const trim = options.streams?.trim
  if (trim === false || trim === null) {
    out.trimMaxLen = 0
  } else if (trim !== undefined) {
    if (!isPlainObject(trim)) throw invalid('streams.trim must be an object { maxLen, approx } or false')
    onlyKnownFields(trim, 'streams.trim')
    out.trimMaxLen = maybe(trim.maxLen, whole, 'streams.trim.maxLen', 0, Number.MAX_SAFE_INTEGER)
    if (trim.approx !== undefined && typeof trim.approx !== 'boolean') throw invalid('streams.trim.approx must be a boolean')
    out.trimApprox = trim.approx
  }
  if (options.ioThread !== undefined && options.ioThread !== null) {
    if (typeof options.ioThread !== 'boolean') throw invalid('ioThread must be a boolean')
    out.ioThread = options.ioThread
  }
  out.busyPollMicros = maybe(options.busyPollMicros, whole, 'busyPollMicros', 0, 1_000_000)
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key]
  return out
}

function pickLogger(logger) {
  if (logger === false) return { warn() {}, info() {} }
  if (logger === undefined || logger === null) return console
  if (typeof logger.warn !== 'function' || typeof logger.info !== 'function') {
    throw invalid('logger must have warn() and info() methods, or be false')
  }
  return logger
}

// ---------------------------------------------------------------- the store

// A timer that never fires, referenced only while its store has calls in flight: the native
// side reports outcomes through a callback that does not hold the event loop open by itself.
// Meanwhile its `store` holds the store (Node's timer list holds the timer), so that a store the
// program let go of stays reachable until its calls settle: the native side reaches it only
// through a WeakRef. (A Set of busy stores did the same, but an add and a delete per call leave
// the garbage a Map's do, see #inFlight.)
function idleTimer() {
  const timer = setInterval(() => {}, 2 ** 31 - 1)
  timer.unref()
  timer.store = null
  return timer
}

// Schedules the microtask that sends a task's calls where the event loop cannot send them (see
// #scheduleFlush): queueMicrotask costs three times as much (Node makes an AsyncResource and a
// bound function for each).
const RESOLVED = Promise.resolve()

// How a call travels: in this loop iteration's batch of reads or of writes, or now, in a batch
// of its own (a read that pages, kv.clear, a retrying update), so that no batch waits for it.
const READ = 0
const WRITE = 1
const ALONE = true
const IN_BATCH = false

class RedisStore {
  #native
  /** The native functions called for every batch: see NativeStore.batchFunctions. */
  #batch
  #deferFlush
  #closed = false
  #logger
  /**
   * Batches in flight, [calls, onWrites] at their id, which the native side settles them by; ids
   * of settled batches are used again. Not a Map: one that sees a set and a delete per call
   * rehashes into new tables, each linked from the one before, and once one of them is in the
   * old generation every later table and what it holds survives each scavenge (at 20000 paced
   * calls/s, 3 MB promoted per scavenge and 4–9 ms per scavenge instead of 0.4).
   */
  #inFlight = []
  #freeIds = []
  #batchesInFlight = 0
  /** Holds the event loop open while calls wait or are in flight (the native callback does not). */
  #keepAlive
  #inOutage = false
  /**
   * Calls not yet sent, reads and writes apart: [JSON of the call, resolve, reject, key of a
   * write, shape of the result]. Reads travel on their own connection, except those of a key
   * with a write in flight, which join the writes (see #mustFollowWrites).
   */
  #reads = []
  #writes = []
  /** #flushAll will run: before the event loop next waits, or at the end of this task. */
  #flushScheduled = false
  /**
   * Keys with writes in flight, and how many: a dictionary (an object without prototype), not a
   * Map, for the reason given at #inFlight.
   */
  #pendingWrites = Object.create(null)
  /** kv.clear calls in flight. */
  #clearing = 0
  /** Sends the calls waiting (see #scheduleFlush). */
  #flushAll = () => {
    this.#flushScheduled = false
    this.#flush(false)
    this.#flush(true)
    this.#releaseIfIdle()
  }
  #stream
  #index
  #kv

  /**
   * Checks the options and prepares the client. No I/O: the first call connects.
   * @param {import('./store').RedisStoreOptions} [options]
   */
  constructor(options = {}) {
    const settings = nativeOptions(options ?? {})
    this.#logger = pickLogger(options?.logger)
    const self = new WeakRef(this)
    try {
      this.#native = new NativeStore(settings, (id, code, payload) => self.deref()?.#settled(id, code, payload))
      const [batch, deferFlush] = this.#native.batchFunctions()
      this.#batch = batch
      this.#deferFlush = deferFlush
    } catch (err) {
      throw storeError(err)
    }
    this.#keepAlive = idleTimer()
    /** The key prefix nvent uses; the store itself adds no prefix to keys. */
    this.prefix = typeof options?.prefix === 'string' && options.prefix !== '' ? options.prefix : 'nvent'
    Object.defineProperty(this, 'prefix', { writable: false })

    // Each operation checks its arguments and builds its call as JSON: `[name, arg, …]`, the
    // arguments of its definition in src/store (see README, "Adding an operation").
    // `shape` makes the call's result what the caller gets.
    const call = (kind, key, build, alone, shape) => this.#call(kind, key, build, alone, shape)

    this.#stream = Object.freeze({
      append: (subject, event) => {
        let fields, json, plain
        return call(WRITE, subject, () => {
          const op = 'stream.append'
          str(subject, 'subject', op)
          object(event, 'event', op)
          fields = stored(event)
          plain = isPlainData(fields, 0)
          json = toJson(fields, 'event', op, plain)
          return `["stream.append",${q(subject)},${json}]`
        }, IN_BATCH, (entryId) => appended(entryId, fields, json, plain))
      },
      read: (subject, opts) =>
        call(READ, subject, () => {
          const op = 'stream.read'
          str(subject, 'subject', op)
          const o = optional(opts, object, 'options', op) ?? {}
          if (o.types !== undefined && (!Array.isArray(o.types) || !o.types.every((t) => typeof t === 'string'))) {
            throw invalid(`${op}: types must be an array of strings`)
          }
          if (o.order !== undefined && o.order !== 'asc' && o.order !== 'desc') throw invalid(`${op}: order must be 'asc' or 'desc'`)
          const options = {
            types: o.types,
            after: optional(o.after, str, 'after', op),
            before: optional(o.before, str, 'before', op),
            from: optional(o.from, num, 'from', op),
            to: optional(o.to, num, 'to', op),
            limit: optional(o.limit, num, 'limit', op),
            desc: o.order === 'desc',
          }
          return `["stream.read",${q(subject)},${toJson(options, 'options', op)}]`
        }, ALONE),
      delete: (subject) => call(WRITE, subject, () => `["stream.delete",${q(str(subject, 'subject', 'stream.delete'))}]`),
    })

    this.#index = Object.freeze({
      add: (key, entryId, score, metadata) =>
        call(WRITE, key, () => {
          const op = 'index.add'
          const meta = optional(metadata, object, 'metadata', op)
          const args = `${q(str(key, 'key', op))},${q(id(entryId, op))},${finite(score, 'score', op)}`
          return `["index.add",${args},${meta ? toJson(meta, 'metadata', op) : null}]`
        }),
      get: (key, entryId) => call(READ, key, () => `["index.get",${q(str(key, 'key', 'index.get'))},${q(id(entryId, 'index.get'))}]`),
      read: (key, opts) =>
        call(READ, key, () => {
          const op = 'index.read'
          str(key, 'key', op)
          const o = optional(opts, object, 'options', op) ?? {}
          const options = {
            offset: optional(o.offset, num, 'offset', op),
            limit: optional(o.limit, num, 'limit', op),
            filter: optional(o.filter, object, 'filter', op),
          }
          return `["index.read",${q(key)},${toJson(options, 'options', op)}]`
        }, ALONE),
      update: (key, entryId, partial) =>
        call(WRITE, key, () => {
          const op = 'index.update'
          const args = `${q(str(key, 'key', op))},${q(id(entryId, op))}`
          return `["index.update",${args},${toJson(object(partial, 'partial', op), 'partial', op)}]`
        }),
      updateWithRetry: (key, entryId, partial, maxRetries = 3) =>
        call(WRITE, key, () => {
          const op = 'index.updateWithRetry'
          if (!Number.isInteger(maxRetries) || maxRetries < 1 || maxRetries > 1000) {
            throw invalid(`${op}: maxRetries must be a whole number from 1 to 1000`)
          }
          const json = toJson(object(partial, 'partial', op), 'partial', op)
          return `["index.updateWithRetry",${q(str(key, 'key', op))},${q(id(entryId, op))},${json},${maxRetries}]`
        }, ALONE, () => undefined),
      increment: (key, entryId, field, by = 1) =>
        call(WRITE, key, () => {
          const op = 'index.increment'
          const args = `${q(str(key, 'key', op))},${q(id(entryId, op))},${q(str(field, 'field', op))},${finite(by, 'by', op)}`
          return `["index.increment",${args}]`
        }),
      delete: (key, entryId) => call(WRITE, key, () => `["index.delete",${q(str(key, 'key', 'index.delete'))},${q(id(entryId, 'index.delete'))}]`),
    })

    this.#kv = Object.freeze({
      get: (key) => call(READ, key, () => `["kv.get",${q(str(key, 'key', 'kv.get'))}]`),
      set: (key, value, ttlSeconds) =>
        call(WRITE, key, () => {
          const op = 'kv.set'
          const ttl = optional(ttlSeconds, finite, 'ttl', op)
          return `["kv.set",${q(str(key, 'key', op))},${toJson(value, 'value', op)},${ttl ?? null}]`
        }),
      delete: (key) => call(WRITE, key, () => `["kv.delete",${q(str(key, 'key', 'kv.delete'))}]`),
      // it may delete any key (null): until it is done, every read waits behind it
      clear: (pattern) => call(WRITE, null, () => `["kv.clear",${q(str(pattern, 'pattern', 'kv.clear'))}]`, ALONE),
      increment: (key, by = 1) => call(WRITE, key, () => `["kv.increment",${q(str(key, 'key', 'kv.increment'))},${finite(by, 'by', 'kv.increment')}]`),
    })
  }

  /** The event-stream tier: `append`, `read`, `delete`. */
  get stream() {
    return this.#stream
  }

  /** The sorted-index tier: `add`, `get`, `read`, `update`, `updateWithRetry`, `increment`, `delete`. */
  get index() {
    return this.#index
  }

  /** The key-value tier: `get`, `set`, `delete`, `clear`, `increment`. */
  get kv() {
    return this.#kv
  }

  /** Closes the connection. Final: later calls reject with code CLOSED. A second close is harmless. */
  async close() {
    this.#closed = true
    this.#native.close()
    if (this.#batchesInFlight === 0 && !this.#flushScheduled) this.#dropKeepAlive()
  }

  /** `host:port` of the Redis server, or with Sentinel the primary's name and the sentinels (never the credentials). */
  get address() {
    return this.#native.address
  }

  /** Whether `close()` was called. */
  get closed() {
    return this.#closed
  }

  // A call must see every write this store was asked to make before it. Redis answers one
  // connection's commands in order, so a read of a key with a write in flight goes on the writes'
  // connection, behind it; other reads keep their own connection, which keeps answering while
  // Redis pauses writes (failover).
  #mustFollowWrites(key) {
    return this.#clearing > 0 || this.#pendingWrites[key] !== undefined
  }

  // Writes count per key (null: kv.clear, which may touch any key) until they settle.
  #writing(key) {
    if (key === null) this.#clearing++
    else this.#pendingWrites[key] = (this.#pendingWrites[key] ?? 0) + 1
  }

  #written(key) {
    if (key === null) return void this.#clearing--
    const left = this.#pendingWrites[key] - 1
    if (left > 0) this.#pendingWrites[key] = left
    else delete this.#pendingWrites[key]
  }

  // Makes one call: `build` checks the arguments and returns the call's JSON. Reads and writes go
  // in separate batches, as they use separate connections: a batch settles when its last call is
  // done, and a read must not wait for a write that Redis holds back.
  #call(kind, key, build, alone = IN_BATCH, shape = undefined) {
    let json
    try {
      json = build()
    } catch (err) {
      return Promise.reject(argumentError(err))
    }
    const onWrites = kind === WRITE || this.#mustFollowWrites(key)
    if (kind === WRITE) this.#writing(key)
    return new Promise((resolve, reject) => {
      const call = [json, resolve, reject, kind === WRITE ? key : undefined, shape]
      if (alone) {
        // behind the writes still waiting to be sent
        if (onWrites && this.#writes.length > 0) this.#flush(false)
        return this.#send([call], onWrites)
      }
      const queue = onWrites ? this.#writes : this.#reads
      // a burst: a full batch is handed over at once (the runtime starts it once 64 calls wait),
      // so that Redis works on the first calls while JS makes the rest
      if (queue.push(call) === SLICE) this.#flush(!onWrites)
      if (!this.#flushScheduled) this.#scheduleFlush()
    })
  }

  // The calls of a loop iteration's callbacks (a server's requests, each from a callback of its
  // own) wait to be sent together, before the event loop next waits for I/O: one batch, and
  // one crossing, task and outcome for all of them. Where the native side cannot call back then
  // (on the I/O thread) or is delivering outcomes (a caller going on after an await keeps Redis
  // busy at once), they go at the end of the task that made them (a microtask).
  #scheduleFlush() {
    this.#flushScheduled = true
    if (this.#batchesInFlight === 0) this.#hold()
    if (!this.#deferFlush(this.#flushAll)) RESOLVED.then(this.#flushAll)
  }

  #flush(isRead) {
    const calls = isRead ? this.#reads : this.#writes
    if (isRead) this.#reads = []
    else this.#writes = []
    if (calls.length > 0) this.#send(calls, !isRead)
  }

  // Sends calls as one batch (src/store/batch.rs); its outcome comes to #settled by id.
  #send(calls, onWrites) {
    const id = this.#freeIds.pop() ?? this.#inFlight.length
    try {
      let batch = '['
      for (let i = 0; i < calls.length; i++) batch += (i ? ',' : '') + calls[i][0]
      this.#batch(id, `${batch}]`, calls.length, onWrites)
    } catch (err) {
      // e.g. the calls together exceed the longest string the engine can build
      this.#freeIds.push(id)
      queueMicrotask(() => this.#refused(calls, onWrites, err))
      return
    }
    this.#inFlight[id] = [calls, onWrites]
    if (++this.#batchesInFlight === 1) this.#hold()
  }

  // The keep-alive timer holds the store and the event loop while calls wait or are in flight:
  // taken when a store that had neither gets either, let go when it has neither again.
  #hold() {
    // after close() (a call then only learns CLOSED) the timer may be gone
    this.#keepAlive ??= idleTimer()
    this.#keepAlive.store = this
    this.#keepAlive.ref()
  }

  #releaseIfIdle() {
    if (this.#batchesInFlight > 0 || this.#flushScheduled) return
    this.#keepAlive.store = null
    this.#keepAlive.unref()
    if (this.#closed) this.#dropKeepAlive()
  }

  #dropKeepAlive() {
    clearInterval(this.#keepAlive)
    this.#keepAlive = null
  }

  // The outcome of batch `id`: `code` is '' and `payload` each call's result, [1, value] or
  // [0, code, message]; or the batch was refused as a whole and `payload` says why.
  #settled(id, code, payload) {
    const [calls, onWrites] = this.#inFlight[id]
    this.#inFlight[id] = undefined
    this.#freeIds.push(id)
    if (--this.#batchesInFlight === 0) this.#releaseIfIdle()
    if (code !== '') return this.#refused(calls, onWrites, new StoreError(code, payload))
    const results = JSON.parse(payload)
    for (let i = 0; i < calls.length; i++) {
      const [ok, value, message] = results[i]
      if (calls[i][3] !== undefined) this.#written(calls[i][3])
      if (ok) {
        this.#succeeded()
        const shape = calls[i][4]
        calls[i][1](shape === undefined ? value : shape(value))
      } else {
        calls[i][2](this.#failed(new StoreError(value, message)))
      }
    }
  }

  // The whole batch was refused before anything ran (too large to build, or not parsable):
  // the calls go again one by one, so that only the call at fault fails.
  #refused(calls, onWrites, err) {
    if (calls.length > 1) {
      for (const call of calls) this.#send([call], onWrites)
      return
    }
    if (calls[0][3] !== undefined) this.#written(calls[0][3])
    calls[0][2](this.#failed(storeError(err)))
  }

  // One log line when Redis becomes unavailable, one when it is back.
  #succeeded() {
    if (this.#inOutage) {
      this.#inOutage = false
      this.#logger.info(`${LOG_PREFIX} Redis at ${this.#native.address} is reachable again`)
    }
  }

  #failed(error) {
    if (error.code === 'UNAVAILABLE' && !this.#inOutage) {
      this.#inOutage = true
      this.#logger.warn(`${LOG_PREFIX} ${error.message.replace(/^.*?: (?=Redis at)/, '')}; calls fail with UNAVAILABLE until it is back`)
    }
    return error
  }

  [inspect.custom]() {
    return `RedisStore { address: '${this.address}', prefix: '${this.prefix}', closed: ${this.closed} }`
  }
}

module.exports = { RedisStore, StoreError }
