#!/usr/bin/env bash
# Runs every check and test of the workspace, the way CI does:
# system packages, one build, formatting, clippy, all tests (nextest; the
# end-to-end tests start real daemons one at a time and need root), doc tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing dependencies"
scripts/install-deps.sh

if [[ $EUID -ne 0 ]]; then
  echo "run-tests: warning: not root; the end-to-end tests (package crated-e2e) need root and will fail" >&2
fi

step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo nextest run --workspace --profile ci"
cargo nextest run --workspace --profile ci

step "cargo test --doc --workspace"
cargo test --doc --workspace

step "all checks passed"
