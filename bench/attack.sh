# Sourced by the attack benchmarks (noisy-neighbour.sh, hostile.sh). The caller defines
# `measure <label>`, which measures the protected client once and appends its loadgen
# JSON row to "$WORK/measured.jsonl".

# attack <name> <command…>: runs the command in a loop while `measure <name>` runs, then
# stops it. The attacker runs at nice 19 in a process group of its own, so that stopping
# it stops the loadgen it is running too.
attack() {
  local name=$1
  shift
  setsid nice -n 19 bash -c 'while true; do "$@" >/dev/null 2>&1 || true; done' attacker "$@" &
  local attacker=$!
  sleep 1
  measure "$name"
  kill -- -"$attacker" 2>/dev/null || true
  wait "$attacker" 2>/dev/null || true
  sleep 3 # its sockets close, its last runs end
}

# report <who>: each measured p99 as a ratio to the lower of the two baselines (the rows
# labelled "<who>, alone…"), from the same run.
report() {
  python3 - "$WORK/measured.jsonl" "$1" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
who = sys.argv[2]
alone = [row for row in rows if row["label"].startswith(f"{who}, alone")]
base = min(row["p99_us"] for row in alone)
print(f"\n{who} p99 alone: {' and '.join(str(row['p99_us']) for row in alone)} µs; ratios to {base} µs")
for row in rows:
    print(f"{row['label']:>24}: p99 {row['p99_us']} µs = {row['p99_us'] / base:.2f}x, p50 {row['p50_us']} µs, "
          f"{row['per_second']:.0f} calls/s, {row['errors']} failed, server CPU {row['server_cpu_s']} s")
PY
}
