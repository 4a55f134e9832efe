#!/usr/bin/env bash
# Builds every example walker, in every language, into walkers/:
#   chat.wasm (Rust), python-chat.wasm, js-chat.wasm, c-chat.wasm, zig-chat.wasm
# and, with --with-tests, the test walkers into target/test-walkers/.
# Installs the pinned tools it needs (wasm target, pip packages in a venv, npm packages
# from a lockfile, Debian's clang and wasi-libc, wit-bindgen, Zig and jaclang from PyPI); a tool it cannot install
# is an error that says what to install. Files are renamed into place, so a running
# server's hot reload never sees a half-written component.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/tools.sh

WIT_BINDGEN_VERSION=0.63.0
OUT=target/wasm32-wasip2/wasm

deploy() { # deploy <built file> <destination>
  mkdir -p "$(dirname "$2")"
  cp "$1" "$(dirname "$2")/.$(basename "$2").tmp"
  mv "$(dirname "$2")/.$(basename "$2").tmp" "$2"
}

# up_to_date <output> <input>... : the output exists and is newer than every input
# (componentize-py and componentize-js take seconds and do not build reproducibly).
up_to_date() {
  local output=$1; shift
  [ -f "$output" ] && [ -z "$(find "$@" -newer "$output" -print -quit)" ]
}

rust() {
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || die "rustup could not add the wasm32-wasip2 target"
  cargo build --quiet --profile wasm --target wasm32-wasip2 "$@"
}

build_rust() {
  say "building Rust walkers"
  rust -p chat-walkers
  deploy "$OUT/chat_walkers.wasm" walkers/chat.wasm
}

build_python() {
  up_to_date walkers/python-chat.wasm walkers/python/*.py wit scripts/requirements-tools.txt && return
  say "building Python walkers (componentize-py)"
  python_tools
  # --stub-wasi: no WASI imports, so the component runs in the same sandbox as the others.
  "$TOOLS/pyvenv/bin/componentize-py" -d wit -w walkers componentize chat -p walkers/python \
    -o target/python-chat.wasm --stub-wasi >/dev/null
  deploy target/python-chat.wasm walkers/python-chat.wasm
}

build_js() {
  up_to_date walkers/js-chat.wasm walkers/js/*.js walkers/js/package-lock.json wit && return
  say "building JavaScript walkers (componentize-js)"
  command -v npm >/dev/null || apt_install nodejs npm
  npm ci --prefix walkers/js --no-audit --no-fund --loglevel=error >/dev/null
  # Every optional feature disabled: no WASI imports, same sandbox as the others.
  (cd walkers/js && npx --no-install componentize-js chat.js --wit ../../wit --world-name walkers \
    -d stdio random clocks http fetch-event -o ../../target/js-chat.wasm >/dev/null)
  deploy target/js-chat.wasm walkers/js-chat.wasm
}

# The C SDK's bindings (`wit-bindgen c`), shared by the C and Zig builds.
C_GEN=target/c-gen
c_bindings() {
  if ! "$TOOLS/bin/wit-bindgen" --version 2>/dev/null | grep -q "$WIT_BINDGEN_VERSION"; then
    say "installing wit-bindgen-cli $WIT_BINDGEN_VERSION (cargo, a few minutes)"
    cargo install --quiet --locked --root "$TOOLS" "wit-bindgen-cli@$WIT_BINDGEN_VERSION"
  fi
  rm -rf "$C_GEN" && "$TOOLS/bin/wit-bindgen" c wit --world walkers --out-dir "$C_GEN" >/dev/null 2>&1
}

build_c() {
  up_to_date walkers/c-chat.wasm walkers/c wit && return
  say "building C walkers (clang, wit-bindgen, wasm-tools)"
  { command -v clang && command -v wasm-ld && [ -f /usr/include/wasm32-wasi/stdlib.h ]; } >/dev/null ||
    apt_install clang lld wasi-libc libclang-rt-dev-wasm32
  python_tools
  c_bindings
  # Debian's clang 14 targets WASI preview 1: build a core module that uses no WASI
  # (allocation only), then wrap it as a component.
  clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror -Wno-unused-function \
    -I "$C_GEN" -I walkers/c walkers/c/chat.c walkers/c/walker.c "$C_GEN/walkers.c" "$C_GEN/walkers_component_type.o" \
    -o target/c-chat.core.wasm
  "$TOOLS/pyvenv/bin/wasm-tools" component new target/c-chat.core.wasm -o target/c-chat.wasm
  deploy target/c-chat.wasm walkers/c-chat.wasm
}

# Zig walkers use the C SDK: `walker.h` translated to a Zig module, the walker table in
# Zig, linked with `walker.c` by Zig's own clang and wasi-libc (the `ziglang` wheel).
build_zig() {
  up_to_date walkers/zig-chat.wasm walkers/zig walkers/c/walker.c walkers/c/walker.h wit scripts/requirements-tools.txt &&
    return
  say "building Zig walkers (ziglang, wit-bindgen, wasm-tools)"
  python_tools
  c_bindings
  local zig=("$TOOLS/pyvenv/bin/python" -m ziglang)
  "${zig[@]}" translate-c -target wasm32-wasi -lc walkers/c/walker.h >target/walker_h.zig
  "${zig[@]}" build-obj -target wasm32-wasi -O ReleaseSmall --dep c -Mroot=walkers/zig/chat.zig -Mc=target/walker_h.zig \
    -femit-bin=target/zig-chat.o
  "${zig[@]}" cc --target=wasm32-wasi -mexec-model=reactor -O2 -s -Wall -Werror -I "$C_GEN" -I walkers/c \
    walkers/c/walker.c "$C_GEN/walkers.c" "$C_GEN/walkers_component_type.o" target/zig-chat.o -o target/zig-chat.core.wasm
  "$TOOLS/pyvenv/bin/wasm-tools" component new target/zig-chat.core.wasm -o target/zig-chat.wasm
  deploy target/zig-chat.wasm walkers/zig-chat.wasm
}

build_test_walkers() {
  say "building test walkers"
  local fixtures=target/test-walkers
  rust -p test-walker-hostile -p test-walker-forbidden -p test-walker-version -p test-walker-stateful -p test-walker-graph \
    -p test-walker-simple-graph
  deploy "$OUT/test_walker_hostile.wasm" "$fixtures/hostile.wasm"
  deploy "$OUT/test_walker_graph.wasm" "$fixtures/graph.wasm"
  deploy "$OUT/test_walker_simple_graph.wasm" "$fixtures/simple_graph.wasm"
  deploy "$OUT/test_walker_forbidden.wasm" "$fixtures/forbidden.wasm"
  deploy "$OUT/test_walker_stateful.wasm" "$fixtures/stateful.wasm"
  deploy "$OUT/test_walker_version.wasm" "$fixtures/version-v1.wasm"
  rust -p test-walker-hostile --features declare-bomb
  deploy "$OUT/test_walker_hostile.wasm" "$fixtures/hostile-declare.wasm"
  rust -p test-walker-version --features v2
  deploy "$OUT/test_walker_version.wasm" "$fixtures/version-v2.wasm"
  # The Python example answering differently, to hot-reload a new version under load.
  if ! up_to_date "$fixtures/python-chat-v2.wasm" walkers/python/*.py wit scripts/requirements-tools.txt; then
    python_tools
    rm -rf target/python-v2 && cp -r walkers/python target/python-v2
    sed -i 's/"language": "python"/"language": "python-v2"/' target/python-v2/chat.py
    grep -q python-v2 target/python-v2/chat.py || die "could not make the v2 Python walker"
    "$TOOLS/pyvenv/bin/componentize-py" -d wit -w walkers componentize chat -p target/python-v2 \
      -o target/python-chat-v2.wasm --stub-wasi >/dev/null
    deploy target/python-chat-v2.wasm "$fixtures/python-chat-v2.wasm"
  fi
  # Jac apps, from their unmodified source (scripts/build-jac.sh).
  for app in simple_graph app; do
    up_to_date "$fixtures/jac-$app.wasm" "tests/walkers/jac/$app.jac" walkers/jac wit scripts/requirements-*.txt ||
      ./scripts/build-jac.sh "tests/walkers/jac/$app.jac" "$fixtures/jac-$app.wasm"
  done
  for reach in sockets http; do
    rust -p test-walker-forbidden --features "$reach"
    deploy "$OUT/test_walker_forbidden.wasm" "$fixtures/forbidden-$reach.wasm"
  done
}

build_rust
build_python
# The server builds .jac files in a walkers directory with this toolchain (see the README).
(jac_tools) || say "warning: .jac files will not build until jaclang's Python (3.12) is installed"
build_js
build_c
build_zig
[ "${1:-}" = "--with-tests" ] && build_test_walkers
ls -l walkers/*.wasm >&2
