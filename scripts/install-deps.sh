#!/usr/bin/env bash
# Installs what building and testing crated needs, and checks the Rust tools.
#
#   protobuf-compiler  protoc, for the containerd API crates' build scripts
#   containerd         its `ctr`, the independent client of the e2e tests
#   runc               the OCI runtime (runtime work builds on it)
#   busybox-static     test images are built from it
#   crun               the second OCI runtime the shim can select
#   criu               checkpoint support (runc checkpoint needs it)
#   btrfs-progs        the btrfs snapshotter and its loop-device tests
#   docker-registry    a real OCI registry on 127.0.0.1 for pull/push tests
#
# and the Rust tools the checks use, with `cargo install --locked` when
# missing: cargo-nextest (the test runner), cargo-machete (unused
# dependencies) and cargo-deny (licences, bans, sources).
#
# Idempotent: it only runs `apt-get update`/`install` when a package is
# missing, and needs root (or sudo) only then.
set -euo pipefail

packages=(protobuf-compiler containerd runc crun criu busybox-static btrfs-progs docker-registry)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=()
  if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null; then
      sudo=(sudo)
    else
      echo "install-deps: need root to install ${missing[*]} (no sudo found)" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for tool in protoc ctr runc crun busybox mkfs.btrfs btrfs docker-registry; do
  if ! command -v "$tool" >/dev/null; then
    echo "install-deps: $tool is still missing after installing ${packages[*]}" >&2
    exit 1
  fi
done

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found; install Rust with rustup; rust-toolchain.toml picks the version" >&2
  exit 1
fi
for tool in cargo-nextest cargo-machete cargo-deny; do
  if ! command -v "$tool" >/dev/null; then
    echo "install-deps: $tool not found; installing it with cargo install --locked" >&2
    cargo install --locked "$tool"
  fi
done
echo "install-deps: ok ($(ctr --version | head -1); $(protoc --version); $(cargo nextest --version | head -1); $(cargo machete --version 2>&1 | head -1); $(cargo deny --version))" >&2
