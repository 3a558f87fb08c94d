#!/usr/bin/env bash
# Runs every check and test of the workspace, the way CI does (as root):
#
#   system packages and tools (scripts/install-deps.sh); one build;
#   rustfmt; clippy -D warnings; rustdoc -D warnings; unused dependencies
#   (cargo machete); licences, bans and sources (cargo deny, offline);
#   the unprivileged test lane, as an unprivileged user; the root lane
#   (everything, with the tests marked "requires root" and the end-to-end
#   tests, which start daemons one at a time); doc tests.
#
# Without root it runs the checks and the unprivileged lane, and says that
# the root lane did not run. CRATED_TEST_USER names the user of the
# unprivileged lane when run as root (default: nobody).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing dependencies"
scripts/install-deps.sh

# Every package of the lock file, for every platform: `cargo metadata`
# (the unprivileged lane, cargo deny) reads them all, and a fresh cache has
# only what a build downloaded.
step "cargo fetch --locked"
cargo fetch --locked

step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "cargo machete (unused dependencies)"
cargo machete

# The advisories check needs the RustSec database from the network, which
# CI does not have: only the checks that work offline run here.
step "cargo deny check licenses bans sources (offline)"
cargo deny --offline check licenses bans sources

unprivileged_lane() {
  if [[ $EUID -ne 0 ]]; then
    cargo nextest run --workspace --profile unprivileged
    return
  fi
  local user=${CRATED_TEST_USER:-nobody}
  unprivileged_meta=$(mktemp -d /tmp/crated-unprivileged.XXXXXX)
  trap 'rm -rf "$unprivileged_meta"' EXIT
  local meta=$unprivileged_meta
  # Reuse the build: the user runs the test binaries already built, through
  # nextest's build metadata, without cargo.
  cargo nextest list --workspace --list-type binaries-only --message-format json >"$meta/binaries.json"
  cargo metadata --format-version 1 --offline >"$meta/cargo.json"
  mkdir "$meta/home"
  chmod 0755 "$meta"
  chown "$user" "$meta/home"
  if ! runuser -u "$user" -- test -r Cargo.toml -a -r "$meta/binaries.json"; then
    echo "run-tests: warning: $user cannot read $PWD; the unprivileged lane runs as root instead" >&2
    cargo nextest run --workspace --profile unprivileged
    return
  fi
  runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$meta/home" \
    "$(command -v cargo-nextest)" nextest run --profile unprivileged \
    --binaries-metadata "$meta/binaries.json" --cargo-metadata "$meta/cargo.json" \
    --workspace-remap "$PWD"
}

step "unprivileged lane: cargo nextest run --profile unprivileged (as ${CRATED_TEST_USER:-nobody} when root)"
unprivileged_lane

if [[ $EUID -eq 0 ]]; then
  step "root lane: cargo nextest run --profile root --run-ignored all"
  cargo nextest run --workspace --profile root --run-ignored all
else
  echo "run-tests: warning: not root; the root lane (tests marked \"requires root\" and crated-e2e) did not run" >&2
fi

step "cargo test --doc --workspace"
cargo test --doc --workspace

step "all checks passed"
