#!/usr/bin/env bash
# Builds both fuzz targets and runs each for SECONDS (default 30) on the seeded corpus; any
# crash, panic, timeout (10 s per input) or out-of-memory fails. CI runs it (.ci/run); the long
# runs recorded in docs/fuzzing.md use the same command with a larger budget.
#
#   fuzz/scripts/smoke.sh [SECONDS]
set -euo pipefail
SECONDS_PER_TARGET="${1:-30}"
FUZZ="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$FUZZ"
export RUSTC_BOOTSTRAP=1   # stable toolchain: allow -Zsanitizer and the other flags cargo-fuzz passes
bash scripts/seed.sh
cargo fuzz build -O
for target in check compile; do
  echo "--- fuzz target $target: ${SECONDS_PER_TARGET}s"
  log="$(mktemp)"
  rc=0
  cargo fuzz run "$target" -O -- -max_total_time="$SECONDS_PER_TARGET" -dict=kdl.dict \
    -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 > "$log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|INFO: seed corpus|Done [0-9]+ runs)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz target $target failed (exit $rc); the input is under fuzz/artifacts/$target/"
    exit 1
  fi
  rm -f "$log"
done
