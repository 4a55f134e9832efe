#!/usr/bin/env bash
# Builds the example walkers into walkers/ and the test walkers into target/test-walkers/.
# Files are written next to their destination and renamed into place, so a running
# server's hot reload never sees a half-written component.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null

build() { cargo build --quiet --profile wasm --target wasm32-wasip2 "$@"; }
out=target/wasm32-wasip2/wasm
deploy() { # deploy <built file> <destination>
  mkdir -p "$(dirname "$2")"
  cp "$1" "$(dirname "$2")/.$(basename "$2").tmp"
  mv "$(dirname "$2")/.$(basename "$2").tmp" "$2"
}

build -p chat-walkers
deploy "$out/chat_walkers.wasm" walkers/chat.wasm

if [ "${1:-}" = "--with-tests" ]; then
  fixtures=target/test-walkers
  build -p test-walker-hostile -p test-walker-forbidden -p test-walker-version -p test-walker-stateful
  deploy "$out/test_walker_stateful.wasm" "$fixtures/stateful.wasm"
  deploy "$out/test_walker_hostile.wasm" "$fixtures/hostile.wasm"
  deploy "$out/test_walker_forbidden.wasm" "$fixtures/forbidden.wasm"
  deploy "$out/test_walker_version.wasm" "$fixtures/version-v1.wasm"
  build -p test-walker-version --features v2
  deploy "$out/test_walker_version.wasm" "$fixtures/version-v2.wasm"
fi
ls -l walkers/*.wasm
