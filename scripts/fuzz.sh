#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for a bounded time each.
#
#   scripts/fuzz.sh            60 s per target (what CI runs)
#   scripts/fuzz.sh 600        the documented long run: 10 min per target
#   scripts/fuzz.sh 60 bolt    one target
#
# Corpora and crash artifacts live under ${CRATED_FUZZ_WORK:-/var/tmp/crated-fuzz}
# (outside the repository). A crash fails the script and names the input
# file; turn it into a regression test beside the code it broke.
#
# cargo-fuzz passes unstable -Z flags (sanitizer, coverage); the pinned
# stable toolchain accepts them with RUSTC_BOOTSTRAP=1, and ships the
# AddressSanitizer runtime, so no nightly toolchain is needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
only=${2:-}
work=${CRATED_FUZZ_WORK:-/var/tmp/crated-fuzz}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CRATED_FUZZ_TARGET:-/var/tmp/crated-fuzz-target}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

if [[ -n $only ]]; then
  targets=$only
  cargo fuzz build --fuzz-dir fuzz "$only" >&2
else
  targets=$(cargo fuzz list --fuzz-dir fuzz)
  cargo fuzz build --fuzz-dir fuzz >&2
fi

failed=()
for target in $targets; do
  corpus=$work/corpus/$target
  artifacts=$work/artifacts/$target/
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: $target for ${seconds}s" >&2
  if ! cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 \
      -artifact_prefix="$artifacts" -print_final_stats=1 2>"$work/$target.log"; then
    failed+=("$target")
    tail -n 40 "$work/$target.log" >&2
  else
    grep -E "stat::number_of_executed_units|Done" "$work/$target.log" | tail -n 2 >&2 || true
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: ${#failed[@]} target(s) found a crash: ${failed[*]} (inputs under $work/artifacts)" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash" >&2
