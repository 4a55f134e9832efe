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
healthy() {
  loadgen --label "healthy, $1" --max-secs "$SECS" --json walker-rtt --connections 1 --requests 10000000 |
    tee -a "$WORK/healthy.jsonl"
}

# attack <name> <loadgen arguments…>: runs it in a loop while the healthy client is measured.
attack() {
  local name=$1
  shift
  setsid nice -n 19 bash -c 'while true; do "$@" >/dev/null 2>&1 || true; done' attacker \
    target/release/loadgen --base "$BASE" --max-secs $((SECS + 5)) "$@" &
  local attacker=$!
  sleep 1
  healthy "$name"
  kill -- -"$attacker" 2>/dev/null || true
  wait "$attacker" 2>/dev/null || true
  sleep 3 # its sockets close, its last runs end
}

loadgen --max-secs 2 walker-rtt --requests 10000000 >/dev/null
healthy "alone"
attack login login-flood --connections 32
attack connect idle --connections 2000
attack events event-flood
attack spin walker-rtt --connections 8 --requests 10000000 --walker spin
healthy "alone again"
loadgen --label "hot swaps" --json hot-swap --walkers-dir "$WORK/walkers" --walker version \
  --versions target/test-walkers/version-v1.wasm target/test-walkers/version-v2.wasm --swaps 100 --connections 64 |
  tee -a "$WORK/healthy.jsonl"
curl -fsS "$BASE/metrics" | grep -E '^walker_host_(rate_limit|walker_loads_total)' || true

python3 - "$WORK/healthy.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
alone = [row for row in rows if row["label"].startswith("healthy, alone")]
base = min(row["p99_us"] for row in alone)
print(f"\nhealthy p99 alone: {' and '.join(str(row['p99_us']) for row in alone)} µs; ratios to {base} µs")
for row in rows:
    print(f"{row['label']:>24}: p99 {row['p99_us']} µs = {row['p99_us'] / base:.2f}x, p50 {row['p50_us']} µs, "
          f"{row['per_second']:.0f} calls/s, {row['errors']} failed, server CPU {row['server_cpu_s']} s")
PY
