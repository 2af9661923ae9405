// `nuxi dev` with server reloads: each reload closes the old worker's store, so the number of
// Redis connections stays flat however often the server code changes.
import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import IORedis from 'ioredis'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { freePort, startRedis } from '../../scripts/redis-server.mjs'
import { fixture } from './helpers.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
let redis
let admin
let app
let dev

beforeAll(async () => {
  redis = await startRedis()
  admin = new IORedis(redis.url)
  // inside the repository, so that Nuxt resolves from its node_modules
  app = join(root, '.tmp', `dev-app-${process.pid}`)
  mkdirSync(app, { recursive: true })
  cpSync(fixture('nuxt-app'), app, { recursive: true, filter: (src) => !src.startsWith(join(fixture('nuxt-app'), '.nuxt')) })
})

afterAll(async () => {
  if (dev && dev.exitCode === null) {
    const exited = new Promise((r) => dev.once('exit', r))
    dev.kill('SIGTERM')
    await exited
  }
  admin?.disconnect()
  await redis?.stop()
  rmSync(app, { recursive: true, force: true })
})

async function waitFor(check, what, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs
  let last
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
}

// Nitro skips the graceful worker shutdown (and so the `close` hook) when it sees a test or CI
// environment; run nuxi dev as a developer's shell would.
function userEnv() {
  const env = { ...process.env }
  for (const key of Object.keys(env)) if (/^(CI|TEST|VITEST.*|NODE_ENV|CONSOLA_LEVEL)$/.test(key)) delete env[key]
  return env
}

const clients = async () => (await admin.client('LIST')).trim().split('\n').length

test('server reloads in nuxi dev leave no Redis connection behind', async () => {
  const port = await freePort()
  const base = await clients()
  dev = spawn(process.execPath, [join(root, 'node_modules', '@nuxt', 'cli', 'bin', 'nuxi.mjs'), 'dev', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: app,
    env: { ...userEnv(), NUXT_NVENT_STORE_REDIS_CONNECTION_URL: redis.url, NUXT_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  dev.stdout.on('data', (d) => (log += d))
  dev.stderr.on('data', (d) => (log += d))
  const closedLines = () => log.split('\n').filter((line) => line.includes(`Redis store at 127.0.0.1:${redis.port} closed`)).length
  const url = `http://127.0.0.1:${port}`
  const tiers = (run) => fetch(`${url}/api/tiers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ run }) }).then((r) => r.json())

  await waitFor(async () => (await fetch(`${url}/api/adapter`)).ok, 'nuxi dev to serve')
  expect((await tiers('dev-0')).kv).toEqual({ run: 'dev-0' })
  expect(await clients()).toBe(base + 2)

  const handler = join(app, 'server', 'api', 'adapter.get.ts')
  const original = readFileSync(handler, 'utf8')
  for (let reload = 1; reload <= 2; reload++) {
    writeFileSync(handler, original.replace('registered: Boolean(adapter),', `registered: Boolean(adapter), reload: ${reload},`))
    await waitFor(async () => (await (await fetch(`${url}/api/adapter`)).json()).reload === reload, `reload ${reload}`)
    // the new worker opens its own store; the old worker's store must be closed by now
    expect((await tiers(`dev-${reload}`)).kv).toEqual({ run: `dev-${reload}` })
    await waitFor(async () => (await clients()) === base + 2, `the old worker's connections to close after reload ${reload}`, 5000)
    expect(closedLines()).toBe(reload) // closed by the module's Nitro `close` hook
  }
  expect(await clients()).toBe(base + 2)
}, 240000)
