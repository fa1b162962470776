#!/usr/bin/env bash
# Builds and runs the fuzz targets on stable Rust, with the flags `cargo fuzz` would pass
# (libFuzzer's coverage instrumentation, no sanitizer). With cargo-fuzz installed,
# `cargo fuzz run <target> -s none` does the same.
#
#   fuzz/run.sh build                 # build every target
#   fuzz/run.sh <target> [seconds]    # fuzz one target, single core (default 120 s)
#
# Starting inputs: `cargo test -p suanli-tests --test fuzz_regressions -- --ignored --exact write_fuzz_seeds`
# writes fuzz/corpus/<target>/. Crashes land in fuzz/artifacts/<target>/; copy each one to
# fuzz/regressions/<target>/ once fixed, so CI replays it.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
if [ "${1:-build}" = build ]; then
  exec cargo build --release --target "$TRIPLE" --bins
fi
target="$1"
seconds="${2:-120}"
cargo build --release --target "$TRIPLE" --bin "$target"
mkdir -p "corpus/$target" "artifacts/$target"
exec "$CARGO_TARGET_DIR/$TRIPLE/release/$target" -jobs=1 -workers=1 -max_total_time="$seconds" \
  -max_len=65536 -artifact_prefix="artifacts/$target/" "corpus/$target" "regressions/$target"
