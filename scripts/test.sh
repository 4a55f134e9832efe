#!/usr/bin/env bash
# Sets up and runs every test on a fresh machine: Debian's PostgreSQL and Redis servers
# (the tests start their own, in temporary directories, on Unix sockets) and Chromium
# (the browser tests run it headless), the wasm target, the walkers (examples and test
# walkers), the npm `ws` package for the seed JavaScript client; then the check that no
# crate's modules import each other in a cycle, and cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v npm >/dev/null || missing+=(nodejs npm)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
if ((${#missing[@]})); then
  echo "installing Debian's ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

./scripts/check-cycles.py
./scripts/build-walkers.sh --with-tests
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
cargo test --release "$@"
