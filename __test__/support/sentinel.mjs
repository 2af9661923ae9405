// A primary, a replica and three sentinels on free loopback ports, password on the data nodes
// and on the sentinels; everything stopped by pid.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import IORedis from 'ioredis'
import { freePort, startRedis, waitForPing } from '../../scripts/redis-server.mjs'

export const DATA_PASSWORD = 'data-S3cret'
export const SENTINEL_PASSWORD = 'sentinel-S3cret'
export const NAME = 'nvent'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(what, check, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(50)
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`)
}

async function startSentinel(primaryPort) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'nvent-sentinel-'))
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `logfile ${join(dir, 'sentinel.log')}`,
      `requirepass ${SENTINEL_PASSWORD}`,
      `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
      `sentinel monitor ${NAME} 127.0.0.1 ${primaryPort} 2`,
      `sentinel auth-pass ${NAME} ${DATA_PASSWORD}`,
      `sentinel down-after-milliseconds ${NAME} 1000`,
      `sentinel failover-timeout ${NAME} 5000`,
      '',
    ].join('\n'),
  )
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
  await waitForPing(port)
  return {
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await done
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Starts the set and waits until every sentinel knows the replica and the other sentinels. */
export async function startSentinelSet() {
  const data = ['--requirepass', DATA_PASSWORD, '--masterauth', DATA_PASSWORD, '--repl-diskless-sync-delay', '0']
  const primary = await startRedis({ args: data })
  const replica = await startRedis({ args: [...data, '--replicaof', '127.0.0.1', String(primary.port)] })
  const servers = [primary, replica]
  const admin = (port) => new IORedis({ host: '127.0.0.1', port, password: DATA_PASSWORD, maxRetriesPerRequest: 1 })
  const replicaAdmin = admin(replica.port)
  await until('replication', async () => /master_link_status:up/.test(await replicaAdmin.info('replication')))
  replicaAdmin.disconnect()
  const sentinels = []
  for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(primary.port))
  const ask = (s) => new IORedis({ host: '127.0.0.1', port: s.port, password: SENTINEL_PASSWORD, maxRetriesPerRequest: 1 })
  const clients = sentinels.map(ask)
  for (const client of clients) {
    await until('sentinels ready', async () => {
      const fields = await client.call('SENTINEL', 'MASTER', NAME)
      const info = Object.fromEntries(fields.reduce((pairs, v, i) => (i % 2 ? pairs : [...pairs, [v, fields[i + 1]]]), []))
      return Number(info['num-slaves']) >= 1 && Number(info['num-other-sentinels']) >= 2
    })
  }
  return {
    servers,
    sentinels,
    /** The options of a store that finds the primary through these sentinels. */
    connection: {
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      name: NAME,
      password: DATA_PASSWORD,
      sentinelPassword: SENTINEL_PASSWORD,
    },
    /** The primary's port as the first sentinel sees it. */
    async primaryPort() {
      const [, port] = await clients[0].call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)
      return Number(port)
    },
    sentinel: clients[0],
    admin,
    until,
    async stop() {
      for (const client of clients) client.disconnect()
      for (const s of sentinels) await s.stop()
      for (const s of servers) await s.stop()
    },
  }
}
