// The package entry points as users load them, in a plain Node process: ESM import and CJS
// require of `@nvent-addon/adapter-store-redis/store`, with no Nuxt code loaded.
import { execFileSync, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, inject, test } from 'vitest'
import { envWithoutCargo } from '../scripts/without-cargo.mjs'
import { unpacked } from './support/unpacked.mjs'
import native from '../native.cjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const target = native.platformTarget()
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

test('the calls of a store the program let go of are sent and settle', () => {
  const url = inject('redisUrl')
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', `
    import { RedisStore } from '@nvent-addon/adapter-store-redis/store'
    const make = () => new RedisStore({ connection: { url: ${JSON.stringify(url)} }, logger: false })
    // not yet sent when the store becomes unreachable
    const waiting = make().kv.set('package:let-go', 2)
    gc()
    await waiting
    // sent, not yet answered
    const inFlight = make().kv.get('package:let-go')
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    console.log('settled', await inFlight)`], { cwd: root, encoding: 'utf8' }).trim()
  expect(out).toBe('settled 2')
})

describe('the packed tarball', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  // one `npm pack` (a second each) for every test of the tarball
  let packedOnce
  const packed = () => (packedOnce ??= JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }))[0])

  test('ships the loader, the types, the module and the sources for a build from source, and no binary', () => {
    const files = new Map(packed().files.map((f) => [f.path, f.size]))
    for (const path of ['index.js', 'index.d.ts', 'native.cjs', 'store.cjs', 'store.mjs', 'store.d.ts', 'nuxt/module.mjs', 'nuxt/module.d.mts', 'nuxt/runtime/server/utils/redis-store.d.mts', 'scripts/build-from-source.cjs', 'Cargo.toml', 'Cargo.lock', '.cargo/config.toml', 'build.rs', 'src/lib.rs', 'lua/indexUpdate-2.lua', 'lua/shared.lua']) {
      expect(files.has(path), path).toBe(true)
    }
    expect([...files.keys()].filter((p) => p.endsWith('.node'))).toEqual([])
    expect([...files.keys()].filter((p) => /^(__test__|node_modules|target|\.tmp|npm)\//.test(p))).toEqual([])
  })

  test('ships every file the README links to, so that its links work in the installed package', () => {
    const files = new Set(packed().files.map((f) => f.path))
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const relative = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((href) => !/^[a-z][a-z0-9+.-]*:/i.test(href))
    expect(relative.length).toBeGreaterThan(0)
    expect(relative.filter((href) => !files.has(href.replace(/^\.\//, '')))).toEqual([])
  })

  test('runs no script at install: npm 11 has nothing to warn about', () => {
    // npm runs `prepare` only for git and folder installs, but npm 11 warns about it all the same
    expect(Object.keys(pkg.scripts).filter((name) => /^((pre|post)?install|prepare)$/.test(name))).toEqual([])
  })

  test('has one platform package per napi target, at this version and described for npm', () => {
    const dirs = readdirSync(join(root, 'npm')).sort()
    expect(dirs).toHaveLength(pkg.napi.targets.length)
    const loader = readFileSync(join(root, 'index.js'), 'utf8')
    for (const dir of dirs) {
      const platform = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
      const binary = `redis-store.${dir}.node`
      expect(platform).toMatchObject({ name: `${pkg.name}-${dir}`, version: pkg.version, main: binary, files: [binary] })
      // npm skips a package whose os, cpu (and libc) do not match: each user installs one
      expect([platform.os, platform.cpu].map((list) => list.length)).toEqual([1, 1])
      expect(dir.startsWith(`${platform.os[0]}-${platform.cpu[0]}`)).toBe(true)
      if (dir.startsWith('linux-')) expect(platform.libc).toEqual([dir.endsWith('-musl') ? 'musl' : 'glibc'])
      // and the generated loader looks for exactly that package and file
      expect(loader).toContain(`require('${platform.name}')`)
      expect(loader).toContain(`require('./${binary}')`)
    }
  })

  // In the repository they would break `npm ci` until the platform packages are published; napi
  // adds them as the main package is published, and the Nuxt fixtures install it so
  // (scripts/prepare-fixtures.mjs)
  test('lists the platform packages as optional dependencies only once it is published', () => {
    expect(pkg.optionalDependencies).toBeUndefined()
    expect(pkg.scripts.prepublishOnly).toBe('napi pre-publish -t npm')
  })
})

describe('on a platform with no prebuilt package', () => {
  // a round trip through the unpacked package (after `prepare`) fails as it loads; its stderr
  function loadFailure(prepare = () => {}) {
    const { dir, pkg } = unpacked()
    try {
      prepare(pkg)
      const result = spawnSync(process.execPath, [join(pkg, 'scripts', 'round-trip.cjs'), inject('redisUrl')], { encoding: 'utf8' })
      expect(result.status).toBe(1)
      expect(result.stderr).toContain("code: 'NO_NATIVE_ADDON'")
      return result.stderr
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  test('loading the store throws NO_NATIVE_ADDON, naming the missing package and the command that builds one', () => {
    const stderr = loadFailure()
    expect(stderr).toContain(`@nvent-addon/adapter-store-redis-${target}, which is not installed`)
    expect(stderr).toContain('node node_modules/@nvent-addon/adapter-store-redis/scripts/build-from-source.cjs')
  })

  test('a binary that is there but does not load is reported as such, with its cause', () => {
    const stderr = loadFailure((pkg) => writeFileSync(join(pkg, `redis-store.${target}.node`), 'not a shared library'))
    expect(stderr).toContain(`the native addon for ${target} is installed but does not load`)
    expect(stderr).toContain('[cause]')
  })

  test('the build from source says what to install when there is no Rust toolchain', () => {
    const { dir, pkg } = unpacked()
    try {
      const result = spawnSync(process.execPath, [join(pkg, 'scripts', 'build-from-source.cjs')], { env: envWithoutCargo(), encoding: 'utf8' })
      expect(result.status).toBe(1)
      expect(result.stderr).toMatch(/needs a Rust toolchain, and cargo was not found/)
      expect(result.stderr).toMatch(/Install Rust/)
      expect(readdirSync(pkg).filter((f) => f.endsWith('.node'))).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
