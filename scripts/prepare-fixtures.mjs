// Packs this package and installs the tarball into the test fixtures, as users install it
// (a symlinked install would make Nitro bundle the addon, which is not what users get).
// Nuxt itself is resolved from this repository's node_modules.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { envWithoutCargo } from './without-cargo.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const packDir = join(root, '.tmp', 'pack')
rmSync(packDir, { recursive: true, force: true })
mkdirSync(packDir, { recursive: true })
const npm = (args, cwd, env = process.env) => execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
// installing the tarball must not need a Rust toolchain: hide cargo from the install
const withoutCargo = envWithoutCargo()

// the addon is already built by `npm run build`
const [{ filename }] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], root))
const tarball = join(packDir, filename)
for (const fixture of readdirSync(join(root, '__test__', 'fixtures'))) {
  const dir = join(root, '__test__', 'fixtures', fixture)
  rmSync(join(dir, 'node_modules'), { recursive: true, force: true })
  npm(['install', '--no-save', '--no-package-lock', '--legacy-peer-deps', '--no-audit', '--no-fund', '--foreground-scripts', tarball], dir, withoutCargo)
  console.log(`prepare-fixtures: installed ${filename} into __test__/fixtures/${fixture}`)
}
