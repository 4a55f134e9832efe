#!/usr/bin/env bash
# Builds the example walkers and serves them on the embedded defaults
# (127.0.0.1:8000, walkers/, data/). Extra arguments go to walker-host (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-walkers.sh
exec cargo run --release --bin walker-host -- "$@"
