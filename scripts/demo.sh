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
cargo build -p crated -p crated-ctl -p crated-shim
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

# Unreferenced content is garbage collected shortly after start (as in
# containerd); let that first collection pass before ingesting a blob that
# nothing references.
for _ in $(seq 50); do
  grep -q "garbage collected" "$log" && break
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
run "$cratectl" -a "$address" version
run "$cratectl" -a "$address" plugins ls
run "$cratectl" -a "$address" namespaces ls
run "$cratectl" -a "$address" -n demo content ls

step "running containers (default runtime io.containerd.runc.v2 -> containerd-shim-crated-v1)"
work=$(mktemp -d /tmp/crated-demo-rootfs.XXXXXX)
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys" "$rootfs/tmp" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/busybox"
for cmd in sh echo cat ls id hostname uname sleep true; do ln -sf busybox "$rootfs/bin/$cmd"; done
run "$cratectl" -a "$address" containers run --rm --rootfs "$rootfs" demo-dir /bin/sh -c 'echo "hello from a crated container: $(uname -s) $(id -u)"'
run ctr -a "$address" run --rm --rootfs "$rootfs" demo-ctr /bin/echo "hello from ctr through crated"
image=$work/busybox.tar
tar -C "$rootfs" -cf "$work/layer.tar" .
layer_digest=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir -p "$work/oci/blobs/sha256"
gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
gz_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
cp "$work/layer.tar.gz" "$work/oci/blobs/sha256/$gz_digest"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer_digest" >"$work/config.json"
config_digest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
cp "$work/config.json" "$work/oci/blobs/sha256/$config_digest"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$config_digest" "$(stat -c %s "$work/config.json")" "$gz_digest" "$(stat -c %s "$work/layer.tar.gz")" >"$work/manifest.json"
manifest_digest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
cp "$work/manifest.json" "$work/oci/blobs/sha256/$manifest_digest"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"io.containerd.image.name":"docker.io/library/demo-busybox:latest"}}]}' \
  "$manifest_digest" "$(stat -c %s "$work/manifest.json")" >"$work/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
tar -C "$work/oci" -cf "$image" oci-layout index.json blobs
run "$cratectl" -a "$address" images import "$image"
run "$cratectl" -a "$address" images ls
run "$cratectl" -a "$address" containers run --rm docker.io/library/demo-busybox:latest demo-image /bin/sh -c 'echo "hello from an image: $(ls /bin | wc -l) commands"'
run "$cratectl" -a "$address" images rm docker.io/library/demo-busybox:latest
rm -rf "$work"

if ((keep)); then
  step "crated keeps running (pid $pid) on $address"
  echo "  ctr -a $address version" >&2
  echo "  stop it with: kill $pid" >&2
  disown "$pid"
else
  step "stopping crated (pid $pid)"
fi
