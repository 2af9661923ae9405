#!/usr/bin/env bash
# Builds the addon for every napi target that builds on a Debian 12 (bookworm) x86_64 machine,
# checks each binary, and runs a round trip of each tier where an emulator can load it:
#
#   bash scripts/build-all.sh            # or: npm run build:all (26-45 minutes on 2 cores)
#   bash scripts/build-all.sh linux-arm64-gnu win32-x64-msvc   # only these
#
# Run it as root: it installs what it needs (apt-get, pip; the checks fetch npm's node builds)
# and leaves each binary in npm/<target>/, where `npm publish` of that folder takes it. Not part
# of .ci/run.
#
#   linux-x64-gnu     rustup's toolchain, linked by zig against glibc 2.17
#   linux-arm64-gnu   Debian's rustc-web with its arm64 std, zig, glibc 2.17; run under qemu
#   linux-*-musl      Debian's rustc-web, std built from rust-web-src (-Zbuild-std), zig
#   win32-x64-msvc    the x86_64-pc-windows-gnu target (-Zbuild-std, mingw-w64), named as napi's
#                     loader looks for it on Windows; run under wine
#   darwin-*          -Zbuild-std and zig, with no macOS SDK (the crate set needs no framework);
#                     load commands inspected here, not run
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
all=(linux-x64-gnu linux-arm64-gnu linux-x64-musl linux-arm64-musl win32-x64-msvc darwin-arm64 darwin-x64)
wanted=("${@:-${all[@]}}")
work="$root/.tmp/build-all"
mkdir -p "$work"
# Debian's rustc-web (1.96) for the targets rustup has no std for here; rustup's for the host
debian_cargo=/usr/bin/cargo
debian_rustc=/usr/bin/rustc
# rustflags given here replace .cargo/config.toml's, so they repeat its tokio_unstable
base_flags='--cfg tokio_unstable'

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
have() { command -v "$1" > /dev/null 2>&1; }

install_tools() {
  step "tools: Debian packages, zig and cargo-zigbuild"
  local packages=(rustc-web cargo-web rust-web-src libstd-rust-web-dev:arm64 musl:amd64 musl:arm64
    mingw-w64 qemu-user-static wine64 wine llvm-14 redis-server)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
  local missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" > /dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    note "apt-get install ${missing[*]}"
    apt-get update -q > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" > "$work/apt.log"
  fi
  if ! have cargo-zigbuild || ! python3 -m ziglang version > /dev/null 2>&1; then
    note "pip install ziglang cargo-zigbuild"
    python3 -m pip install -q ziglang cargo-zigbuild
  fi
  note "zig $(python3 -m ziglang version), $(cargo-zigbuild --version), $($debian_cargo --version)"
}

# cargo-zigbuild with the given cargo; extra arguments go to cargo build
zigbuild() {
  local cargo=$1 triple=$2 flags=$3
  shift 3
  local rustc=$(command -v rustc)
  [[ $cargo == "$debian_cargo" ]] && rustc=$debian_rustc
  CARGO=$cargo RUSTC=$rustc CARGO_ENCODED_RUSTFLAGS=$(printf '%s' "$flags" | tr ' ' '\037') \
    cargo-zigbuild build --release --locked --target "$triple" --target-dir "$root/target/cross" "$@"
}

place() {
  local target=$1 built=$2
  cp "$built" "npm/$target/redis-store.$target.node"
  note "npm/$target/redis-store.$target.node ($(du -h "$built" | cut -f1))"
}

build_target() {
  local target=$1 start=$SECONDS
  step "$target"
  case "$target" in
    linux-x64-gnu)
      zigbuild "$(command -v cargo)" x86_64-unknown-linux-gnu.2.17 "$base_flags"
      place "$target" target/cross/x86_64-unknown-linux-gnu/release/libnvent_redis_store.so
      ;;
    linux-arm64-gnu)
      zigbuild "$debian_cargo" aarch64-unknown-linux-gnu.2.17 "$base_flags"
      place "$target" target/cross/aarch64-unknown-linux-gnu/release/libnvent_redis_store.so
      ;;
    linux-x64-musl | linux-arm64-musl)
      local arch=${target#linux-}
      arch=${arch%-musl}
      local triple=${arch/x64/x86_64}
      triple=${triple/arm64/aarch64}-unknown-linux-musl
      RUSTC_BOOTSTRAP=1 zigbuild "$debian_cargo" "$triple" "$base_flags -C target-feature=-crt-static" -Zbuild-std=std,panic_abort
      place "$target" "target/cross/$triple/release/libnvent_redis_store.so"
      ;;
    win32-x64-msvc)
      # napi-build links the gnu target against a libnode.dll; napi resolves its symbols from
      # node.exe at load time, so an empty one does, and the binary imports nothing from it
      mkdir -p "$work/libnode"
      echo > "$work/libnode/empty.c"
      x86_64-w64-mingw32-gcc -shared -o "$work/libnode/libnode.dll" "$work/libnode/empty.c"
      LIBNODE_PATH="$work/libnode" RUSTC=$debian_rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
        CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar \
        CARGO_ENCODED_RUSTFLAGS=$(printf '%s' "$base_flags" | tr ' ' '\037') \
        "$debian_cargo" build --release --locked --target x86_64-pc-windows-gnu --target-dir "$root/target/cross" -Zbuild-std=std,panic_abort
      place "$target" target/cross/x86_64-pc-windows-gnu/release/nvent_redis_store.dll
      ;;
    darwin-arm64 | darwin-x64)
      # the oldest macOS node 20 runs on (zig would take its newest); for arm64 the first one
      local triple=aarch64-apple-darwin macos=11.0
      [[ $target == darwin-x64 ]] && triple=x86_64-apple-darwin macos=10.15
      # rustc strips Mach-O binaries with `rust-objcopy`, which Debian's rustc does not ship: LLVM's
      mkdir -p "$work/bin"
      ln -sf "$(command -v llvm-objcopy-14)" "$work/bin/rust-objcopy"
      PATH="$work/bin:$PATH" MACOSX_DEPLOYMENT_TARGET=$macos RUSTC_BOOTSTRAP=1 zigbuild "$debian_cargo" "$triple" "$base_flags" -Zbuild-std=std,panic_abort
      place "$target" "target/cross/$triple/release/libnvent_redis_store.dylib"
      ;;
    *)
      echo "unknown target $target (known: ${all[*]})" >&2
      exit 2
      ;;
  esac
  note "built in $((SECONDS - start)) s"
}

install_tools
for target in "${wanted[@]}"; do build_target "$target"; done
step "checks and round trips"
node scripts/check-builds.mjs "${wanted[@]}"
