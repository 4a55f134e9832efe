# Shared by the build scripts (sourced, from the repository root): messages, Debian
# packages, and the pinned Python-distributed tools in target/tools.

TOOLS=target/tools
mkdir -p "$TOOLS"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

apt_install() { # apt_install <package>... : Debian packages, when we may install them
  command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] ||
    die "missing $*: install the Debian packages $* (apt-get install $*)"
  say "installing $* (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# venv <dir> <requirements> <python> : a venv at <dir> holding exactly <requirements>,
# made anew when they change.
venv() {
  local dir=$1 requirements=$2 python=$3
  [ -x "$dir/bin/python" ] && cmp -s "$requirements" "$dir/requirements.txt" && return
  rm -rf "$dir"
  "$python" -m venv "$dir" || die "$python cannot create a venv: install python3-venv"
  "$dir/bin/pip" install -q -r "$requirements" || die "pip could not install $requirements"
  cp "$requirements" "$dir/requirements.txt"
}

# The build tools (componentize-py, wasm-tools, Zig).
python_tools() {
  command -v python3 >/dev/null || apt_install python3 python3-venv
  venv "$TOOLS/pyvenv" scripts/requirements-tools.txt python3
}

# jaclang, which needs Python 3.12 or later: the machine's pyenv one, or python3.12/3.13.
jac_tools() {
  local python
  for python in ~/.pyenv/versions/3.1[2-9]*/bin/python3 "$(command -v python3.13)" "$(command -v python3.12)"; do
    [ -x "$python" ] && break
  done
  [ -x "$python" ] || die "jaclang needs Python 3.12 or later: install python3.12 (or pyenv's)"
  venv "$TOOLS/jacvenv" scripts/requirements-jac.txt "$python"
}
