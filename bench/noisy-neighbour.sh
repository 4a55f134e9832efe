#!/usr/bin/env bash
# Noisy neighbour: tenant `victim`'s walker round trips (one connection, closed loop)
# alone, then while tenant `noisy`, in turn:
#   spin     runs `spin` (loops until its 1 s time limit) from 32 connections;
#   memory   runs `memory_bomb` from 32 connections, asking for more than the memory cap
#            (each run traps at once: a flood of failing calls);
#   to-cap   the same, allocating and touching 48 MiB of the 64 MiB cap (1.5 GiB at once);
#   fanout   floods channel events to its own 1 000 sockets, never waiting for them;
#   connect  opens 2 000 connections at a time, over and over.
# The attacker is a loadgen process at nice 19: a real one runs on machines of its own,
# and what is measured is the server's isolation, not two cores shared with its client.
# Both tenants have the default quotas, except the victim's runs per second. Prints one
# loadgen row per measurement, then the victim's p99 under each attack as a ratio to the
# lower of its two baselines (measured first and last) from the same run.
# Needs the test walkers: scripts/build-walkers.sh --with-tests.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/bench-noisy.XXXXXX)
PORT=8015
BASE=http://127.0.0.1:$PORT
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ulimit -n 65536 2>/dev/null || true
cargo build --release --quiet -p walker-host -p loadgen
mkdir -p "$WORK/walkers/victim" "$WORK/walkers/noisy"
cp walkers/chat.wasm "$WORK/walkers/victim/"
cp walkers/chat.wasm target/test-walkers/hostile.wasm "$WORK/walkers/noisy/"
# The victim's rates are not what is measured: its quotas are out of the way.
printf '[tenants.victim.quotas]\nruns_per_second = 1000000\nevents_per_second = 1000000\n[tenants.noisy]\n' >"$WORK/tenants.toml"
target/release/walker-host --listen 127.0.0.1:$PORT --walkers-dir "$WORK/walkers" --data-dir "$WORK/data" \
  --tenants-file "$WORK/tenants.toml" --walker-time-ms 1000 >"$WORK/server.log" 2>&1 &
PID=$!
for tenant in victim noisy; do
  until curl -fsS "$BASE/t/$tenant/readyz" >/dev/null 2>&1; do sleep 0.05; done
done

SECS=${SECS:-10}
loadgen() { target/release/loadgen --server-pid "$PID" "$@"; }
measure() {
  loadgen --base "$BASE/t/victim" --label "victim, $1" --max-secs "$SECS" --json \
    walker-rtt --connections 1 --requests 10000000 | tee -a "$WORK/measured.jsonl"
}
source bench/attack.sh

NOISY=(target/release/loadgen --server-pid "$PID" --base "$BASE/t/noisy" --max-secs $((SECS + 5)))
# Warm up (instances, caches, CPU frequency), then the baseline.
loadgen --base "$BASE/t/victim" --max-secs 2 walker-rtt --requests 10000000 >/dev/null
measure "alone"
attack spin "${NOISY[@]}" walker-rtt --connections 32 --requests 10000000 --walker spin
attack memory "${NOISY[@]}" walker-rtt --connections 32 --requests 10000000 --walker memory_bomb
attack to-cap "${NOISY[@]}" walker-rtt --connections 32 --requests 10000000 --walker memory_bomb --context '{"mib": 48}'
attack fanout "${NOISY[@]}" fanout --subscribers 1000 --messages 10000000 --via client --window 1000000
attack connect "${NOISY[@]}" idle --connections 2000
measure "alone again"

report victim
