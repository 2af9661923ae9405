// The package entry points as users load them, in a plain Node process: ESM import and CJS
// require of `@nvent-addon/adapter-store-redis/store`, with no Nuxt code loaded.
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, inject, test } from 'vitest'
import { envWithoutCargo } from '../scripts/without-cargo.mjs'

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

test('a call in flight holds the process open until it settles, with nothing else to wait for', () => {
  const url = inject('redisUrl')
  const out = node(`
    import { RedisStore } from '@nvent-addon/adapter-store-redis/store'
    const store = new RedisStore({ connection: { url: ${JSON.stringify(url)} }, logger: false })
    store.kv.set('package:alive', 1).then(() => store.kv.get('package:alive')).then((v) => console.log('settled', v))`)
  expect(out).toBe('settled 1')
})

describe('the packed tarball', () => {
  const packed = () => JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }))[0]

  test('ships the release addon, the loader, the types, the module and the sources for a fallback build', () => {
    const files = new Map(packed().files.map((f) => [f.path, f.size]))
    for (const path of ['redis-store.linux-x64-gnu.node', 'index.js', 'index.d.ts', 'store.cjs', 'store.mjs', 'store.d.ts', 'nuxt/module.mjs', 'nuxt/module.d.mts', 'nuxt/runtime/server/utils/redis-store.d.mts', 'scripts/install.cjs', 'Cargo.toml', 'Cargo.lock', '.cargo/config.toml', 'src/lib.rs', 'lua/indexUpdate-2.lua', 'lua/shared.lua']) {
      expect(files.has(path), path).toBe(true)
    }
    // a release build is a few MB; a debug build is over 50 MB
    expect(files.get('redis-store.linux-x64-gnu.node')).toBeLessThan(20 * 1024 * 1024)
    expect([...files.keys()].filter((p) => /^(__test__|node_modules|target|\.tmp)\//.test(p))).toEqual([])
  })

  test('without a prebuilt binary or a Rust toolchain, installation fails and says what to install', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nvent-install-'))
    try {
      for (const file of ['index.js', 'package.json']) cpSync(join(root, file), join(dir, file))
      mkdirSync(join(dir, 'scripts'))
      cpSync(join(root, 'scripts', 'install.cjs'), join(dir, 'scripts', 'install.cjs'))
      const result = spawnSync(process.execPath, [join(dir, 'scripts', 'install.cjs')], { env: envWithoutCargo(), encoding: 'utf8' })
      expect(result.status).toBe(1)
      expect(result.stderr).toMatch(/no prebuilt binary .* no Rust toolchain/)
      expect(result.stderr).toMatch(/Install Rust/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
