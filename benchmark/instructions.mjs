// Instructions per lone call, counted by valgrind's callgrind: what a call at 1000/s executes in
// user space, for this package, 0.5.15 and the floor (paced.mjs: a PING per call on a bare
// socket). A count is the same from run to run within a percent or two, whatever else the
// machine does, where CPU time on a shared VM moves by a tenth (the A/A spread of ab.mjs), so a
// change of a few percent in the addon shows here when no timing can show it. It is not CPU
// time: the kernel (wake-ups, system calls) is not counted, nor is a cache miss, and at 1000/s
// a call pays for both.
//   npm run bench:instructions                              # kv.get, kv.set, stream.append
//   INSTR_OPS=kv.get INSTR_CALLS=1000 npm run bench:instructions -- ../before .
// Arguments are builds of this package (package roots with the addon built, as for ab.mjs;
// default: this checkout). For the addon's share by crate, build it with its symbols:
//   CARGO_PROFILE_RELEASE_STRIP=none npx napi build --platform --release --no-const-enum --output-dir <dir>
// with store.cjs, native.cjs and package.json copied beside.
//
// Each subject runs in a node process of its own under callgrind (about 40 s each): it makes
// INSTR_WARM_UP calls one after another and as many lone calls, so that the engine has compiled
// its code, then INSTR_CALLS lone calls, each after a 1 ms timer as at 1000/s, counted from a
// zeroed count to a dump (callgrind_control). Only the JS thread is counted (the addon runs
// there too): under valgrind the engine's compiler threads recompile throughout that window, for
// every subject alike ("other threads"), and the JS thread's count still moves by 1–2% from run to
// run. Under valgrind a call takes milliseconds, so the store's timer ticks while calls are in
// flight (every 10 ms) are counted more often than at full speed.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bareSocket, fixtures, operations, sleep } from './pace.mjs'
import { openAdapters, writeResult } from './setup.mjs'

const OPS = (process.env.INSTR_OPS ?? 'kv.get,kv.set,stream.append').split(',')
const CALLS = Number(process.env.INSTR_CALLS ?? 2000)
const WARM_UP = Number(process.env.INSTR_WARM_UP ?? 3000)
const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
const JOBS = Number(process.env.INSTR_JOBS ?? Math.min(2, cpus().length))

if (process.argv[2] === '--child') await child(...process.argv.slice(3))
else await main(process.argv.slice(2))

/** Makes the calls of one subject inside callgrind; the count covers the measured calls only. */
async function child(subject, op) {
  // the process holds what paced.mjs holds (both adapters and a client): the engine sizes its
  // young generation by the heap, and with a smaller one Node's share per call was a quarter
  // higher for every subject
  const { adapters, connection, close } = await openAdapters()
  let call
  let closeSubject = () => {}
  if (subject === 'floor') {
    const floor = await bareSocket(connection)
    call = floor.call
    closeSubject = floor.close
  } else {
    let store = adapters[subject === root ? 'native' : subject]
    if (!store) {
      store = new (createRequire(import.meta.url)(`${subject}/store.cjs`).RedisStore)({ connection, logger: false })
      closeSubject = () => store.close()
    }
    await fixtures(store, 'instructions')
    call = operations(store, 'instructions')[op]
  }
  const callgrind = (flag) => execFileSync('callgrind_control', [flag, String(process.pid)], { stdio: 'ignore' })
  for (let i = 0; i < WARM_UP; i++) await call(i)
  for (let i = 0; i < WARM_UP; i++) await sleep(1).then(() => call(i))
  callgrind('-z')
  for (let i = 0; i < CALLS; i++) await sleep(1).then(() => call(i))
  callgrind('-d')
  await closeSubject()
  await close()
  process.exit(0)
}

async function main(dirs) {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
  } catch {
    console.error('valgrind is needed (Debian: apt-get install valgrind)')
    process.exit(2)
  }
  const builds = (dirs.length ? dirs : [root]).map((dir) => resolve(dir))
  const subjects = [...builds, '0.5.15', 'floor']
  const { startRedis } = await import('../scripts/redis-server.mjs')
  const IORedis = (await import('ioredis')).default
  const server = await startRedis()
  const redis = new IORedis(server.url)
  const work = mkdtempSync(join(tmpdir(), 'instructions-'))
  try {
    const jobs = OPS.flatMap((op) => subjects.map((subject) => ({ op, subject })))
    // a count hardly depends on timing, so two subjects may run at once
    const running = new Set()
    for (const [i, job] of jobs.entries()) {
      if (running.size >= JOBS) await Promise.race(running)
      const done = measure(job, join(work, `callgrind.${i}`), server.url).then((counts) => {
        job.counts = counts
        running.delete(done)
      })
      running.add(done)
    }
    await Promise.all(running)
    const rows = []
    for (const op of OPS) {
      const seed = jobs.find((j) => j.op === op && j.subject === '0.5.15').counts
      for (const { subject, counts } of jobs.filter((j) => j.op === op)) {
        const name = subject === root ? 'native' : subject
        rows.push({ op, subject: name, ...counts, ratio: counts.total / seed.total })
        const parts = Object.entries(counts.byObject).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}k`).join(', ')
        console.log(`${op.padEnd(14)} ${name.padEnd(12)} ${(counts.total / 1000).toFixed(1).padStart(6)}k instructions/call  ×${(counts.total / seed.total).toFixed(2)} of 0.5.15  (${parts}; other threads ${(counts.otherThreads / 1000).toFixed(1)}k)`)
        if (counts.addonByCrate) console.log(`${''.padEnd(28)}the addon by crate: ${Object.entries(counts.addonByCrate).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}k`).join(', ')}`)
      }
    }
    await writeResult('instructions', redis, { calls: CALLS, warmUp: WARM_UP, rows })
  } finally {
    redis.disconnect()
    await server.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

/** Runs one subject under callgrind; its instructions per call, by where they ran. */
function measure({ op, subject }, out, url) {
  const args = ['--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${out}`, process.execPath, import.meta.filename, '--child', subject, op]
  return new Promise((done, fail) => {
    const valgrind = spawn('valgrind', args, { env: { ...process.env, REDIS_URL: url }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    valgrind.stderr.on('data', (d) => (stderr += d))
    valgrind.on('exit', (code) => {
      if (code !== 0) return fail(new Error(`${subject} ${op}: valgrind exited with ${code}\n${stderr.slice(-2000)}`))
      // the measured calls' dump is part 1, one file per thread; thread 1 is the JS thread
      const parts = readdirSync(dirname(out)).filter((f) => f.startsWith(`${basename(out)}.1-`))
      const threads = parts.map((f) => perCall(readFileSync(join(dirname(out), f), 'utf8'), CALLS))
      const js = threads[parts.findIndex((f) => f.endsWith('-01'))]
      done({ ...js, otherThreads: threads.reduce((sum, t) => sum + t.total, 0) - js.total })
    })
  })
}

/**
 * Instructions per call from a callgrind dump: the self cost of each function, summed by the
 * object it ran in (the addon; node: V8, Node and the engine's builtins; code the engine
 * generated, which has no object; the C libraries) and, where the addon has symbols, by crate.
 */
function perCall(dump, calls) {
  const names = { ob: new Map(), fn: new Map() }
  // `ob=(3) /path` names id 3 the first time, `ob=(3)` refers to it after
  const name = (kind, text) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(text)
    if (!m) return text
    if (m[2] !== undefined) names[kind].set(m[1], m[2])
    return names[kind].get(m[1])
  }
  const byObject = {}
  const byCrate = {}
  let object = ''
  let fn = ''
  let callLine = false
  for (const line of dump.split('\n')) {
    if (line.startsWith('ob=')) object = name('ob', line.slice(3))
    else if (line.startsWith('fn=')) fn = name('fn', line.slice(3))
    else if (line.startsWith('cob=')) name('ob', line.slice(4))
    else if (line.startsWith('cfn=')) name('fn', line.slice(4))
    else if (line.startsWith('calls=')) callLine = true
    else if (/^[0-9+*-]/.test(line)) {
      // the line after calls= is the callee's inclusive cost, not this function's own
      if (callLine) {
        callLine = false
        continue
      }
      const cost = Number(line.split(' ')[1] ?? 0)
      const where = object.endsWith('.node') ? 'addon' : object.endsWith('/node') ? 'node' : object === '???' ? 'generated' : 'C libraries'
      byObject[where] = (byObject[where] ?? 0) + cost
      if (where === 'addon') {
        const crate = /^_*mi_/.test(fn) ? 'mimalloc' : /^0x/.test(fn) ? 'unnamed' : (/^[<&]*(?:impl )?(\w+)/.exec(fn)?.[1] ?? 'other')
        byCrate[crate] = (byCrate[crate] ?? 0) + cost
      }
    }
  }
  const per = (counts) => Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v / calls)]))
  const total = Object.values(byObject).reduce((a, b) => a + b, 0) / calls
  const named = Object.keys(byCrate).some((crate) => crate !== 'unnamed')
  return { total: Math.round(total), byObject: per(byObject), ...(named ? { addonByCrate: per(byCrate) } : {}) }
}
