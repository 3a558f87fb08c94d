#!/usr/bin/env bash
# Builds crated's release binaries and installs them with the systemd unit
# and a default configuration:
#
#   <prefix>/bin/crated, cratectl, containerd-shim-crated-v1
#   <prefix>/lib/systemd/system/crated.service   (ExecStart=<prefix>/bin/crated)
#   <sysconfdir>/crated/config.toml              (`crated config default`;
#                                                 an existing file is kept and
#                                                 the default goes next to it
#                                                 as config.toml.default)
#   <prefix>/share/doc/crated/README.md
#   <prefix>/share/{bash-completion/completions,zsh/site-functions,fish/vendor_completions.d}/
#                                                cratectl's completions
#                                                (`cratectl completion SHELL`)
#
# Nothing is enabled or started: afterwards run
#   systemctl daemon-reload && systemctl enable --now crated
#
# Usage: scripts/install.sh [--prefix DIR] [--sysconfdir DIR] [--destdir DIR]
#                           [--from DIR]
#   --prefix      where binaries, unit and docs go (default /usr/local)
#   --sysconfdir  where the config goes (default /etc)
#   --destdir     stage everything under DIR (for packaging); paths written
#                 into the unit stay those of --prefix
#   --from        install the binaries already built in DIR instead of
#                 running `cargo build --release`
set -euo pipefail

prefix=/usr/local
sysconfdir=/etc
destdir=
from=
while (($# > 0)); do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --sysconfdir) sysconfdir=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binaries=(crated cratectl containerd-shim-crated-v1)

if [[ -z $from ]]; then
  echo "install: building release binaries (cargo build --release)" >&2
  (cd "$repo" && cargo build --release --locked -p crated -p crated-ctl -p crated-shim)
  target=$(cd "$repo" && cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  from=$target/release
fi
for bin in "${binaries[@]}"; do
  if [[ ! -x $from/$bin ]]; then
    echo "install: $from/$bin is missing; build it first or drop --from" >&2
    exit 1
  fi
done

bindir=$destdir$prefix/bin
unitdir=$destdir$prefix/lib/systemd/system
docdir=$destdir$prefix/share/doc/crated
confdir=$destdir$sysconfdir/crated

install -d -m 0755 "$bindir" "$unitdir" "$docdir"
install -d -m 0700 "$confdir"
for bin in "${binaries[@]}"; do
  install -m 0755 "$from/$bin" "$bindir/$bin"
done
sed -e "s|^ExecStart=.*|ExecStart=$prefix/bin/crated|" \
    -e "s|file:///usr/local/share/doc/crated/README.md|file://$prefix/share/doc/crated/README.md|" \
    "$repo/contrib/systemd/crated.service" > "$unitdir/crated.service"
chmod 0644 "$unitdir/crated.service"
install -m 0644 "$repo/README.md" "$docdir/README.md"

completions=(
  "bash:$destdir$prefix/share/bash-completion/completions/cratectl"
  "zsh:$destdir$prefix/share/zsh/site-functions/_cratectl"
  "fish:$destdir$prefix/share/fish/vendor_completions.d/cratectl.fish"
)
for entry in "${completions[@]}"; do
  shell=${entry%%:*}
  file=${entry#*:}
  install -d -m 0755 "$(dirname "$file")"
  "$bindir/cratectl" completion "$shell" > "$file"
  chmod 0644 "$file"
done

config=$confdir/config.toml
if [[ -e $config ]]; then
  config=$confdir/config.toml.default
  echo "install: keeping $confdir/config.toml; the default is in $config" >&2
fi
"$bindir/crated" config default > "$config"
chmod 0644 "$config"

echo "install: installed ${binaries[*]} in $bindir, the unit in $unitdir, the config in $confdir" >&2
echo "install: enable with: systemctl daemon-reload && systemctl enable --now crated" >&2
