'use strict'
// Builds the native addon from the Rust sources shipped in this package, for a platform with no
// prebuilt package: `node node_modules/@nvent-addon/adapter-store-redis/scripts/build-from-source.cjs`.
// Needs cargo; puts `redis-store.<target>.node` beside the loader, which looks there first.
// CARGO_TARGET_DIR, when set, is used and kept (a rebuild is then quick); otherwise a temporary
// folder is, and removed after.
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const { platformTarget } = require(path.join(root, 'native.cjs'))
const say = (line) => console.error(`[@nvent-addon/adapter-store-redis] ${line}`)

// what cargo names a cdylib on this platform
function libraryName() {
  if (process.platform === 'win32') return 'nvent_redis_store.dll'
  return process.platform === 'darwin' ? 'libnvent_redis_store.dylib' : 'libnvent_redis_store.so'
}

if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
  say('building the native addon needs a Rust toolchain, and cargo was not found.')
  say('Install Rust (https://rustup.rs, then `rustup default stable`) and run this command again.')
  process.exit(1)
}

const binding = `redis-store.${platformTarget()}.node`
say(`building ${binding} from source (a minute or two)`)
const targetDir = process.env.CARGO_TARGET_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'nvent-redis-store-build-'))
try {
  execFileSync('cargo', ['build', '--release', '--locked', '--target-dir', targetDir], { cwd: root, stdio: 'inherit' })
  fs.copyFileSync(path.join(targetDir, 'release', libraryName()), path.join(root, binding))
} finally {
  if (!process.env.CARGO_TARGET_DIR) fs.rmSync(targetDir, { recursive: true, force: true })
}
try {
  require(path.join(root, 'index.js'))
} catch (err) {
  say(`${binding} was built but does not load (${err.message}); please report this with the output above.`)
  process.exit(1)
}
say(`built ${path.join(root, binding)}`)
