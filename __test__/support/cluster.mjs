// A Redis Cluster of 3 primaries and 3 replicas on free loopback ports, with a password on every
// node; made with `redis-cli --cluster create`, stopped by pid.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import IORedis from 'ioredis'
import { freePort, startRedis } from '../../scripts/redis-server.mjs'
import { until } from './failover.mjs'
import { makeTls } from './tls.mjs'

export const CLUSTER_PASSWORD = 'cluster-S3cret'

const run = promisify(execFile)

/** `redis-cli` with the cluster's password, for `--cluster` work. */
export const redisCli = (...args) => run('redis-cli', args, { env: { ...process.env, REDISCLI_AUTH: CLUSTER_PASSWORD } })

/**
 * Starts the cluster and waits until every node sees all slots served and every replica is in
 * sync. With `tls`, clients, replication and the cluster bus go over TLS (a private CA); each node
 * keeps a plain port for the tests' own looks at it.
 */
export async function startCluster({ tls: withTls = false } = {}) {
  const certs = withTls ? mkdtempSync(join(tmpdir(), 'nvent-cluster-tls-')) : null
  const tls = withTls ? makeTls(certs) : null
  const common = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', '--requirepass', CLUSTER_PASSWORD, '--masterauth', CLUSTER_PASSWORD, '--repl-diskless-sync-delay', '0']
  const servers = await Promise.all(
    Array.from({ length: 6 }, async () => {
      if (!tls) return startRedis({ args: common })
      const tlsPort = await freePort()
      const settings = Object.entries(tls.settings).flatMap(([k, v]) => [`--${k}`, v])
      return Object.assign(await startRedis({ args: [...common, '--tls-port', String(tlsPort), '--tls-cluster', 'yes', ...settings] }), { tlsPort })
    }),
  )
  const port = (server) => (tls ? server.tlsPort : server.port)
  const addresses = servers.map((s) => `127.0.0.1:${port(s)}`)
  await redisCli(...(tls ? ['--tls', '--cacert', join(certs, 'ca.crt')] : []), '--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes')
  const admin = (p) => new IORedis({ host: '127.0.0.1', port: p, password: CLUSTER_PASSWORD, maxRetriesPerRequest: 1, lazyConnect: false })
  const cluster = {
    servers,
    /** Servers a test stopped: left out of `settled()`. */
    down: new Set(),
    /** A server no test stopped. */
    live: () => servers.find((s) => !cluster.down.has(s)),
    /** The options of a store on this cluster: two of its nodes are enough. */
    connection: {
      cluster: servers.slice(0, 2).map((s) => ({ host: '127.0.0.1', port: port(s) })),
      password: CLUSTER_PASSWORD,
      ...(tls ? { tls: { ca: tls.ca } } : {}),
    },
    admin,
    /** `{ id, port, primary, replicaOf, slots }` of every node, as the node at `via` sees them. */
    async nodes(via = cluster.live().port) {
      const client = admin(via)
      try {
        const text = await client.call('CLUSTER', 'NODES')
        return text.trim().split('\n').map((line) => {
          const [id, address, flags, replicaOf, , , , , ...slots] = line.split(' ')
          const p = Number(address.split('@')[0].split(':').pop())
          return { id, port: p, primary: flags.includes('master'), failed: flags.includes('fail'), replicaOf: replicaOf === '-' ? null : replicaOf, slots }
        })
      } finally {
        client.disconnect()
      }
    },
    /** The port of the primary that serves `key`, as the node at `via` sees it. */
    async primaryOf(key, via = cluster.live().port) {
      const client = admin(via)
      try {
        const slot = await client.call('CLUSTER', 'KEYSLOT', key)
        const ranges = await client.call('CLUSTER', 'SLOTS')
        const range = ranges.find(([from, to]) => slot >= from && slot <= to)
        return range[2][1]
      } finally {
        client.disconnect()
      }
    },
    /** Waits until every live node reports the cluster as ok and agrees on who serves what. */
    async settled(timeoutMs = 20000) {
      await until('the cluster settles', async () => {
        const live = servers.filter((s) => !cluster.down.has(s))
        const views = []
        for (const s of live) {
          const client = admin(s.port)
          try {
            if (!/cluster_state:ok/.test(await client.call('CLUSTER', 'INFO'))) return false
            views.push(JSON.stringify((await client.call('CLUSTER', 'SLOTS')).map(([from, to, [, p]]) => [from, to, p]).sort((a, b) => a[0] - b[0])))
          } finally {
            client.disconnect()
          }
        }
        return views.every((v) => v === views[0])
      }, timeoutMs)
    },
    /** A plain client of the whole cluster, for tests to look at the data. */
    raw: () => rawClusterClient(cluster.live().port),
    async stop() {
      for (const s of servers) await s.stop()
      if (certs) rmSync(certs, { recursive: true, force: true })
    },
  }
  await cluster.settled()
  for (const s of servers) {
    const client = admin(s.port)
    try {
      await until('replication', async () => {
        const info = await client.info('replication')
        return /role:master/.test(info) || /master_link_status:up/.test(info)
      })
    } finally {
      client.disconnect()
    }
  }
  return cluster
}

/**
 * An ioredis cluster client with the few multi-key helpers the contract suite uses, done per
 * key (a cluster refuses commands whose keys lie in different slots).
 */
export function rawClusterClient(port) {
  const client = new IORedis.Cluster([{ host: '127.0.0.1', port }], { redisOptions: { password: CLUSTER_PASSWORD }, enableAutoPipelining: true })
  return new Proxy(client, {
    get(target, name) {
      if (name === 'exists') return async (...keys) => (await Promise.all(keys.map((key) => target.exists(key)))).reduce((a, b) => a + b, 0)
      if (name === 'del') return async (...keys) => (await Promise.all(keys.map((key) => target.del(key)))).reduce((a, b) => a + b, 0)
      if (name === 'keys') {
        return async (pattern) => (await Promise.all(target.nodes('master').map((node) => node.keys(pattern)))).flat()
      }
      if (name === 'pipeline') {
        // queued calls, sent together on exec (auto-pipelined per node)
        return () => {
          const calls = []
          const pipe = new Proxy({}, { get: (_, cmd) => (cmd === 'exec' ? () => Promise.all(calls.map(([c, args]) => target[c](...args))) : (...args) => (calls.push([cmd, args]), pipe)) })
          return pipe
        }
      }
      if (name === 'disconnect') return () => target.disconnect()
      const value = target[name]
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
