#!/usr/bin/env bash
# Builds a jac-cloud app's .jac file into a walker component, ahead of time:
#   scripts/build-jac.sh app.jac app.wasm
# `jac jac2py` (jaclang, pinned in requirements-jac.txt) turns the unmodified file into
# Python; componentize-py packages it with the Jac runtime (walkers/jac/runtime), which
# runs it over the host's interfaces, into one component with no WASI imports. Copy the
# .wasm into a walkers directory on any server: it needs no Python there.
#   scripts/build-jac.sh --fingerprint
# prints what a build depends on besides the .jac file (this script, the pinned tools,
# the WIT, the Jac runtime), hashed: walker-host keys its cache of builds with it.
set -euo pipefail
if [ "${1:-}" = --fingerprint ]; then
  cd "$(dirname "$0")/.."
  find scripts/build-jac.sh scripts/tools.sh scripts/requirements-*.txt wit walkers/jac/runtime -type f \
    ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
  exit
fi
[ $# -eq 2 ] || { echo "usage: $0 <app.jac> <out.wasm> | --fingerprint" >&2; exit 2; }
source_file=$(realpath "$1")
out=$(realpath -m "$2")
cd "$(dirname "$0")/.."
source scripts/tools.sh

[ -f "$source_file" ] || die "no such file: $1"
python_tools
jac_tools
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# jac2py writes the generated module to standard output, and the compiler's complaints
# (with the file's name) to standard error.
if ! "$TOOLS/jacvenv/bin/jac" jac2py "$source_file" >"$work/jacapp.py" 2>"$work/errors" ||
  [ ! -s "$work/jacapp.py" ]; then
  cat "$work/errors" >&2
  die "$1 does not compile"
fi
"$TOOLS/pyvenv/bin/componentize-py" -d wit -w walkers componentize jacworld -p walkers/jac/runtime -p "$work" \
  -o "$work/app.wasm" --stub-wasi >"$work/log" 2>&1 || { cat "$work/log" >&2; die "componentize-py failed"; }
mkdir -p "$(dirname "$out")"
mv "$work/app.wasm" "$out"
