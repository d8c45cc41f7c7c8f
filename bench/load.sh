#!/usr/bin/env bash
# The load benchmark: a release build of tessera-server on loopback, driven by
# tools/loadgen (validate, activate, heartbeat, Gumroad webhooks at 1 and 64
# connections) on SQLite and on Postgres. Prints the tables and writes
# bench/results/load-<db>.json.
#
#   bench/load.sh [SECONDS]                 (default 10 s per run)
#   TESSERA_BENCH_POSTGRES=postgres://postgres@127.0.0.1/postgres bench/load.sh
#
# Postgres: a scratch database `tessera_bench` is (re)created through the
# maintenance database in TESSERA_BENCH_POSTGRES (default the local trust setup).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p tessera-server -p tessera-loadgen
mkdir -p bench/results

echo "== SQLite (sqlite_synchronous = full, the durable default)"
"$target/release/tessera-loadgen" --server "$target/release/tessera-server" --database sqlite \
  --seconds "$seconds" --out bench/results/load-sqlite.json

# The cost of durability: the write workloads again with synchronous = NORMAL.
echo "== SQLite (sqlite_synchronous = normal: faster, a power loss can drop the last writes)"
"$target/release/tessera-loadgen" --server "$target/release/tessera-server" --database sqlite \
  --sqlite-synchronous normal --workloads activate,heartbeat,webhook --connections 64 \
  --seconds "$seconds" --out bench/results/load-sqlite-normal.json

admin=${TESSERA_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
if psql "$admin" -qtAc 'select 1' >/dev/null 2>&1; then
  echo "== Postgres"
  psql "$admin" -qc 'DROP DATABASE IF EXISTS tessera_bench' -c 'CREATE DATABASE tessera_bench'
  "$target/release/tessera-loadgen" --server "$target/release/tessera-server" \
    --database "${admin%/*}/tessera_bench" --seconds "$seconds" --out bench/results/load-postgres.json
  psql "$admin" -qc 'DROP DATABASE IF EXISTS tessera_bench'
else
  echo "== Postgres: SKIPPED ($admin cannot be reached)"
fi
