#!/usr/bin/env bash
# Builds the fuzz targets (nightly, sanitizers) and runs each for a bounded time,
# starting from the committed seeds. A crash fails the run and leaves its input
# in fuzz/artifacts/<target>/; fix it and keep the input as a regression test.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]        (default 30)
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
target_dir=${CARGO_TARGET_DIR:-target}/fuzz
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
targets=(token_verify gumroad_parse checkout_parse storefront_json_parse)
cargo +nightly fuzz build -O --target-dir "$target_dir"
for target in "${targets[@]}"; do
  # Work on a copy of the seeds, so the committed corpus stays small.
  if ! compgen -G "corpus/$target/*" >/dev/null; then
    echo "fuzz: $target has no committed seeds in fuzz/corpus/$target/" >&2
    exit 1
  fi
  corpus=$(mktemp -d)
  cp corpus/"$target"/* "$corpus"/
  cargo +nightly fuzz run -O --target-dir "$target_dir" "$target" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|.*panicked)' || true
  rm -rf "$corpus"
  if compgen -G "artifacts/$target/crash-*" >/dev/null; then
    echo "fuzz: $target crashed; inputs in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  echo "fuzz: $target ran ${seconds}s without a crash"
done
