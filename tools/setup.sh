#!/usr/bin/env bash
# Installs what building and testing exocap needs, if it is missing:
# the pinned stable toolchain (with its target and components), the pinned
# nightly for the image builder, QEMU and OVMF. Idempotent; quick (well under
# a second) when everything is there. Called by `make run`, `make test`...
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# One setup at a time on a machine: rustup and apt-get both fail when two
# installs of the same component race (seen with several worktrees building
# at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/exocap-setup.lock"
  flock 9
fi

# The channel pinned in a rust-toolchain.toml file.
channel_of() { sed -n 's/^channel *= *"\(.*\)"/\1/p' "$1"; }

STABLE=$(channel_of rust-toolchain.toml)
NIGHTLY=$(channel_of tools/imager/rust-toolchain.toml)

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

if ! command -v rustup >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/rustup" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v rustup >/dev/null 2>&1; then
  apt_install rustup
fi

installed_toolchains=$(rustup toolchain list)
# ensure_toolchain <name> <components...> -- <targets...>
ensure_toolchain() {
  local name=$1; shift
  local comps=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do comps+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targets=("$@")
  if ! grep -q "^$name-" <<<"$installed_toolchains"; then
    say "installing Rust toolchain $name"
    local args=()
    for c in "${comps[@]}"; do args+=(-c "$c"); done
    for t in "${targets[@]}"; do args+=(-t "$t"); done
    rustup toolchain install "$name" --profile minimal --no-self-update "${args[@]}" >&2
    return
  fi
  local have_c have_t missing_c=() missing_t=()
  have_c=$(rustup component list --toolchain "$name" --installed)
  for c in "${comps[@]}"; do grep -q "^$c" <<<"$have_c" || missing_c+=("$c"); done
  [ ${#missing_c[@]} -eq 0 ] || { say "adding ${missing_c[*]} to $name"; rustup component add --toolchain "$name" "${missing_c[@]}" >&2; }
  if [ ${#targets[@]} -gt 0 ]; then
    have_t=$(rustup target list --toolchain "$name" --installed)
    for t in "${targets[@]}"; do grep -qx "$t" <<<"$have_t" || missing_t+=("$t"); done
    [ ${#missing_t[@]} -eq 0 ] || { say "adding target ${missing_t[*]} to $name"; rustup target add --toolchain "$name" "${missing_t[@]}" >&2; }
  fi
}

ensure_toolchain "$STABLE" rustfmt clippy -- x86_64-unknown-none
ensure_toolchain "$NIGHTLY" rust-src llvm-tools -- 

command -v qemu-system-x86_64 >/dev/null 2>&1 || apt_install qemu-system-x86
[ -f /usr/share/ovmf/OVMF.fd ] || apt_install ovmf
command -v dot >/dev/null 2>&1 || apt_install graphviz
# nm and readelf: a test checks the kernel's hot-path section (kernel/hot.ld).
command -v readelf >/dev/null 2>&1 || apt_install binutils

# `tools/setup.sh bench` (from `make bench`): also what the Linux pipe
# benchmark needs (tools/linux-pipe): a C compiler and static libc, cpio,
# and Debian's current 6.1 kernel (the `linux-image-amd64` package's
# dependency), unpacked into target/linux/ without being installed.
if [ "${1:-}" = bench ]; then
  { command -v gcc >/dev/null 2>&1 && [ -f /usr/lib/x86_64-linux-gnu/libc.a ]; } ||
    apt_install gcc libc6-dev
  command -v cpio >/dev/null 2>&1 || apt_install cpio
  if [ ! -f target/linux/vmlinuz ]; then
    [ -n "$apt_updated" ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; apt_updated=1; }
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[^ ]*\)$/\1/p' | head -1)
    say "fetching $pkg for the Linux pipe benchmark"
    rm -rf target/linux/pkg && mkdir -p target/linux/pkg
    # (apt warns, harmlessly, that root downloads unsandboxed: kept quiet.)
    (cd target/linux/pkg && apt-get download -qq "$pkg" 2>/dev/null) ||
      { say "cannot fetch $pkg (apt-get download failed)"; exit 1; }
    dpkg -x target/linux/pkg/*.deb target/linux/pkg/root
    cp target/linux/pkg/root/boot/vmlinuz-* target/linux/vmlinuz
    echo "$pkg" > target/linux/version
    rm -rf target/linux/pkg
  fi
fi
exit 0
