#!/usr/bin/env python3
"""Prints the side-by-side table (with ratios) from bench/results/*.jsonl and draws the chart.

Usage: bench/report.py <results dir> <chart.png>
The chart needs matplotlib; when it is missing it is installed into a venv in /tmp.
"""
import json
import os
import subprocess
import sys

OURS, THEIRS = "walker-host", "jac-cloud"


def load(results, label):
    path = os.path.join(results, f"{label}.jsonl")
    if not os.path.exists(path):
        return {}
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return {row["scenario"]: row for row in rows}


def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def table(ours, theirs):
    lines = [
        f"| scenario | {OURS} ops/s | {THEIRS} ops/s | ratio | {OURS} p50 / p99 µs | {THEIRS} p50 / p99 µs | errors (ours / theirs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in ours.items():
        other = theirs.get(name)
        if row.get("rss_per_connection_kb") is not None:
            mine = row["rss_per_connection_kb"]
            theirs_kb = other and other.get("rss_per_connection_kb")
            ratio = f"{theirs_kb / mine:.1f}× less memory" if theirs_kb else "-"
            lines.append(
                f"| {name}: RSS per connection ({row['ops']} vs {other['ops'] if other else '-'} connections) "
                f"| {mine:.1f} KB | {fmt(theirs_kb, 1)} KB | {ratio} | | | "
                f"{row['errors']} / {other['errors'] if other else '-'} |"
            )
            continue
        ratio = f"{row['per_second'] / other['per_second']:.1f}×" if other and other["per_second"] else "-"
        lat = lambda r: f"{fmt(r.get('p50_us'))} / {fmt(r.get('p99_us'))}" if r else "-"
        lines.append(
            f"| {name} | {fmt(row['per_second'])} | {fmt(other and other['per_second'])} | {ratio} | "
            f"{lat(row)} | {lat(other)} | {row['errors']} / {other['errors'] if other else '-'} |"
        )
    return "\n".join(lines)


def ensure_matplotlib():
    """Re-runs this script in a venv that has matplotlib, when this Python lacks it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        venv = "/tmp/bench-venv"
        if not os.path.exists(f"{venv}/bin/python"):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([f"{venv}/bin/pip", "install", "-q", "matplotlib==3.9.2"], check=True)
        os.execv(f"{venv}/bin/python", [f"{venv}/bin/python"] + sys.argv)


def chart(ours, theirs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [n for n, r in ours.items() if r.get("rss_per_connection_kb") is None and n != "reload"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
    x = range(len(rates))
    left.bar([i - 0.2 for i in x], [ours[n]["per_second"] for n in rates], 0.4, label=OURS)
    left.bar([i + 0.2 for i in x], [theirs.get(n, {}).get("per_second", 0) for n in rates], 0.4, label=THEIRS)
    left.set_yscale("log")
    left.set_xticks(list(x), rates, rotation=30, ha="right", fontsize=8)
    left.set_ylabel("operations per second (log)")
    left.set_title("Throughput (same machine, same run)")
    left.legend()
    idle = [n for n, r in ours.items() if r.get("rss_per_connection_kb") is not None]
    mem = [ours[idle[0]]["rss_per_connection_kb"], (theirs.get(idle[0], {}) or {}).get("rss_per_connection_kb") or 0] if idle else [0, 0]
    right.bar([OURS, THEIRS], mem, color=["C0", "C1"])
    right.set_ylabel("KB of server RSS per idle connection")
    right.set_title("Memory per connection")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    results, png = sys.argv[1], sys.argv[2]
    ensure_matplotlib()
    ours, theirs = load(results, OURS), load(results, THEIRS)
    print(table(ours, theirs))
    if "reload" in ours:
        r = ours["reload"]
        print(f"\nhot reload (rename → first call): p50 {r['p50_us'] / 1000:.0f} ms, {r['notes']}")
    chart(ours, theirs, png)
    print(f"\nchart: {png}")


if __name__ == "__main__":
    main()
