// The package entry points as users load them, in a plain Node process: ESM import and CJS
// require of `@nvent-addon/adapter-store-redis/store`, with no Nuxt code loaded.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const node = (source) => execFileSync(process.execPath, ['--input-type=module', '-e', source], { cwd: root, encoding: 'utf8' }).trim()

test('ESM import and CJS require give the same classes', () => {
  const out = node(`
    import { RedisStore, StoreError } from '@nvent-addon/adapter-store-redis/store'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('@nvent-addon/adapter-store-redis/store')
    console.log(typeof RedisStore, cjs.RedisStore === RedisStore, cjs.StoreError === StoreError)`)
  expect(out).toBe('function true true')
})

test('the store entry loads no Nuxt code', () => {
  const out = node(`
    import { createRequire } from 'node:module'
    const require = createRequire(import.meta.url)
    require('@nvent-addon/adapter-store-redis/store')
    console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /node_modules/.test(f))))`)
  expect(JSON.parse(out)).toEqual([])
})

test('a store that is never used, or never closed, lets the process exit', () => {
  const out = node(`
    import { RedisStore } from '@nvent-addon/adapter-store-redis/store'
    new RedisStore({ connection: { host: '127.0.0.1', port: 1 } })
    const closed = new RedisStore()
    await closed.close()
    await closed.kv.get('k').catch((e) => console.log(e.code))`)
  expect(out).toBe('CLOSED')
})
