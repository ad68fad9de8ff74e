#!/usr/bin/env bash
# The test command (README, .ci/run): everything a new user needs, then the whole suite.
# Tests that need Docker skip with a reason when no engine answers, and fail instead when
# MCP_GATEWAY_REQUIRE_DOCKER=1 (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

if docker info >/dev/null 2>&1; then
  # The sample server images the Docker tests deploy (built from local files, FROM scratch).
  scripts/build-images.sh --if-missing
elif [ "${MCP_GATEWAY_REQUIRE_DOCKER:-0}" = "1" ]; then
  echo "MCP_GATEWAY_REQUIRE_DOCKER=1 but no Docker engine answers (docker info failed)" >&2
  exit 1
else
  echo "note: no Docker engine; Docker tests will skip" >&2
fi

cargo test --workspace --locked "$@"
