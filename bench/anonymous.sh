#!/usr/bin/env bash
# Anonymous graph runs share the public root (#23): a reader of its neighbours (one
# connection, closed loop) alone, then beside anonymous spinners that make one graph
# call and then compute until their time limit (`g_fail` with `how: spin`, from 2
# connections), then alone again. The target: the reader's p99 beside the spinners
# within 2x its lower baseline, and no failed read. Prints one loadgen row per
# measurement and the ratios from the same run.
# Needs the test walkers: scripts/build-walkers.sh --with-tests.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/bench-anonymous.XXXXXX)
PORT=8017
BASE=http://127.0.0.1:$PORT
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cargo build --release --quiet -p walker-host -p loadgen
mkdir -p "$WORK/walkers"
cp target/test-walkers/graph.wasm "$WORK/walkers/"
target/release/walker-host --listen 127.0.0.1:$PORT --walkers-dir "$WORK/walkers" --data-dir "$WORK/data" \
  --walker-time-ms 1000 >"$WORK/server.log" 2>&1 &
PID=$!
until curl -fsS "$BASE/readyz" 2>/dev/null | grep -q '"ready":true'; do sleep 0.05; done

SECS=${SECS:-10}
PUBLIC_ROOT='{"id": "n::000000000000000000000001"}'
loadgen() { target/release/loadgen --server-pid "$PID" --base "$BASE" "$@"; }
# A few public items for the reader to list.
for name in a b c; do
  curl -fsS -X POST "$BASE/walker/g_make" -H 'content-type: application/json' -d "{\"name\": \"$name\"}" >/dev/null
done
measure() {
  loadgen --label "reader, $1" --max-secs "$SECS" --json walker-rtt --connections 1 --requests 10000000 \
    --walker g_list --context "$PUBLIC_ROOT" | tee -a "$WORK/measured.jsonl"
}
source bench/attack.sh
ATTACKER=(target/release/loadgen --base "$BASE" --max-secs $((SECS + 5)))

measure "alone"
attack spinners "${ATTACKER[@]}" walker-rtt --connections 2 --requests 10000000 --walker g_fail \
  --context '{"name": "spinner", "how": "spin"}'
measure "alone again"
report reader
