import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

// A private CA and a certificate for 127.0.0.1, made with openssl in `dir`; the TLS settings of
// redis-server (servers and sentinels alike) for a TLS port besides the plain one.
export function makeTls(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=ca', '-out', 'ca.crt')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-subj', '/CN=server', '-out', 'server.csr')
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-extfile', 'server.ext', '-out', 'server.crt')
  return {
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    settings: { 'tls-cert-file': join(dir, 'server.crt'), 'tls-key-file': join(dir, 'server.key'), 'tls-ca-cert-file': join(dir, 'ca.crt'), 'tls-auth-clients': 'no', 'tls-replication': 'yes' },
  }
}

