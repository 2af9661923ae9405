// Production builds done as users do them (loadNuxt + buildNuxt, i.e. `nuxi build`), then
// served by plain `node .output/server/index.mjs` from another folder.
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildNuxt, loadNuxt } from '@nuxt/kit'
import { consola } from 'consola'
import IORedis from 'ioredis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort, startRedis, waitForPing } from '../../scripts/redis-server.mjs'
import { fixture } from './helpers.mjs'
import native from '../../native.cjs'

// the binary comes in the platform package, installed beside the main one (prepare-fixtures.mjs)
const target = native.platformTarget()
const ADDON = join('server', 'node_modules', '@nvent-addon', `adapter-store-redis-${target}`, `redis-store.${target}.node`)

/** Builds a fixture; returns the .output folder and what the build logged. */
async function build(name, workDir) {
  const logged = []
  const reporter = { log: (entry) => logged.push({ type: entry.type, tag: entry.tag, text: entry.args.join(' ') }) }
  consola.addReporter(reporter)
  try {
    const nuxt = await loadNuxt({
      cwd: fixture(name),
      dev: false,
      overrides: { buildDir: join(workDir, '.nuxt'), nitro: { output: { dir: join(workDir, '.output') } } },
    })
    await buildNuxt(nuxt)
    await nuxt.close()
  } finally {
    consola.removeReporter(reporter)
  }
  return { output: join(workDir, '.output'), logged }
}

/** Starts a built server; resolves once it answers HTTP. */
async function serve(output, env) {
  const port = await freePort()
  const child = spawn(process.execPath, [join(output, 'server', 'index.mjs')], {
    // consola prints only warnings when it sees a test environment; these tests read its info lines
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production', CONSOLA_LEVEL: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  child.stdout.on('data', (d) => (log += d))
  child.stderr.on('data', (d) => (log += d))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${log}`)
    try {
      await fetch(url)
      break
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const stop = async () => {
    if (child.exitCode !== null) return child.exitCode
    const exited = new Promise((r) => child.once('exit', (code) => r(code)))
    child.kill('SIGTERM')
    return exited
  }
  return { url, stop, log: () => log }
}

const post = (url, body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json())

async function clientCount(redis) {
  return (await redis.client('LIST')).trim().split('\n').length
}

describe('production build', () => {
  let redis
  let server
  const work = []
  beforeAll(async () => {
    redis = await startRedis()
    server = new IORedis(redis.url)
  })
  afterAll(async () => {
    server.disconnect()
    await redis.stop()
    for (const dir of work) rmSync(dir, { recursive: true, force: true })
  })
  const tmp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'nvent-nuxt-'))
    work.push(dir)
    return dir
  }

  test('the built app carries the addon, runs from another folder, and leaves no connection open', async () => {
    const { output } = await build('nuxt-app', tmp())
    expect(existsSync(join(output, ADDON))).toBe(true)
    const moved = join(tmp(), 'app')
    cpSync(output, moved, { recursive: true })
    rmSync(output, { recursive: true, force: true })

    const before = await clientCount(server)
    const app = await serve(moved, { NUXT_NVENT_STORE_REDIS_CONNECTION_HOST: '127.0.0.1', NUXT_NVENT_STORE_REDIS_CONNECTION_PORT: String(redis.port) })
    try {
      const got = await post(`${app.url}/api/tiers`, { run: 'moved' })
      expect(got.kv).toEqual({ run: 'moved' })
      expect(got.entry.metadata).toEqual({ version: 1, status: 'running', emittedEvents: { 'flow.start': 1 } })
      expect(await server.get('fixture:kv:moved')).toBe('{"run":"moved"}')
      expect(await clientCount(server)).toBe(before + 2)
      expect(app.log()).not.toContain('Error')
    } finally {
      expect(await app.stop()).toBe(0)
    }
    expect(app.log()).toContain(`Redis store at 127.0.0.1:${redis.port} closed`)
    await waitForPing(redis.port)
    expect(await clientCount(server)).toBe(before)
  })

  test('without nvent the build says so, and useRedisStore() still serves the store', async () => {
    const { output, logged } = await build('nuxt-app-no-nvent', tmp())
    const warning = logged.find((l) => l.tag === 'adapter-store-redis' && l.type === 'warn')
    expect(warning?.text).toMatch(/nvent is not installed.*useRedisStore\(\)/)
    const app = await serve(output, { NUXT_NVENT_STORE_REDIS_CONNECTION_URL: redis.url })
    try {
      expect(await post(`${app.url}/api/kv`, { key: 'plain:k', value: '123' })).toEqual({ value: '123', address: `127.0.0.1:${redis.port}` })
    } finally {
      await app.stop()
    }
  })
})
