#!/usr/bin/env bash
# Sets up and runs every test on a fresh machine: the wasm target, the walkers (examples
# and test walkers), the npm `ws` package for the seed JavaScript client, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null; then
  echo "npm is missing; installing Debian's nodejs and npm" >&2
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi

./scripts/build-walkers.sh --with-tests
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
cargo test --release "$@"
