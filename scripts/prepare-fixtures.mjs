// Packs this package and the platform package of this machine, and installs both tarballs into
// the test fixtures, as npm installs them for users: the main package carries no binary and lists
// the platform packages as optional dependencies (a symlinked install would make Nitro bundle the
// addon, which is not what users get). Nuxt itself is resolved from this repository's node_modules.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { envWithoutCargo } from './without-cargo.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const { platformTarget } = createRequire(import.meta.url)('../native.cjs')
const packDir = join(root, '.tmp', 'pack')
rmSync(packDir, { recursive: true, force: true })
mkdirSync(packDir, { recursive: true })
const npm = (args, cwd, env = process.env) => execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
const pack = (dir) => join(packDir, JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], dir))[0].filename)
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))
// installing the tarballs must not need a Rust toolchain: hide cargo from the install
const withoutCargo = envWithoutCargo()

// The main package as published: at release, `napi pre-publish` (prepublishOnly) adds every
// npm/<platform> package at this version to optionalDependencies; it refuses to unless all seven
// binaries are there, so here the same entries are written into an unpacked copy and packed again.
const main = join(packDir, 'main')
mkdirSync(main)
const packed = pack(root)
execFileSync('tar', ['-xzf', packed, '-C', main, '--strip-components=1'])
rmSync(packed)
const manifest = readJson(join(main, 'package.json'))
manifest.optionalDependencies = Object.fromEntries(readdirSync(join(root, 'npm')).map((dir) => [readJson(join(root, 'npm', dir, 'package.json')).name, manifest.version]))
writeFileSync(join(main, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)

// the addon is already built by `npm run build`; it goes into a copy of npm/<target>, as
// `napi artifacts` puts it there before publishing
const target = platformTarget()
const binding = `redis-store.${target}.node`
const platformDir = join(packDir, target)
cpSync(join(root, 'npm', target, 'package.json'), join(platformDir, 'package.json'))
copyFileSync(join(root, binding), join(platformDir, binding))
const tarballs = [pack(main), pack(platformDir)]

for (const fixture of readdirSync(join(root, '__test__', 'fixtures'))) {
  const dir = join(root, '__test__', 'fixtures', fixture)
  rmSync(join(dir, 'node_modules'), { recursive: true, force: true })
  const install = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--legacy-peer-deps', '--no-audit', '--no-fund', '--foreground-scripts', ...tarballs], { cwd: dir, env: withoutCargo, encoding: 'utf8' })
  process.stderr.write(install.stderr)
  if (install.status !== 0) throw new Error(`npm install in ${fixture} failed`)
  // npm 11 warns about every package that would run a script at install; ours must run none
  if (/install-scripts.*@nvent-addon/.test(install.stderr)) throw new Error('npm warned about an install script of this package')
  console.log(`prepare-fixtures: installed ${tarballs.map((t) => t.slice(packDir.length + 1)).join(' and ')} into __test__/fixtures/${fixture}`)
}
