#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs the whole suite.
# - Python venvs with the official MCP SDK, one per major, pinned in tests/interop/sdk-pins.txt
#   (.venv-mcp1: mcp==1.30.*, .venv-mcp2: mcp==2.3.*), for the interop tests; created from PyPI,
#   and recreated when the installed version falls outside its pin.
# - Schemathesis (.venv-schemathesis), for tests/schemathesis.rs; from PyPI, pinned to a range.
# - the sample servers as local binaries (proxy tests run them as plain processes) and as Docker
#   images (Docker tests deploy them); the stdio test images (mcp-server-time, mcp-server-git
#   from PyPI wheels on a debootstrapped Debian base, scripts/build-stdio-images.sh).
# - Debian's chromium, for the web console's browser tests (tests/console.rs), via apt-get.
# Tests that need Docker or chromium skip with a reason when either is missing, and fail instead when
# MCP_GATEWAY_REQUIRE_DOCKER=1 (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Whether the venv DIR holds an `mcp` inside REQUIREMENT (`mcp==X.Y.*` or `mcp==X.Y.Z`).
pinned() { # pinned DIR REQUIREMENT
  [ -x "$1/bin/python" ] && "$1/bin/python" -c '
import sys
from importlib.metadata import version
want = sys.argv[1].split("==", 1)[1]
have = version("mcp")
sys.exit(0 if (have.startswith(want[:-1]) if want.endswith("*") else have == want) else 1)
' "$2" 2>/dev/null
}

venv() { # venv DIR REQUIREMENT
  if ! pinned "$1" "$2"; then
    echo "creating $1 ($2)"
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check "$2"
    pinned "$1" "$2" || { echo "$1: pip did not install $2" >&2; exit 1; }
  fi
}
while read -r -u 3 dir requirement; do
  case "$dir" in '' | '#'*) continue ;; esac
  venv "$dir" "$requirement"
done 3< tests/interop/sdk-pins.txt

# Schemathesis, for tests/schemathesis.rs (the OpenAPI document checked against the gateway, in a
# network namespace with loopback only). Pinned to a range; recreated when what is there is outside it.
schemathesis_in_range() {
  .venv-schemathesis/bin/python -c 'import importlib.metadata as m, sys
v = tuple(int(p) for p in m.version("schemathesis").split(".")[:2])
sys.exit(0 if (4, 32) <= v < (5, 0) else 1)' 2>/dev/null
}
if ! schemathesis_in_range; then
  echo "creating .venv-schemathesis (schemathesis>=4.32,<5)"
  rm -rf .venv-schemathesis
  python3 -m venv .venv-schemathesis
  .venv-schemathesis/bin/pip install --quiet --disable-pip-version-check 'schemathesis>=4.32,<5'
  schemathesis_in_range || { echo "schemathesis is not >=4.32,<5 after install" >&2; exit 1; }
fi
export MCP_GATEWAY_REQUIRE_INTEROP=1

if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium (apt-get) for tests/console.rs"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium fonts-dejavu-core >/dev/null
  else
    echo "note: no chromium and no root apt-get; the console's browser tests will skip" >&2
  fi
fi

cargo build --locked -p mcp-example -p tool-example

if docker info >/dev/null 2>&1; then
  scripts/build-images.sh --if-missing
  # Real stdio MCP servers from PyPI on a debootstrapped Debian base (tests/stdio.rs); cached
  # by a hash of the script, which holds the pins.
  scripts/build-stdio-images.sh --if-missing
elif [ "${MCP_GATEWAY_REQUIRE_DOCKER:-0}" = "1" ]; then
  echo "MCP_GATEWAY_REQUIRE_DOCKER=1 but no Docker engine answers (docker info failed)" >&2
  exit 1
else
  echo "note: no Docker engine; Docker tests will skip" >&2
fi

cargo test --workspace --locked "$@"
