#!/usr/bin/env bash
# Before and after a change, in one run: walker-host built at REV (default: the commit
# before HEAD) and as the tree is now, each started on its own tree's Rust example walkers
# (so a change to the WIT does not stop the older host loading them) and measured
# with the same loadgen on walker-rtt, fanout and committed make_item runs. The two
# servers take turns, ROUNDS times (default 2), so drift on a noisy machine hits both;
# prints each scenario's median per server and the ratio after/before.
#
# Usage: bench/before-after.sh [REV]       (ROUNDS=n optional)
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:-HEAD~1}
ROUNDS=${ROUNDS:-2}
WORK=$(mktemp -d /tmp/before-after.XXXXXX)
OUT="$WORK/results.jsonl"

./scripts/build-walkers.sh >/dev/null 2>&1
cargo build --release --quiet -p walker-host -p loadgen
cp target/release/walker-host "$WORK/walker-host-after"
cp target/release/loadgen "$WORK/loadgen"
cp walkers/chat.wasm "$WORK/chat-after.wasm"
# The old tree shares this target directory, so only its own crates compile. Its
# artifacts replace ours there under the same names, and cargo would take them as ours
# (a path crate's fingerprint is its relative paths' times): every source of ours is
# touched after, so the next build rebuilds them.
MAIN=$PWD
git worktree add --detach --quiet "$WORK/before" "$REV"
trap 'git -C "$MAIN" worktree remove --force "$WORK/before" 2>/dev/null || true' EXIT
(cd "$WORK/before" && CARGO_TARGET_DIR="$MAIN/target" cargo build --release --quiet -p walker-host --bin walker-host)
cp target/release/walker-host "$WORK/walker-host-before"
(cd "$WORK/before" && CARGO_TARGET_DIR="$MAIN/target" cargo build --quiet --profile wasm --target wasm32-wasip2 -p chat-walkers)
cp target/wasm32-wasip2/wasm/chat_walkers.wasm "$WORK/chat-before.wasm"
find crates walker-sdk walker-sdk-derive walkers tests loadgen -name '*.rs' -exec touch {} +
cargo build --release --quiet -p walker-host

wait_up() {
  for _ in $(seq 1 120); do curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

# measure <label>: one server's round of scenarios, appended to $OUT.
measure() {
  local label=$1 base=http://127.0.0.1:8011
  rm -rf "$WORK/data" "$WORK/walkers" && mkdir -p "$WORK/walkers" && cp "$WORK/chat-$label.wasm" "$WORK/walkers/chat.wasm"
  "$WORK/walker-host-$label" --listen 127.0.0.1:8011 --walkers-dir "$WORK/walkers" --data-dir "$WORK/data" \
    --registrations-per-minute 100000 >"$WORK/$label.log" 2>&1 &
  local pid=$!
  wait_up "$base" || { echo "walker-host ($label) did not start"; cat "$WORK/$label.log"; exit 1; }
  lg() { "$WORK/loadgen" --json --label "$label" --base "$base" --server-pid "$pid" --max-secs 60 "$@" >>"$OUT"; }
  lg walker-rtt --connections 1 --requests 20000
  lg walker-rtt --connections 64 --requests 500
  lg fanout --subscribers 100 --messages 60000
  lg fanout --subscribers 1000 --messages 7500
  lg graph --op write --via ws --connections 16 --requests 1000
  lg graph --op write --via rest --connections 16 --requests 1000
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS" >&2
  measure before
  measure after
done

python3 - "$OUT" "$REV" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = {}
for row in rows:
    if row["errors"]:
        print(f"{row['label']} {row['scenario']}: {row['errors']} errors", file=sys.stderr)
    by.setdefault(row["scenario"], {}).setdefault(row["label"], []).append(row["per_second"])
print(f"| scenario | before ({sys.argv[2]}), /s | after, /s | after / before |")
print("|---|---|---|---|")
for scenario, runs in by.items():
    before, after = statistics.median(runs["before"]), statistics.median(runs["after"])
    print(f"| {scenario} | {before:,.0f} | {after:,.0f} | {after / before:.2f} |")
print(f"medians of {len(runs['before'])} rounds each; raw: {sys.argv[1]}")
EOF
