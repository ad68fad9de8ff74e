#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs the whole suite.
# - Python venvs with the official MCP SDK, both majors (.venv-mcp1: mcp<2, .venv-mcp2: mcp>=2),
#   for the interop tests, and with Schemathesis (.venv-schemathesis); created once, from PyPI.
# - the sample servers as local binaries (proxy tests run them as plain processes) and as Docker
#   images (Docker tests deploy them).
# Tests that need Docker skip with a reason when no engine answers, and fail instead when
# MCP_GATEWAY_REQUIRE_DOCKER=1 (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv() { # venv DIR REQUIREMENT
  if [ ! -x "$1/bin/python" ] || ! "$1/bin/python" -c 'import mcp' 2>/dev/null; then
    echo "creating $1 ($2)"
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check "$2"
  fi
}
venv .venv-mcp1 'mcp>=1.30,<2'
venv .venv-mcp2 'mcp>=2.3,<3'

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

cargo build --locked -p mcp-example -p tool-example

if docker info >/dev/null 2>&1; then
  scripts/build-images.sh --if-missing
elif [ "${MCP_GATEWAY_REQUIRE_DOCKER:-0}" = "1" ]; then
  echo "MCP_GATEWAY_REQUIRE_DOCKER=1 but no Docker engine answers (docker info failed)" >&2
  exit 1
else
  echo "note: no Docker engine; Docker tests will skip" >&2
fi

cargo test --workspace --locked "$@"
