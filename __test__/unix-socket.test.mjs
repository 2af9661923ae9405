// A server on the same host reached through its Unix socket (ioredis's `path`): the contract
// suite over it, with a password, the redis+unix:// URL, and what a socket nobody listens on gives.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { startRedis } from '../scripts/redis-server.mjs'
import { RedisStore } from '../store.mjs'
import { contractSuite } from './contract.mjs'
import { rawClient, uniquePrefix } from './support/stores.mjs'

const PASSWORD = 'socket-secret'
const socketDir = mkdtempSync(join(tmpdir(), 'nvent-sock-'))
const path = join(socketDir, 'redis.sock')
let server

async function socketServer() {
  server ??= await startRedis({ args: ['--unixsocket', path, '--unixsocketperm', '700', '--requirepass', PASSWORD] })
  return server
}
// the same server over TCP, for a client that looks at what the store wrote
const tcpUrl = async (db = 0) => `redis://:${PASSWORD}@127.0.0.1:${(await socketServer()).port}/${db}`

afterAll(async () => {
  await server?.stop()
  rmSync(socketDir, { recursive: true, force: true })
})

contractSuite(
  'RedisStore (native, Unix socket)',
  async (options = {}) => {
    await socketServer()
    return new RedisStore({ connection: { path, password: PASSWORD }, logger: false, ...options })
  },
  { rawUrl: tcpUrl },
)

describe('Unix socket', () => {
  test('a redis+unix:// URL gives the socket, the password and the db', async () => {
    const redis = rawClient(await tcpUrl(3))
    const store = new RedisStore({ connection: { url: `redis+unix://${path}?db=3&pass=${PASSWORD}` }, logger: false })
    const key = `${uniquePrefix()}url`
    try {
      expect(store.address).toBe(path)
      await store.kv.set(key, { over: 'socket' })
      expect(await redis.get(key)).toBe('{"over":"socket"}')
      expect(await store.kv.get(key)).toEqual({ over: 'socket' })
    } finally {
      await store.close()
      await redis.del(key)
      redis.disconnect()
    }
  })

  test('a socket nobody listens on fails calls with UNAVAILABLE, naming the path, and logs it once', async () => {
    const logged = []
    const logger = { warn: (line) => logged.push(line), info: (line) => logged.push(line) }
    const missing = join(socketDir, 'nobody.sock')
    const store = new RedisStore({ connection: { path: missing }, logger })
    try {
      for (let i = 0; i < 3; i++) {
        const err = await store.kv.get(`k${i}`).catch((e) => e)
        expect(err.code).toBe('UNAVAILABLE')
        expect(err.message).toContain(missing)
      }
    } finally {
      await store.close()
    }
    expect(logged).toHaveLength(1)
    expect(logged[0]).toContain(missing)
  })

  test('a path goes with neither host, port, url, tls, sentinels nor cluster', () => {
    for (const extra of [
      { host: '127.0.0.1' },
      { port: 6379 },
      { url: 'redis://127.0.0.1:6379' },
      { tls: true },
      { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'mymaster' },
      { cluster: [{ host: '127.0.0.1', port: 7000 }] },
    ]) {
      let error
      try {
        new RedisStore({ connection: { path, ...extra }, logger: false })
      } catch (err) {
        error = err
      }
      expect(error?.code, JSON.stringify(extra)).toBe('INVALID_ARGUMENT')
      expect(error.message).toMatch(/path|TLS/)
    }
  })
})
