// Sentinel with TLS everywhere: the store reaches the sentinels and the primary they name over
// TLS only, each checked against a private CA.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { RedisStore } from '../store.mjs'
import { startSentinelSet } from './support/sentinel.mjs'

let set
beforeAll(async () => {
  set = await startSentinelSet({ tls: true })
}, 60000)
afterAll(() => set?.stop(), 60000)

test('every tier works through TLS sentinels to a TLS primary', async () => {
  const store = new RedisStore({ connection: set.connection, logger: false })
  try {
    const rec = await store.stream.append('tls:s', { type: 't' })
    expect(await store.stream.read('tls:s')).toEqual([rec])
    await store.index.add('tls:i', 'a', 1, { n: 1 })
    expect(await store.index.update('tls:i', 'a', { m: 2 })).toBe(true)
    expect(await store.kv.increment('tls:n', 2)).toBe(2)
    expect(await store.kv.clear('tls:*')).toBe(4)
  } finally {
    await store.close()
  }
})

test('a sentinel or a primary whose certificate the CA did not sign is refused', async () => {
  // `true`: the system's CAs, which did not sign these certificates
  for (const [change, refused] of [
    [{ sentinelTls: true }, /sentinel 127\.0\.0\.1:\d+: .*(UnknownIssuer|certificate)/],
    [{ tls: true }, /UnknownIssuer|certificate/],
  ]) {
    const connection = { ...set.connection, ...change, connectTimeout: 1000, commandTimeout: 1500 }
    const store = new RedisStore({ connection, logger: false })
    const err = await store.kv.get('x').catch((e) => e)
    expect(err.code).toBe('UNAVAILABLE')
    expect(err.message).toMatch(refused)
    await store.close()
  }
})
