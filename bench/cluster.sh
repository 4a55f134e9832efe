#!/usr/bin/env bash
# Cluster mode: two walker-host instances on one Redis (loopback TCP), beside one
# walker-host alone and jac-cloud's two-instance mode (SOCKET_REDIS_HOST) on the same
# Redis, in the same run. Scenarios (loadgen fanout; the publisher on the first
# instance, subscribers alternating between the second and the first):
#   latency   one subscriber on the other instance, 1 000 messages/s (also with the
#             instances on Redis' Unix socket instead of TCP);
#   burst     one subscriber on the other instance, as fast as a window of 1 000 allows;
#   fan-out   1 000 subscribers over both instances (beside: all on one instance alone);
#   outage    walker round trips on the first instance (`public_group`, which notifies a
#             channel) while Redis is killed and restarted: errors, and the time until
#             the instance is subscribed again.
# jac-cloud is skipped, with a message, when its anchor (bench/compare.sh) is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHOR=${JAC_ANCHOR_DIR:-../shared/anchors/jac-cloud}
JAC_VENV=${JAC_VENV:-/tmp/jacref/venv}
WORK=$(mktemp -d /tmp/bench-cluster.XXXXXX)
REDIS_PORT=6391
trap 'kill $(jobs -p) 2>/dev/null || true; redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
ulimit -n 65536 2>/dev/null || true
cargo build --release --quiet -p walker-host -p loadgen
LOADGEN=target/release/loadgen
SECS=${SECS:-10}

start_redis() {
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --unixsocket "$WORK/redis.sock" --save "" --appendonly no --daemonize yes \
    --dir "$WORK" --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
  until redis-cli -p $REDIS_PORT ping >/dev/null 2>&1; do sleep 0.01; done
}
wait_up() { until curl -fsS "$1" >/dev/null 2>&1; do sleep 0.05; done; }

# serve <port> [flags…]: a walker-host on the example walkers.
serve() {
  local port=$1; shift
  target/release/walker-host --listen 127.0.0.1:"$port" --walkers-dir walkers --data-dir "$WORK/data-$port" \
    --cache-dir "$WORK/compiled" --token-secret bench-secret-shared-by-the-cluster --address-connections 100000 --ws-events-per-second 10000000 "$@" >"$WORK/server-$port.log" 2>&1 &
  wait_up "http://127.0.0.1:$port/readyz"
}

# scenarios <label> <base> <peer> <burst messages>
scenarios() {
  local label=$1 base=$2 peer=$3 burst=$4
  lg() { "$LOADGEN" --label "$label" --base "$base" --max-secs 60 "$@" | tail -n "$ROWS"; ROWS=1; }
  lg fanout --subscribers 1 --messages $((SECS * 1000)) --rate 1000 --peer "$peer"
  lg fanout --subscribers 1 --messages "$burst" --window 1000 --peer "$peer"
  lg fanout --subscribers 1000 --messages 200 --peer "$peer"
}

start_redis
ROWS=2 # the first result comes with the table's header
serve 8031 --redis redis://127.0.0.1:$REDIS_PORT
serve 8032 --redis redis://127.0.0.1:$REDIS_PORT
serve 8033
scenarios "walker-host x2" http://127.0.0.1:8031 http://127.0.0.1:8032 100000
"$LOADGEN" --label "walker-host alone" --base http://127.0.0.1:8033 fanout --subscribers 1000 --messages 200 | tail -n 1
serve 8036 --redis "redis+unix://$WORK/redis.sock"
serve 8037 --redis "redis+unix://$WORK/redis.sock"
"$LOADGEN" --label "walker-host x2, Unix socket" --base http://127.0.0.1:8036 \
  fanout --subscribers 1 --messages $((SECS * 1000)) --rate 1000 --peer http://127.0.0.1:8037 | tail -n 1

# The outage: round trips through a notifying walker while Redis is down for 2 s.
PUBLIC_TOPIC=wh:t:default:u:000000000000000000000001
"$LOADGEN" --label "walker-host x2, Redis down 2 s" --base http://127.0.0.1:8031 --max-secs 6 \
  walker-rtt --requests 100000000 --walker public_group --context '{"channel_id": "outage"}' | tail -n 1 &
RTT=$!
sleep 2
redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true
sleep 2
start_redis
back=$(date +%s%N)
until [ "$(redis-cli -p $REDIS_PORT pubsub numsub $PUBLIC_TOPIC | tail -n 1)" = 1 ]; do sleep 0.005; done
echo "the instance was subscribed again $(( ($(date +%s%N) - back) / 1000000 )) ms after Redis came back"
wait $RTT
grep -h 'cluster_publish_dropped_total \|cluster_gaps_total ' <(curl -fsS http://127.0.0.1:8031/metrics) || true
kill $(jobs -p) 2>/dev/null || true
wait 2>/dev/null || true

# jac-cloud's two instances on the same Redis.
if [ ! -x "$JAC_VENV/bin/jac" ] || [ ! -f "$ANCHOR/serve.sh" ]; then
  echo "jac-cloud: skipped (no anchor at $ANCHOR or no venv at $JAC_VENV; bench/compare.sh installs it)"
  exit 0
fi
for port in 8034 8035; do
  SOCKET_REDIS_HOST=redis://127.0.0.1:$REDIS_PORT RUN_DIR="$WORK/jac-$port" VENV="$JAC_VENV" \
    "$ANCHOR/serve.sh" $port >/dev/null
done
scenarios "jac-cloud x2" http://127.0.0.1:8034 http://127.0.0.1:8035 10000
kill "$(cat "$WORK/jac-8034/server.pid")" "$(cat "$WORK/jac-8035/server.pid")" 2>/dev/null || true
