#!/usr/bin/env bash
# Start-up time: walker-host with the example walkers of every language, first start
# (empty code cache: everything compiles) and cached start, until it listens (/healthz)
# and until every walker is served (/readyz); then jac-cloud 0.2.11 on chat.jac until
# /healthz, when its anchor venv exists. Prints one line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/bench-startup.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PID=""
cargo build --release --quiet -p walker-host
mkdir -p "$WORK/walkers" && cp walkers/*.wasm "$WORK/walkers/"

# until <url>: seconds since $START when the URL first answers 200.
until_up() {
  while ! curl -fsS "$1" >/dev/null 2>&1; do sleep 0.01; done
  echo "$(date +%s.%N) - $START" | bc
}

for run in first cached; do
  START=$(date +%s.%N)
  target/release/walker-host --listen 127.0.0.1:8013 --walkers-dir "$WORK/walkers" --data-dir "$WORK/data" \
    >"$WORK/$run.log" 2>&1 &
  PID=$!
  listen=$(until_up http://127.0.0.1:8013/healthz)
  ready=$(until_up http://127.0.0.1:8013/readyz)
  echo "walker-host $run start: listening after ${listen}s, every walker served after ${ready}s"
  kill "$PID"; wait "$PID" 2>/dev/null || true
done

JAC_VENV=${JAC_VENV:-/tmp/jacref/venv}
if [ -x "$JAC_VENV/bin/jac" ]; then
  mkdir -p "$WORK/jac" && cp ../shared/anchors/jac-cloud/chat.jac "$WORK/jac/"
  START=$(date +%s.%N)
  (cd "$WORK/jac" && DATABASE_PATH="$WORK/jac/db" TOKEN_SECRET=bench "$JAC_VENV/bin/jac" serve chat.jac \
    --host 127.0.0.1 --port 8014 >"$WORK/jac/log" 2>&1) &
  PID=$!
  echo "jac-cloud start: listening after $(until_up http://127.0.0.1:8014/healthz)s"
  pkill -f "port 8014" || true
fi
