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
#   containernetworking-plugins  CNI plugins (/usr/lib/cni) for pod networking tests
#   iproute2           ip, to check links and addresses in pod namespaces
#
# Idempotent: it only runs `apt-get update`/`install` when a package is
# missing, and needs root (or sudo) only then.
set -euo pipefail

packages=(protobuf-compiler containerd runc crun criu busybox-static btrfs-progs docker-registry containernetworking-plugins iproute2)

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

# Node.js and npm's `spdy-transport`: an independent SPDY/3.1 client for the
# CRI streaming server's tests (test-only; kept out of the repository).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-deps: installing nodejs npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [[ $EUID -eq 0 ]]; then as_root=(); else as_root=(sudo); fi
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends nodejs npm
fi
test_node=/var/tmp/crated-test-node
if [[ ! -d $test_node/node_modules/spdy-transport ]]; then
  echo "install-deps: installing npm spdy-transport into $test_node" >&2
  npm install --prefix "$test_node" --no-audit --no-fund --loglevel=error spdy-transport@3 >&2
fi

for tool in protoc ctr runc crun busybox mkfs.btrfs btrfs docker-registry ip nsenter node; do
  if ! command -v "$tool" >/dev/null; then
    echo "install-deps: $tool is still missing after installing ${packages[*]}" >&2
    exit 1
  fi
done

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found; install Rust with rustup; rust-toolchain.toml picks the version" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: cargo-nextest not found; installing it with cargo install" >&2
  cargo install --locked cargo-nextest
fi
echo "install-deps: ok ($(ctr --version | head -1); $(protoc --version); $(cargo nextest --version | head -1))" >&2
