'use strict'
// The native addon for this platform, as the generated loader (index.js) finds it: a file built
// in this folder (a checkout, or scripts/build-from-source.cjs), else the platform package
// npm installed as an optional dependency. Where neither exists, say how to get one.

const { existsSync } = require('node:fs')
const { join } = require('node:path')

const BUILD_COMMAND = 'node node_modules/@nvent-addon/adapter-store-redis/scripts/build-from-source.cjs'

/** The napi-rs name of this platform, as in `redis-store.<target>.node` and the package names. */
function platformTarget() {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  const glibc = Boolean(process.report?.getReport?.().header?.glibcVersionRuntime)
  if (arch === 'arm') return `linux-arm-${glibc ? 'gnueabihf' : 'musleabihf'}`
  return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
}

// whether this platform's binary is there: a local build, or the platform package
function present(target) {
  if (existsSync(join(__dirname, `redis-store.${target}.node`))) return true
  try {
    require.resolve(`@nvent-addon/adapter-store-redis-${target}`)
    return true
  } catch {
    return false
  }
}

function loadNative() {
  try {
    return require('./index.js')
  } catch (cause) {
    const target = platformTarget()
    const lines = present(target)
      ? [
          `@nvent-addon/adapter-store-redis: the native addon for ${target} is installed but does not load (the cause is below).`,
          'Install the package again; if it still fails, build the addon from source (needs Rust, https://rustup.rs):',
          BUILD_COMMAND,
        ]
      : [
          `@nvent-addon/adapter-store-redis: no native addon for ${target}.`,
          `It comes in the optional dependency @nvent-addon/adapter-store-redis-${target}, which is not installed.`,
          'If this platform is listed in the README (Platforms), npm skipped it: a lockfile or node_modules made on',
          'another platform, or --omit=optional / --no-optional. Install again on this platform with optional dependencies.',
          `Otherwise build it from source (needs Rust, https://rustup.rs): ${BUILD_COMMAND}`,
        ]
    const err = new Error(lines.join('\n'), { cause })
    err.code = 'NO_NATIVE_ADDON'
    throw err
  }
}

module.exports = { loadNative, platformTarget }
