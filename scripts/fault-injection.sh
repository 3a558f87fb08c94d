#!/usr/bin/env bash
# The long form of the fault-injection suite (tests/e2e/tests/fault_injection):
# SIGKILLs of crated and of shims at seeded random points, with the inventory
# checks after each. CI runs the short form (30 points) in the root lane.
#
#   scripts/fault-injection.sh                 200 kill points, a fresh seed
#   scripts/fault-injection.sh --points 500    more
#   scripts/fault-injection.sh --seed 1234     replay a run (its seed is printed)
#
# Needs root and what scripts/install-deps.sh installs (ctr, runc,
# docker-registry, busybox-static). Builds the workspace's binaries first.
# The summary line (kill points, losses, leaks, failed requests) is printed
# last and written to ${CRATED_FAULT_SUMMARY:-/var/tmp/crated-fault-injection.summary}.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

points=200
seed=
while [[ $# -gt 0 ]]; do
  case $1 in
    --points) points=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "fault-injection: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ $points =~ ^[0-9]+$ ]] || [[ -n $seed && ! $seed =~ ^[0-9]+$ ]]; then
  echo "fault-injection: --points and --seed take whole numbers" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "fault-injection: needs root (the daemon runs containers); run it with sudo" >&2
  exit 2
fi

export CRATED_FAULT_POINTS=$points
export CRATED_FAULT_SUMMARY=${CRATED_FAULT_SUMMARY:-/var/tmp/crated-fault-injection.summary}
if [[ -n $seed ]]; then
  export CRATED_FAULT_SEED=$seed
fi
rm -f "$CRATED_FAULT_SUMMARY"
cargo build --locked --workspace --bins
status=0
cargo nextest run --locked -p crated-e2e --profile fault-injection --run-ignored all \
  -E 'binary(fault_injection)' --no-capture || status=$?
if [[ -s $CRATED_FAULT_SUMMARY ]]; then
  cat "$CRATED_FAULT_SUMMARY"
else
  echo "fault-injection: the run ended before its summary (see the output above)" >&2
fi
exit "$status"
