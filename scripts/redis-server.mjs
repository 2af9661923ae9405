// Starts and stops throwaway redis-server processes for tests and the demo: loopback only,
// a free port, nothing kept on disk unless asked, stopped by pid.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setTimeout(500)
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d) => {
      socket.destroy()
      // a server with a password answers -NOAUTH, which also means it is up
      resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()))
    })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

export async function waitForPing(port, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await ping(port)) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`)
}

/**
 * Starts redis-server. `args` are extra command-line settings, e.g. ['--requirepass', 'x'].
 * @returns {Promise<{ port: number, url: string, dir: string, pid: number | undefined, stop(): Promise<void>, restart(): Promise<void>, kill(): Promise<void>, start(): Promise<void> }>}
 */
export async function startRedis({ port, args = [] } = {}) {
  port ??= await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'nvent-redis-'))
  let child = null
  const server = {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid
    },
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, 'redis.log'), ...args], {
        stdio: 'ignore',
      })
      const exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}; see ${dir}/redis.log`))))
      exited.catch(() => {})
      try {
        await Promise.race([waitForPing(port), exited])
      } catch (err) {
        child.kill('SIGKILL')
        throw err
      }
    },
    /** Stops the server by its pid and waits for it to exit. */
    async kill(signal = 'SIGTERM') {
      // a process that ended by a signal has no exit code, only a signal code
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      const done = new Promise((r) => child.once('exit', r))
      child.kill(signal)
      await done
    },
    async stop() {
      await server.kill()
      rmSync(dir, { recursive: true, force: true })
    },
    async restart() {
      await server.kill()
      await server.start()
    },
  }
  await server.start()
  return server
}
