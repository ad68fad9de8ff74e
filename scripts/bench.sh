#!/usr/bin/env bash
# Benchmarks (numbers go in README.md's Benchmarks section; never timed assertions in tests).
# Usage: scripts/bench.sh [api|proxy|router|federation|deploy|stdio|all]   (default: all)
# proxy compares against nginx when it is installed (apt-get install nginx-light).
# deploy needs Docker and the sample images (scripts/build-images.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
# Separate builds: examples pull dev-dependencies, whose features (tokio's test-util, with a mutex
# on every clock read) must not leak into the binaries being measured; and the gateway is built
# last and alone, as it ships (`cargo build --release`), since a workspace build would add the
# sample servers' features (tokio's process driver, reaping orphans at every park) to it.
cargo build --release --locked -p mcp-example -p tool-example --bins
cargo build --release --locked --workspace --examples
cargo build --release --locked --bins
run() { echo "== $1"; shift; "$@"; }
case "$which" in
  api|all) run "control plane: 1,000 adapters, GET /adapters" target/release/examples/bench_api 1000 200 ;;&
  proxy|all) run "data plane: 1 KiB tools/call direct / gateway / nginx; idle sessions" target/release/examples/bench_proxy 5000 16 10 10000 ;;&
  router|all) run "tool router: tools/list over 1,000 tools; tools/call overhead" target/release/examples/bench_router ;;&
  federation|all) run "federation: tools/list over 20 adapters x 50 tools; federated tools/call overhead" target/release/examples/bench_federation 20 50 500 ;;&
  deploy|all) run "deploy to first tools/call (Docker)" target/release/examples/bench_deploy 5 ;;&
  stdio|all) run "stdio bridge: added latency, shared throughput, per-session cold start (Docker)" target/release/examples/bench_stdio 500 5 ;;
  api|proxy|router|federation|deploy) ;;
  *) echo "usage: scripts/bench.sh [api|proxy|router|federation|deploy|stdio|all]" >&2; exit 2 ;;
esac
