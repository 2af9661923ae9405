'use strict'
// `npm install` of the package: the prebuilt addon (linux-x64-gnu) needs nothing. Where none
// fits, build it from the shipped Rust sources if cargo is there; else fail and say what to
// install. A git checkout is left alone: its `prepare` script builds with the napi CLI.
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const say = (line) => console.error(`[@nvent-addon/adapter-store-redis] ${line}`)

function loads() {
  try {
    require(path.join(root, 'index.js'))
    return true
  } catch {
    return false
  }
}

// The file name the generated loader (index.js) looks for on this platform.
function bindingName() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
    return `redis-store.linux-${arch}-${glibc ? 'gnu' : 'musl'}.node`
  }
  if (platform === 'win32') return `redis-store.win32-${arch}-msvc.node`
  return `redis-store.${platform}-${arch}.node`
}

function libraryName() {
  if (process.platform === 'win32') return 'nvent_redis_store.dll'
  return process.platform === 'darwin' ? 'libnvent_redis_store.dylib' : 'libnvent_redis_store.so'
}

if (fs.existsSync(path.join(root, '.git'))) process.exit(0)
if (loads() && !process.env.NVENT_REDIS_STORE_BUILD_FROM_SOURCE) process.exit(0)

if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
  say(`no prebuilt binary for ${process.platform}-${process.arch}, and no Rust toolchain to build one.`)
  say('Install Rust (https://rustup.rs, then `rustup default stable`) and run `npm rebuild @nvent-addon/adapter-store-redis`,')
  say('or use a platform with a prebuilt binary (linux x64 with glibc).')
  process.exit(1)
}

say(`building the native addon from source for ${process.platform}-${process.arch} (takes a minute or two)`)
const targetDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvent-redis-store-build-'))
try {
  execFileSync('cargo', ['build', '--release', '--locked', '--target-dir', targetDir], { cwd: root, stdio: 'inherit' })
  fs.copyFileSync(path.join(targetDir, 'release', libraryName()), path.join(root, bindingName()))
} finally {
  fs.rmSync(targetDir, { recursive: true, force: true })
}
if (!loads()) {
  say('the addon was built but does not load; please report this with the output above.')
  process.exit(1)
}
