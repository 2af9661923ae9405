// The module's types as a Nuxt 4 app sees them after `nuxi prepare`: nuxt.config options and the
// server-side helper, compiled by tsc with isolatedModules and verbatimModuleSyntax.
import { execFileSync } from 'node:child_process'
import { cpSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { fixture } from './helpers.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
// a copy (inside the repository, so Nuxt resolves from its node_modules): `nuxi prepare` rewrites
// .nuxt, which the other Nuxt tests build in at the same time
const app = join(root, '.tmp', `types-app-${process.pid}`)
const run = (args) => execFileSync(process.execPath, args, { cwd: app, encoding: 'utf8', stdio: 'pipe' })
const tsc = (...args) => {
  try {
    return run([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ...args])
  } catch (e) {
    return e.stdout + e.stderr
  }
}

beforeAll(() => {
  cpSync(fixture('nuxt-app'), app, { recursive: true, filter: (src) => !src.startsWith(join(fixture('nuxt-app'), '.nuxt')) })
  run([join(root, 'node_modules', '@nuxt', 'cli', 'bin', 'nuxi.mjs'), 'prepare'])
}, 120000)

afterAll(() => rmSync(app, { recursive: true, force: true }))

test('nuxt.config options are typed', () => {
  expect(tsc('-p', 'typecheck/tsconfig.json')).toBe('')
})

test('useRedisStore() and the exported types check in server code', () => {
  expect(tsc('--noEmit', '-p', '.nuxt/tsconfig.server.json', '--isolatedModules', '--verbatimModuleSyntax')).toBe('')
})
