#!/usr/bin/env bash
# The graph scenarios on SQLite and on PostgreSQL, one server after the other in the
# same run, on loopback: committed make_item runs over WebSocket and REST at 1 and 16
# connections, and list_items of 100 and 1 000 items. PostgreSQL (Debian's package) runs
# in a temporary cluster on a Unix socket, with its default durability (fsync on,
# synchronous_commit on). Writes bench/results/backend-{sqlite,postgres}.jsonl and
# prints the table with PostgreSQL / SQLite ratios.
#
# Usage: bench/backends.sh   (QUICK=1 for a tenth of the requests)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/results
WORK=$(mktemp -d /tmp/bench-backends.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$OUT"
scale() { if [ "${QUICK:-}" = 1 ]; then echo $(( ($1 + 9) / 10 )); else echo "$1"; fi; }

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
./scripts/build-walkers.sh >/dev/null 2>&1
cargo build --release --quiet -p walker-host -p loadgen
LOADGEN=target/release/loadgen
. bench/graph-scenarios.sh
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# From /: the postgres user may not be able to enter this directory.
as_postgres() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
as_postgres "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres >/dev/null
as_postgres "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w \
  -o "-k $WORK/pg -c listen_addresses= -c max_connections=200" start >/dev/null
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  as_postgres "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/walkers"
cp walkers/chat.wasm "$WORK/walkers/"

# run <label> [walker-host flags…]
run() {
  local label=$1 out="$OUT/$1.jsonl"; shift
  target/release/walker-host --listen 127.0.0.1:8012 --walkers-dir "$WORK/walkers" --data-dir "$WORK/data-$label" \
    --quota-nodes 1000000 --quota-edges 1000000 --quota-bytes 1000000000 --registrations-per-minute 100000 "$@" >"$WORK/$label.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do curl -fsS http://127.0.0.1:8012/readyz >/dev/null 2>&1 && break; sleep 0.5; done
  : >"$out"
  lg() { "$LOADGEN" --json --label "$label" --base http://127.0.0.1:8012 --server-pid "$SERVER" --max-secs 120 "$@" \
           >>"$out" || echo "  $label: $* failed" >&2; }
  n() { scale "$1"; }
  echo "== $label" >&2
  graph_scenarios
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}

run backend-sqlite
run backend-postgres --database "host=$WORK/pg user=postgres dbname=postgres"
# SQLite's durability (WAL, synchronous=NORMAL): a commit survives the server process
# dying, not the machine; PostgreSQL's equivalent is asynchronous commit.
as_postgres "$PGBIN/psql" -h "$WORK/pg" -U postgres -qc "CREATE DATABASE async" >/dev/null
run backend-postgres-async --database "host=$WORK/pg user=postgres dbname=async options='-c synchronous_commit=off'"

python3 - "$OUT" <<'PY'
import json, sys
def load(label):
    return {row["scenario"]: row for row in map(json.loads, open(f"{sys.argv[1]}/{label}.jsonl")) }
sqlite = load("backend-sqlite")
for title, label in [("PostgreSQL, synchronous commit (its default)", "backend-postgres"),
                     ("PostgreSQL, asynchronous commit (SQLite's durability)", "backend-postgres-async")]:
    postgres = load(label)
    print(f"\n{title}\n")
    print("| scenario | SQLite ops/s | PostgreSQL ops/s | PostgreSQL / SQLite | SQLite p50 / p99 µs | PostgreSQL p50 / p99 µs | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, s in sqlite.items():
        p = postgres.get(name, {})
        ratio = f"{p['per_second'] / s['per_second']:.2f}×" if p.get("per_second") else "-"
        print(f"| {name} | {s['per_second']:,.0f} | {p.get('per_second', 0):,.0f} | {ratio} | {s['p50_us']} / {s['p99_us']} "
              f"| {p.get('p50_us')} / {p.get('p99_us')} | {s['errors']} / {p.get('errors')} |")
PY
