// A TCP proxy on a free loopback port, for network faults between a store and its redis-server:
// connections pass through, are slowed down, are held open while their bytes are dropped (a host
// that vanished), or are reset; and the server new connections reach can change (a failover
// behind a VIP).
import net from 'node:net'

/**
 * @param {number} targetPort the redis-server new connections reach
 * @returns {Promise<{ port: number, connections: number, retarget(port: number): void, slow(ms: number): void, blackhole(): void, reset(): void, close(): Promise<void> }>}
 */
export async function startProxy(targetPort) {
  let target = targetPort
  let delay = 0
  const pairs = new Set()
  let accepted = 0
  const server = net.createServer((client) => {
    accepted++
    const upstream = net.connect(target, '127.0.0.1')
    const pair = { client, upstream, silent: false }
    pairs.add(pair)
    const forward = (from, to) =>
      from.on('data', (chunk) => {
        if (pair.silent) return
        // chunks keep their order: each waits the same delay after the one before
        if (delay > 0) setTimeout(() => pair.silent || to.write(chunk), delay)
        else to.write(chunk)
      })
    forward(client, upstream)
    forward(upstream, client)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    /** Connections accepted so far. */
    get connections() {
      return accepted
    },
    retarget(port) {
      target = port
    },
    /** Every chunk, either way, arrives `ms` later (0: at once). */
    slow(ms) {
      delay = ms
    },
    /** The connections open now stay open but carry nothing more, either way. */
    blackhole() {
      for (const pair of pairs) pair.silent = true
    },
    /** The connections open now are reset. */
    reset() {
      for (const pair of pairs) {
        pair.client.resetAndDestroy()
        pair.upstream.destroy()
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy()
        pair.upstream.destroy()
      }
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
