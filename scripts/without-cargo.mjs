// An environment in which `cargo` is not to be had, wherever the real one lives (Debian's
// `cargo` package puts it in /usr/bin, beside node and npm, so dropping its folder from PATH
// would drop npm too): a `cargo` that fails as a missing command does comes first on PATH.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

export function envWithoutCargo(env = process.env) {
  const dir = mkdtempSync(join(tmpdir(), 'no-cargo-'))
  const shim = join(dir, 'cargo')
  writeFileSync(shim, '#!/bin/sh\necho "cargo: command not found" >&2\nexit 127\n')
  chmodSync(shim, 0o755)
  return { ...env, PATH: `${dir}${delimiter}${env.PATH}` }
}
