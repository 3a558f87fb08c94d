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
#   golang-go, golang-github-containerd-containerd-dev
#                      a Go program on containerd 1.6's client library (e2e)
#   containernetworking-plugins  CNI plugins (/usr/lib/cni) for pod networking tests
#   iproute2           ip, to check links and addresses in pod namespaces
#
# Idempotent: it only runs `apt-get update`/`install` when a package is
# missing, and needs root (or sudo) only then and for the service settings
# below.
#
# The packages' services are not wanted: the tests start their own daemons
# and registries on private sockets and 127.0.0.1. So the install runs with
# a policy-rc.d that forbids starting services (removed afterwards unless it
# was already there), containerd, docker-registry and docker are
# disabled at boot (systemctl/update-rc.d work without a running systemd),
# and the registry's packaged config listens on 127.0.0.1:5000 instead of
# every interface (Debian's default is `addr: :5000`).
set -euo pipefail

packages=(protobuf-compiler containerd runc crun criu busybox-static btrfs-progs docker-registry docker.io python3-grpcio python3-venv golang-go golang-github-containerd-containerd-dev containernetworking-plugins iproute2)

# Services these packages enable at boot; the tests start their own
# instances on private sockets and 127.0.0.1.
services=(containerd docker-registry docker)

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "install-deps: need root for: $* (no sudo found)" >&2
    return 1
  fi
}

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    # invoke-rc.d asks policy-rc.d; 101 means "action forbidden".
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 0755 $policy"
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for svc in "${services[@]}"; do
  for unit in "$svc.service" "$svc.socket"; do
    if [[ -e /lib/systemd/system/$unit ]] && command -v systemctl >/dev/null &&
      systemctl is-enabled --quiet "$unit" 2>/dev/null; then
      echo "install-deps: disabling $unit at boot" >&2
      as_root systemctl disable --quiet "$unit"
    fi
  done
  if [[ -x /etc/init.d/$svc ]] && command -v update-rc.d >/dev/null &&
    compgen -G "/etc/rc[2-5].d/S*$svc" >/dev/null; then
    echo "install-deps: disabling the $svc init script at boot" >&2
    as_root update-rc.d "$svc" disable >/dev/null
  fi
done

registry_config=/etc/docker/registry/config.yml
if [[ -f $registry_config ]] && grep -Eq '^[[:space:]]+addr:[[:space:]]*:5000[[:space:]]*$' "$registry_config"; then
  echo "install-deps: the packaged registry now listens on 127.0.0.1:5000 only" >&2
  as_root sed -i -E 's/^([[:space:]]+addr:)[[:space:]]*:5000[[:space:]]*$/\1 127.0.0.1:5000/' "$registry_config"
fi

# PyPI's grpcio in its own venv (the e2e tests look for it here).
GRPCIO_VENV=/opt/crated-test/grpcio-venv
if ! "$GRPCIO_VENV/bin/python" -c 'import grpc' 2>/dev/null; then
  echo "install-deps: installing PyPI grpcio into $GRPCIO_VENV" >&2
  /usr/bin/python3 -m venv "$GRPCIO_VENV"
  "$GRPCIO_VENV/bin/pip" install -q 'grpcio>=1.60'
fi

# Node.js and npm's `spdy-transport`: an independent SPDY/3.1 client for the
# CRI streaming server's tests (test-only; kept out of the repository).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-deps: installing nodejs npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends nodejs npm
fi
test_node=/var/tmp/crated-test-node
if [[ ! -d $test_node/node_modules/spdy-transport ]]; then
  echo "install-deps: installing npm spdy-transport into $test_node" >&2
  npm install --prefix "$test_node" --no-audit --no-fund --loglevel=error spdy-transport@3 >&2
fi

for tool in protoc ctr runc crun busybox mkfs.btrfs btrfs docker-registry go /usr/sbin/dockerd /usr/bin/docker ip nsenter node; do
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
