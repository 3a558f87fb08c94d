#!/usr/bin/env bash
# Starts crated with a default-like configuration and exercises it with
# containerd's `ctr` and with `cratectl`.
#
#   scripts/demo.sh            root, state and socket under a new temporary
#                              directory; the daemon is stopped at the end
#   scripts/demo.sh --system   crated's defaults: /var/lib/crated, /run/crated,
#                              socket /run/crated/crated.sock (and
#                              /etc/crated/config.toml if it exists)
#   --keep                     leave the daemon running; the script prints its
#                              pid and how to stop it
#
# Needs root (crated owns its socket and directories as in production).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

system=0
keep=0
for arg in "$@"; do
  case "$arg" in
    --system) system=1 ;;
    --keep) keep=1 ;;
    -h | --help)
      sed -n '2,15p' "$0"
      exit 0
      ;;
    *)
      echo "demo: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

step() { printf '\n==> %s\n' "$*" >&2; }
run() {
  printf '$ %s\n' "$*" >&2
  "$@"
}

step "installing dependencies"
scripts/install-deps.sh

step "building"
cargo build -p crated-server -p crated-ctl
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
crated="$target_dir/debug/crated"
cratectl="$target_dir/debug/cratectl"

if ((system)); then
  address=/run/crated/crated.sock
  log=/run/crated/crated.log
  mkdir -p /run/crated
  crated_args=()
  [[ -f /etc/crated/config.toml ]] && crated_args=(-c /etc/crated/config.toml)
  if [[ -S $address ]] && ctr -a "$address" --connect-timeout 1s version >/dev/null 2>&1; then
    echo "demo: something already serves $address; stop it first" >&2
    exit 1
  fi
else
  dir=$(mktemp -d /tmp/crated-demo.XXXXXX)
  address=$dir/crated.sock
  log=$dir/crated.log
  cat >"$dir/config.toml" <<TOML
version = 3
root = "$dir/root"
state = "$dir/state"

[grpc]
address = "$address"
TOML
  crated_args=(-c "$dir/config.toml")
fi

step "starting crated ${crated_args[*]} (log: $log)"
NO_COLOR=1 "$crated" "${crated_args[@]}" >>"$log" 2>&1 &
pid=$!

stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
  fi
}
if ((!keep)); then
  trap 'stop; [[ -n ${dir:-} ]] && rm -rf "$dir"' EXIT
fi

for _ in $(seq 100); do
  [[ -S $address ]] && ctr -a "$address" --connect-timeout 1s version >/dev/null 2>&1 && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo: crated exited; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

step "driving it with containerd's ctr"
run ctr -a "$address" version
run ctr -a "$address" plugins ls
run ctr -a "$address" namespaces create demo purpose=demo
run ctr -a "$address" namespaces ls
blob=$(mktemp /tmp/crated-demo-blob.XXXXXX)
echo "hello from the crated demo" >"$blob"
run ctr -a "$address" -n demo content ingest demo-blob <"$blob"
rm -f "$blob"
run ctr -a "$address" -n demo content ls
digest=$(ctr -a "$address" -n demo content ls -q | head -1)
run ctr -a "$address" -n demo content get "$digest"
run ctr -a "$address" leases create --id demo-lease --expires 1h
run ctr -a "$address" leases ls

step "driving it with cratectl"
if "$cratectl" --help >/dev/null 2>&1 && "$cratectl" -a "$address" version >/dev/null 2>&1; then
  run "$cratectl" -a "$address" version
  run "$cratectl" -a "$address" plugins ls
  run "$cratectl" -a "$address" namespaces ls
  run "$cratectl" -a "$address" -n demo content ls
else
  echo "demo: cratectl is not usable yet; skipped" >&2
fi

if ((keep)); then
  step "crated keeps running (pid $pid) on $address"
  echo "  ctr -a $address version" >&2
  echo "  stop it with: kill $pid" >&2
  disown "$pid"
else
  step "stopping crated (pid $pid)"
fi
