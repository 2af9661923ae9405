// TLS against a real redis-server: a private CA, hostname checks, a server name, mutual TLS.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import IORedis from 'ioredis'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { RedisStore } from '../store.mjs'
import { freePort, startRedis } from '../scripts/redis-server.mjs'

let dir
let server
let tlsPort
const pem = (name) => readFileSync(join(dir, name), 'utf8')

function openssl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
}

function makeCa(name) {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-sha256', '-days', '2', '-subj', `/CN=${name}`, '-out', `${name}.crt`)
}

function makeCert(name, ca, san) {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`)
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`)
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nvent-tls-'))
  makeCa('ca')
  makeCa('other-ca')
  makeCert('server', 'ca', 'IP:127.0.0.1,DNS:localhost')
  makeCert('client', 'ca', 'DNS:client')
  tlsPort = await freePort()
  // the plain port stays open for the readiness check and for changing settings
  server = await startRedis({
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'optional'],
  })
})

afterAll(async () => {
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
})

async function attempt(connection) {
  const store = new RedisStore({ connection: { host: '127.0.0.1', port: tlsPort, connectTimeout: 1000, ...connection }, logger: false })
  try {
    await store.kv.set('tls:k', 'v')
    return await store.kv.get('tls:k')
  } catch (e) {
    return `${e.code} ${e.message}`
  } finally {
    await store.close()
  }
}

describe('TLS', () => {
  test('a private CA is trusted when given, and the certificate must match the host', async () => {
    expect(await attempt({ tls: { ca: pem('ca.crt') } })).toBe('v')
    expect(await attempt({ tls: { ca: Buffer.from(pem('ca.crt')) } })).toBe('v')
    expect(await attempt({ url: `rediss://127.0.0.1:${tlsPort}`, host: undefined, port: undefined, tls: { ca: pem('ca.crt') } })).toBe('v')
  })

  test('a certificate from another CA, or none of the system CAs, is refused', async () => {
    expect(await attempt({ tls: { ca: pem('other-ca.crt') } })).toMatch(/^UNAVAILABLE .*invalid peer certificate: UnknownIssuer/)
    expect(await attempt({ tls: true })).toMatch(/^UNAVAILABLE .*invalid peer certificate: UnknownIssuer/)
  })

  test('servername checks the certificate for another name than the host dialled', async () => {
    expect(await attempt({ tls: { ca: pem('ca.crt'), servername: 'localhost' } })).toBe('v')
    expect(await attempt({ tls: { ca: pem('ca.crt'), servername: 'wrong.example' } })).toMatch(/^UNAVAILABLE .*not valid for name "wrong.example"/)
  })

  test('plain TCP to a TLS port fails instead of hanging', async () => {
    expect(await attempt({})).toMatch(/^(UNAVAILABLE|TIMEOUT) /)
  })

  test('mutual TLS: the client certificate is sent when the server requires one', async () => {
    const admin = new IORedis(server.url)
    await admin.config('SET', 'tls-auth-clients', 'yes')
    try {
      expect(await attempt({ tls: { ca: pem('ca.crt') } })).toMatch(/^(UNAVAILABLE|UNCERTAIN) /)
      expect(await attempt({ tls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key') } })).toBe('v')
    } finally {
      await admin.config('SET', 'tls-auth-clients', 'optional')
      admin.disconnect()
    }
  })
})
