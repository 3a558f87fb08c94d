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
#   docker.io          Docker Engine 20.10 (dockerd, docker), run by the e2e
#                      tests with --containerd pointed at a test crated; its
#                      service is not enabled at boot (see below)
#   python3-grpcio     a grpc-core client (Python grpcio) for the e2e tests
#   python3-venv       a venv holding PyPI's current grpcio (GRPCIO_VENV), whose
#                      grpc-core sends the socket path as :authority on unix:
#
# Idempotent: it only runs `apt-get update`/`install` when a package is
# missing, and needs root (or sudo) only then.
set -euo pipefail

packages=(protobuf-compiler containerd runc crun criu busybox-static btrfs-progs docker-registry docker.io python3-grpcio python3-venv)
# Services these packages enable at boot; the tests start their own
# instances on private sockets.
no_boot_units=(docker.service docker.socket)

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
  # Keep the packages' services from starting during the install (Debian's
  # policy-rc.d protocol: exit 101 denies), unless the host has a policy.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if command -v systemctl >/dev/null; then
    "${sudo[@]}" systemctl disable --quiet "${no_boot_units[@]}" 2>/dev/null || true
  fi
fi

# PyPI's grpcio in its own venv (the e2e tests look for it here).
GRPCIO_VENV=/opt/crated-test/grpcio-venv
if ! "$GRPCIO_VENV/bin/python" -c 'import grpc' 2>/dev/null; then
  echo "install-deps: installing PyPI grpcio into $GRPCIO_VENV" >&2
  /usr/bin/python3 -m venv "$GRPCIO_VENV"
  "$GRPCIO_VENV/bin/pip" install -q 'grpcio>=1.60'
fi

for tool in protoc ctr runc crun busybox mkfs.btrfs btrfs docker-registry /usr/sbin/dockerd /usr/bin/docker; do
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
