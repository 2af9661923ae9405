// The contract suite against this package and against the published 0.5.15 adapter.
import { contractSuite } from './contract.mjs'
import { nativeStore, seedStore } from './support/stores.mjs'

contractSuite('RedisStore (native)', (options) => nativeStore(options))

// On the I/O thread, as the store runs by default outside Linux (and where `ioThread: true`).
contractSuite('RedisStore (native, I/O thread)', (options) => nativeStore({ ioThread: true, ...options }))

// Each of these is a defect of 0.5.15 listed in store-contract.md (or a rule it predates).
contractSuite('0.5.15 (ioredis)', (options) => seedStore(options), {
  expectedFailures: [
    'event fields keep their types, unknown fields too',
    'an event field named __proto__ is kept as a field, and an id or ts given is replaced',
    'append returns what a read returns, where JSON changes or drops a value',
    'types filter returns up to limit matching events',
    'to includes every event of its millisecond',
    'limit 0 returns no events',
    'metadata round-trips exactly',
    'stored __proto__ keys never pollute a prototype',
    'add replaces the metadata and the version never goes backwards',
    'a version passed in metadata is ignored',
    'update with null deletes the whole subtree',
    'a field may change between a number and an object',
    'an entry added without metadata can be updated',
    'a read sees an update of an entry added without metadata, made before it',
    '50 concurrent updateWithRetry calls all land',
    'increment adds fractions and negatives at a dotted path, with the version',
    'increment refuses a path through a value, onto an object, or onto a non-number, and writes nothing',
    'increment of a missing entry rejects NOT_FOUND and creates nothing',
    'read lists by descending score with offset and limit, scores exact',
    'read filters on nested fields and lists of allowed values, by type',
    'read with a filter covers the whole index',
    'set and get round-trip type and value',
    'ttl is honoured in fractions of a second',
    'a ttl that is not positive is rejected and nothing is written',
    'increment counts at exactly its key',
    'what JSON cannot hold is rejected and nothing is written',
    'after close() calls reject and nothing reconnects',
    'while Redis is down calls fail fast, name the operation and key, and log once',
    'increment refuses a string that only looks like a number, and writes nothing',
    'a write refused for the type of its key writes nothing',
    'a filter without conditions adds none',
    "a value whose getter throws is the caller's error, and nothing is written",
  ],
})
