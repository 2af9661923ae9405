// The documented build from source, from the shipped files alone, on a platform with no prebuilt
// package. It runs before the other test files (vitest.config.mjs), so that its compile does
// not share the two cores with tests that time failovers. The repository's target folder keeps
// the dependencies compiled: only this crate is built again.
import { execFileSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, inject, test } from 'vitest'
import native from '../native.cjs'
import { unpacked } from './support/unpacked.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))

test('build-from-source.cjs gives an addon that loads and answers each tier', { timeout: 900_000 }, () => {
  const { dir, pkg } = unpacked()
  try {
    execFileSync(process.execPath, [join(pkg, 'scripts', 'build-from-source.cjs')], { env: { ...process.env, CARGO_TARGET_DIR: join(root, 'target') }, stdio: 'ignore' })
    expect(existsSync(join(pkg, `redis-store.${native.platformTarget()}.node`))).toBe(true)
    const out = execFileSync(process.execPath, [join(pkg, 'scripts', 'round-trip.cjs'), inject('redisUrl')], { encoding: 'utf8' })
    expect(out).toMatch(/^round trip ok/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
