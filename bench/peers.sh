#!/usr/bin/env bash
# Tessera beside its peers, on this machine, in one run, with the same load
# generator (tools/loadgen, 64 connections):
#   - validate: Tessera against talos (netviper-talos 0.2.4, the Rust license
#     server on crates.io, SQLite): bind a machine (a 64-hex hardware_id), then
#     validate it;
#   - activate: Tessera against the CircuitForge server designed in seed 003
#     (FastAPI + SQLite + RS256, rebuilt in bench/peers/circuitforge.py): a new
#     machine per request on a license with seats to spare.
# Prints each row, then the ratios; writes bench/results/peers.json.
#
#   bench/peers.sh [SECONDS]     (default 10 s per run)
#
# Installs what it lacks: talos with `cargo install` (under the target
# directory), FastAPI, uvicorn and PyJWT with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
target=${CARGO_TARGET_DIR:-target}
target=$(cd "$(dirname "$target")" && pwd)/$(basename "$target")
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "$1 did not answer" >&2; exit 1; }

cargo build --release -q -p tessera-server -p tessera-loadgen
loadgen="$target/release/tessera-loadgen"
mkdir -p bench/results

talos="$target/peers/talos/bin/talos_server"
if [ ! -x "$talos" ]; then
  echo "== installing talos 0.2.4 (cargo install, once)"
  cargo install -q netviper-talos --version 0.2.4 --locked --features admin-api,jwt-auth \
    --bin talos_server --root "$target/peers/talos"
fi
python3 -c 'import fastapi, uvicorn, jwt, cryptography' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check 'fastapi==0.115.12' 'uvicorn==0.34.2' 'PyJWT[crypto]==2.10.1'

echo "== Tessera (release build, SQLite durable, rate limits off)"
"$loadgen" --server "$target/release/tessera-server" --workloads validate,activate --connections 64 \
  --seconds "$seconds" --out "$work/tessera.json"

echo "== talos 0.2.4 (SQLite): validate a bound machine"
schema=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/netviper-talos-0.2.4/scripts/sql/init_sqlite.sql | head -1)
mkdir -p "$work/talos"
python3 - "$work/talos/talos.db" "$schema" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript(open(sys.argv[2]).read())
db.execute("INSERT INTO licenses (license_id, client_id, status, license_key, tier, features)"
           " VALUES ('bench-license', 'bench', 'active', 'LIC-BNCH-0001-0002-0003', 'pro', '[]')")
db.commit()
PY
talos_port=$(free_port)
(cd "$work/talos" && TALOS_SERVER_HOST=127.0.0.1 TALOS_SERVER_PORT=$talos_port TALOS_DATABASE_TYPE=sqlite \
  TALOS_DATABASE_URL=sqlite://talos.db exec "$talos" >"$work/talos/log" 2>&1) &
pids+=($!)
wait_for "http://127.0.0.1:$talos_port/health"
talos_pid=$(pgrep -nf "$talos")
hardware=$(printf 'bench-machine' | sha256sum | cut -c1-64)
curl -sf -X POST "http://127.0.0.1:$talos_port/api/v1/client/bind" -H 'Content-Type: application/json' \
  -d "{\"license_key\":\"LIC-BNCH-0001-0002-0003\",\"hardware_id\":\"$hardware\"}" >/dev/null
"$loadgen" --peer-name talos-validate --peer-url "http://127.0.0.1:$talos_port/api/v1/client/validate" \
  --peer-body "{\"license_key\":\"LIC-BNCH-0001-0002-0003\",\"hardware_id\":\"$hardware\"}" \
  --peer-pid "$talos_pid" --connections 64 --seconds "$seconds" --out "$work/talos.json"

echo "== CircuitForge design (seed 003: FastAPI + SQLite + RS256, one uvicorn worker): activate"
mkdir -p "$work/cf"
python3 - "$work/cf/private.pem" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(sys.argv[1], "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
PY
cf_port=$(free_port)
(cd "$work/cf" && JWT_PRIVATE_KEY_PATH=private.pem ADMIN_TOKEN=bench CF_DB=cf.db \
  PYTHONPATH="$OLDPWD/bench/peers" exec python3 -m uvicorn circuitforge:app --host 127.0.0.1 --port "$cf_port" \
  --workers 1 --log-level warning >"$work/cf/log" 2>&1) &
pids+=($!)
wait_for "http://127.0.0.1:$cf_port/docs"
cf_pid=$(pgrep -nf "uvicorn circuitforge:app")
cf_key=$(curl -sf -X POST "http://127.0.0.1:$cf_port/admin/keys" -H 'Authorization: Bearer bench' \
  -H 'Content-Type: application/json' -d '{"product":"bench","tier":"pro","seats":100000000}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_display"])')
"$loadgen" --peer-name circuitforge-activate --peer-url "http://127.0.0.1:$cf_port/v1/activate" \
  --peer-body "{\"key\":\"$cf_key\",\"product\":\"bench\",\"machine_id\":\"bench-{conn}-{n}\"}" \
  --peer-pid "$cf_pid" --connections 64 --seconds "$seconds" --out "$work/cf.json"

python3 - "$work" bench/results/peers.json <<'PY'
import json, sys
work, out = sys.argv[1], sys.argv[2]
tessera = {row["workload"]: row for row in json.load(open(f"{work}/tessera.json"))["runs"]}
talos = json.load(open(f"{work}/talos.json"))["runs"][0]
cf = json.load(open(f"{work}/cf.json"))["runs"][0]
def ok(row):
    return row.get("ok_per_s", row["req_per_s"] if row["errors"] == 0 else 0)
rows = [
    ("validate", "talos 0.2.4", tessera["validate"], talos, 10),
    ("activate", "CircuitForge (seed 003)", tessera["activate"], cf, 100),
]
print()
print(f"{'workload':<10} {'peer':<24} {'Tessera ok/s':>13} {'peer ok/s':>10} {'peer errors':>12} {'ratio':>8} {'goal':>6}")
result = []
for workload, peer, ours, theirs, goal in rows:
    ratio = ok(ours) / ok(theirs) if ok(theirs) else float("inf")
    print(f"{workload:<10} {peer:<24} {ok(ours):>13,.0f} {ok(theirs):>10,.0f} {theirs['errors']:>12} {ratio:>7.1f}x {goal:>5}x")
    result.append({"workload": workload, "peer": peer, "tessera": ours, "peer_run": theirs,
                   "ratio": ratio, "goal": goal})
json.dump(result, open(out, "w"), indent=2)
print(f"results: {out}")
PY
