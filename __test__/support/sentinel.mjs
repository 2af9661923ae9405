// A primary, a replica and three sentinels on free loopback ports, password on the data nodes
// and on the sentinels; everything stopped by pid.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import IORedis from 'ioredis'
import { freePort, startRedis, waitForPing } from '../../scripts/redis-server.mjs'
import { until } from './failover.mjs'
import { makeTls } from './tls.mjs'

export const DATA_PASSWORD = 'data-S3cret'
export const SENTINEL_PASSWORD = 'sentinel-S3cret'
export const NAME = 'nvent'


async function startSentinel(primaryPort, tls) {
  const port = await freePort()
  const tlsPort = tls && (await freePort())
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
      ...(tls ? [`tls-port ${tlsPort}`, ...Object.entries(tls.settings).map(([k, v]) => `${k} ${v}`)] : []),
      '',
    ].join('\n'),
  )
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
  await waitForPing(port)
  return {
    port,
    tlsPort,
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

/**
 * Starts the set and waits until every sentinel knows the replica and the other sentinels. With
 * `tls`, every server and sentinel also has a TLS port, replication and the sentinels' links go
 * over TLS, and `connection` reaches both through TLS only.
 */
export async function startSentinelSet({ tls: withTls = false } = {}) {
  const certs = withTls ? mkdtempSync(join(tmpdir(), 'nvent-sentinel-tls-')) : null
  const tls = withTls ? makeTls(certs) : null
  const tlsArgs = async () => (tls ? [['--tls-port', String(await freePort())], Object.entries(tls.settings).map(([k, v]) => [`--${k}`, v])].flat(2) : [])
  const data = ['--requirepass', DATA_PASSWORD, '--masterauth', DATA_PASSWORD, '--repl-diskless-sync-delay', '0']
  const primaryTls = await tlsArgs()
  const primary = await startRedis({ args: [...data, ...primaryTls] })
  // the port replicas and sentinels use: the TLS one when there is one
  const primaryPort = tls ? Number(primaryTls[1]) : primary.port
  const replica = await startRedis({ args: [...data, ...(await tlsArgs()), '--replicaof', '127.0.0.1', String(primaryPort)] })
  const servers = [primary, replica]
  const admin = (port) => new IORedis({ host: '127.0.0.1', port, password: DATA_PASSWORD, maxRetriesPerRequest: 1 })
  const replicaAdmin = admin(replica.port)
  await until('replication', async () => /master_link_status:up/.test(await replicaAdmin.info('replication')))
  replicaAdmin.disconnect()
  const sentinels = []
  for (let i = 0; i < 3; i++) sentinels.push(await startSentinel(primaryPort, tls))
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
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: tls ? s.tlsPort : s.port })),
      name: NAME,
      password: DATA_PASSWORD,
      sentinelPassword: SENTINEL_PASSWORD,
      ...(tls ? { tls: { ca: tls.ca }, sentinelTls: { ca: tls.ca } } : {}),
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
      if (certs) rmSync(certs, { recursive: true, force: true })
    },
  }
}
