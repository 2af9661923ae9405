// The package as npm unpacks it from its tarball, with no platform package beside it: what a
// user gets on a platform with no prebuilt binary. Remove `dir` after use.
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

export function unpacked() {
  const dir = mkdtempSync(join(tmpdir(), 'nvent-unpacked-'))
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }))
  execFileSync('tar', ['-xzf', filename], { cwd: dir })
  return { dir, pkg: join(dir, 'package') }
}
