#!/usr/bin/env bash
# Side-by-side benchmark: the same load scenarios against walker-host and against
# jac-cloud 0.2.11 (installed and started by the team's anchor scripts), one server after
# the other, on loopback. Writes bench/results/{walker-host,jac-cloud}.jsonl, prints the
# table with ratios and draws bench/chart.png.
#
# Usage: bench/compare.sh            (JAC_ANCHOR_DIR, JAC_VENV and QUICK=1 are optional)
# jac-cloud is skipped, with a message, when its anchor scripts or Python 3.12 are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHOR=${JAC_ANCHOR_DIR:-../shared/anchors/jac-cloud}
JAC_VENV=${JAC_VENV:-/tmp/jacref/venv}
OUT=bench/results
WORK=$(mktemp -d /tmp/bench.XXXXXX)
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" || true
# Each process needs a descriptor per connection, plus a few of its own.
IDLE=$(( $(ulimit -n) > 20100 ? 20000 : $(ulimit -n) - 500 ))
scale() { if [ "${QUICK:-}" = 1 ]; then echo $(( ($1 + 9) / 10 )); else echo "$1"; fi; }

./scripts/build-walkers.sh --with-tests >/dev/null 2>&1
cargo build --release --quiet -p walker-host -p loadgen
LOADGEN=target/release/loadgen
. bench/graph-scenarios.sh

wait_up() { # wait_up <base url> [path]: walker-host has /readyz (walkers loaded), jac-cloud /healthz
  for _ in $(seq 1 120); do curl -fsS "$1${2:-/healthz}" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

# run_scenarios <label> <base> <pid> <divisor> : the same scenarios, counts divided for slow servers
run_scenarios() {
  local label=$1 base=$2 pid=$3 div=$4 out="$OUT/$1.jsonl"
  : >"$out"
  lg() { "$LOADGEN" --json --label "$label" --base "$base" --server-pid "$pid" --max-secs 120 "$@" >>"$out" \
           || echo "  $label: $* failed" >&2; }
  n() { local v; v=$(scale $(( $1 / div ))); echo $(( v > 0 ? v : 1 )); }
  echo "== $label" >&2
  # First, on a fresh server: later scenarios grow heaps that idle connections would reuse.
  lg idle --connections "$(( div > 1 ? 2000 : IDLE ))"
  lg walker-rtt --connections 1 --requests "$(n 20000)" --walker -
  lg walker-rtt --connections 1 --requests "$(n 20000)"
  lg walker-rtt --connections 64 --requests "$(n 500)"
  lg rest --connections 16 --requests "$(n 2000)"
  # Fan-out counts give each row at least 5 s of sending on walker-host (~1 M deliveries/s).
  lg fanout --subscribers 100 --messages "$(n 60000)"
  lg fanout --subscribers 1000 --messages "$(n 7500)"
  lg fanout --subscribers 1000 --messages "$(n 5000)" --via walker
  lg fanout --subscribers 10000 --messages "$(n 600)"
  graph_scenarios
  if [ "$div" = 1 ]; then # jac-cloud writes 16-40 items/s: 100 000 would take an hour
    lg graph --op write --via rest --connections 1 --requests 5000 --items 100000
  fi
}

# --- walker-host ---
mkdir -p "$WORK/walkers"
cp walkers/chat.wasm "$WORK/walkers/"
# Quotas raised for the 100 000-item scenario.
target/release/walker-host --listen 127.0.0.1:8010 --walkers-dir "$WORK/walkers" --data-dir "$WORK/data" \
  --quota-nodes 1000000 --quota-edges 1000000 --quota-bytes 1000000000 --registrations-per-minute 100000 >"$WORK/walker-host.log" 2>&1 &
OURS=$!
trap 'kill $OURS 2>/dev/null || true' EXIT
wait_up http://127.0.0.1:8010 /readyz || { echo "walker-host did not start"; cat "$WORK/walker-host.log"; exit 1; }
run_scenarios walker-host http://127.0.0.1:8010 "$OURS" 1
"$LOADGEN" --json --label walker-host --base http://127.0.0.1:8010 reload --walkers-dir "$WORK/walkers" \
  --wasm target/test-walkers/version-v1.wasm --walker version --rounds 5 >>"$OUT/walker-host.jsonl"
kill "$OURS"; wait "$OURS" 2>/dev/null || true

# serve_jac <port>: the anchor's serve.sh, on chat.jac plus bench/jac/*.jac (walkers
# walker-host's examples have and chat.jac lacks, such as list_items).
serve_jac() {
  mkdir -p "$WORK/jac" && cat "$ANCHOR/chat.jac" bench/jac/*.jac >"$WORK/jac/chat.jac"
  (cd "$WORK/jac" && DATABASE_PATH="$WORK/jac/db" TOKEN_SECRET=bench UV_ACCESS_LOG=false \
    nohup "$JAC_VENV/bin/jac" serve chat.jac --host 127.0.0.1 --port "$1" >"$WORK/jac/server.log" 2>&1 &
    echo $! >"$WORK/jac/server.pid")
  wait_up "http://127.0.0.1:$1"
}

# --- jac-cloud ---
: >"$OUT/jac-cloud.jsonl"
if [ ! -x "$ANCHOR/serve.sh" ]; then
  echo "jac-cloud: skipped (no anchor scripts at $ANCHOR)"
else
  if [ ! -x "$JAC_VENV/bin/jac" ]; then
    PY=$(ls "$HOME"/.pyenv/versions/3.12*/bin/python3 2>/dev/null | head -1 || true)
    PY=${PY:-$(command -v python3.12 || true)}
    if [ -z "$PY" ] || ! VENV="$JAC_VENV" PY="$PY" "$ANCHOR/setup.sh" >"$WORK/jac-setup.log" 2>&1; then
      echo "jac-cloud: skipped (setup failed or Python 3.12 missing; see $WORK/jac-setup.log)"
      JAC_VENV=""
    fi
  fi
  if [ -n "$JAC_VENV" ] && serve_jac 8011; then
    JAC=$(cat "$WORK/jac/server.pid")
    trap 'kill $JAC 2>/dev/null || true' EXIT
    run_scenarios jac-cloud http://127.0.0.1:8011 "$JAC" 20
    kill "$JAC"; wait "$JAC" 2>/dev/null || true
  elif [ -n "$JAC_VENV" ]; then
    echo "jac-cloud: skipped (it did not start)"
  fi
fi

python3 bench/report.py "$OUT" bench/chart.png
