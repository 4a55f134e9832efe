#!/usr/bin/env bash
# Hostile load: a healthy client's walker round trips (one connection, closed loop) alone,
# then while an attacker, in turn:
#   login    posts wrong passwords to /user/login from 32 clients;
#   connect  opens 2 000 connections at a time, over and over;
#   events   floods walker events on one connection, never reading, reconnecting when closed;
#   spin     runs `spin` (loops until its 1 s time limit) from 8 connections;
# and finally 64 connections keep calling a walker while its component is swapped 100
# times (the target: 0 failed calls). The server runs on its defaults. The attacker is a
# loadgen at nice 19 in its own process group: a real one runs on machines of its own,
# and what is measured is the server's defences, not two cores shared with its client.
# Prints one loadgen row per measurement, then the healthy p99 under each attack as a
# ratio to the lower of its two baselines (first and last) from the same run.
# Needs the test walkers: scripts/build-walkers.sh --with-tests.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/bench-hostile.XXXXXX)
PORT=8016
BASE=http://127.0.0.1:$PORT
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ulimit -n 65536 2>/dev/null || true
cargo build --release --quiet -p walker-host -p loadgen
mkdir -p "$WORK/walkers"
cp walkers/chat.wasm target/test-walkers/hostile.wasm "$WORK/walkers/"
target/release/walker-host --listen 127.0.0.1:$PORT --walkers-dir "$WORK/walkers" --data-dir "$WORK/data" \
  --walker-time-ms 1000 >"$WORK/server.log" 2>&1 &
PID=$!
until curl -fsS "$BASE/readyz" >/dev/null 2>&1; do sleep 0.05; done

SECS=${SECS:-10}
loadgen() { target/release/loadgen --server-pid "$PID" --base "$BASE" "$@"; }
measure() {
  loadgen --label "healthy, $1" --max-secs "$SECS" --json walker-rtt --connections 1 --requests 10000000 |
    tee -a "$WORK/measured.jsonl"
}
source bench/attack.sh
ATTACKER=(target/release/loadgen --base "$BASE" --max-secs $((SECS + 5)))

loadgen --max-secs 2 walker-rtt --requests 10000000 >/dev/null
measure "alone"
attack login "${ATTACKER[@]}" login-flood --connections 32
attack connect "${ATTACKER[@]}" idle --connections 2000
attack events "${ATTACKER[@]}" event-flood
attack spin "${ATTACKER[@]}" walker-rtt --connections 8 --requests 10000000 --walker spin
measure "alone again"
loadgen --label "hot swaps" --json hot-swap --walkers-dir "$WORK/walkers" --walker version \
  --versions target/test-walkers/version-v1.wasm target/test-walkers/version-v2.wasm --swaps 100 --connections 64 |
  tee -a "$WORK/measured.jsonl"
curl -fsS "$BASE/metrics" | grep -E '^walker_host_(rate_limit|walker_loads_total)' || true

report healthy
