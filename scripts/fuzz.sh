#!/usr/bin/env bash
# Runs the generated-input tests (tests/fuzz.rs) with many cases per property, against a
# real server on loopback: `scripts/fuzz.sh [cases]` (a million by default). CI runs
# them with 256 cases as part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PROPTEST_CASES=${1:-1000000} exec cargo test --release -p walker-host --test fuzz -- --nocapture
