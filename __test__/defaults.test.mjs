// The option defaults live in one place, src/store/config.rs (exported through index.js); the
// README's configuration table and the JSDoc of store.d.ts must say the same.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { expect, test } from 'vitest'

const native = createRequire(import.meta.url)('../index.js')
const read = (file) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')

const defaults = {
  'connection.connectTimeout': native.DEFAULT_CONNECT_TIMEOUT_MS,
  'connection.commandTimeout': native.DEFAULT_COMMAND_TIMEOUT_MS,
  'streams.trim.maxLen': native.DEFAULT_TRIM_MAX_LEN,
  busyPollMicros: native.DEFAULT_BUSY_POLL_MICROS,
}

test('the README configuration table gives the defaults the store applies', () => {
  const readme = read('README.md')
  for (const [option, value] of Object.entries(defaults)) {
    expect(readme, option).toContain(`| \`${option}\` | \`${value}\` |`)
  }
})

test('store.d.ts documents the defaults the store applies', () => {
  const types = read('store.d.ts')
  const documented = (pattern) => Number(pattern.exec(types)?.[1])
  expect(documented(/@default (\d+) \*\/\s*connectTimeout/)).toBe(defaults['connection.connectTimeout'])
  expect(documented(/@default (\d+) \*\/\s*commandTimeout/)).toBe(defaults['connection.commandTimeout'])
  expect(documented(/@default \{ maxLen: (\d+), approx: true \}/)).toBe(defaults['streams.trim.maxLen'])
  expect(documented(/@default (\d+)\s*\*\/\s*busyPollMicros/)).toBe(defaults.busyPollMicros)
})
