#!/usr/bin/env bash
# Data-plane comparison driven by wrk (a C load generator that leaves more of a small machine to
# the proxies than bench_proxy's Rust client): the rmcp sample server direct, through the
# gateway and through nginx, alternating, ROUNDS times. Prints req/s (16 connections), the
# proxy's CPU per request (user and kernel, from /proc) and single-connection p50 latency.
# Needs: apt-get install wrk nginx-light; a release build (scripts/bench.sh builds one).
# Usage: scripts/bench-wrk.sh [ROUNDS] [SECONDS]   (default 3 rounds of 5 s)
#        THREADS=1 scripts/bench-wrk.sh             (the gateway's server.threads; default: half the CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
bin=target/release
for tool in wrk /usr/sbin/nginx curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light curl)" >&2; exit 2; }
done
[ -x $bin/mcp-gateway ] && [ -x $bin/mcp-example ] || { echo "build first: cargo build --release --bins && cargo build --release -p mcp-example --bins" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }

up=$(port); gw=$(port); ng=$(port)
PORT=$up BIND=127.0.0.1 MCP_SESSION_IDLE_SECS=3600 $bin/mcp-example >/dev/null 2>&1 &
pids+=($!); up_pid=$!
cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$gw"
${THREADS:+threads = $THREADS}
[store]
path = "$work/gateway.db"
[runtime]
kind = "none"
[[adapters]]
name = "bench"
url = "http://127.0.0.1:$up/mcp"
TOML
RUST_LOG=warn $bin/mcp-gateway serve --config "$work/config.toml" >"$work/gateway.log" 2>&1 &
pids+=($!); gw_pid=$!
cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $work; proxy_temp_path $work;
  upstream up { server 127.0.0.1:$up; keepalive 64; }
  server { listen 127.0.0.1:$ng;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_buffering off; proxy_set_header Host 127.0.0.1:$up; } } }
NGINX
/usr/sbin/nginx -c "$work/nginx.conf"
wait_port "$up"; wait_port "$gw"; wait_port "$ng"
sleep 0.5
ng_pids=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')

session() { # URL FILE: initialize a 2025 session, keep its id in FILE
  curl -s -D - -o /dev/null "$1" -H 'accept: application/json, text/event-stream' \
    -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | tr -d '\r' | awk 'tolower($1)=="mcp-session-id:" {print $2}' > "$2"
  curl -s -o /dev/null "$1" -H "mcp-session-id: $(cat "$2")" -H 'mcp-protocol-version: 2025-11-25' \
    -H 'accept: application/json, text/event-stream' -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
}
session "http://127.0.0.1:$up/mcp" "$work/direct.sid"
session "http://127.0.0.1:$gw/adapters/bench/mcp" "$work/gateway.sid"
session "http://127.0.0.1:$ng/mcp" "$work/nginx.sid"

ticks() { # user and system clock ticks of processes
  local u=0 s=0 f
  for p in "$@"; do read -r -a f < <(cut -d')' -f2 "/proc/$p/stat"); u=$((u + f[11])); s=$((s + f[12])); done
  echo "$u $s"
}
hz=$(getconf CLK_TCK)
measure() { # NAME URL SID PIDS...
  local name=$1 url=$2 sid=$3; shift 3
  local bu bs au as out n rps lat
  read -r bu bs < <(ticks "$@")
  out=$(SESSION_FILE=$sid wrk -t1 -c16 -d"${seconds}s" -s scripts/wrk-call.lua "$url" 2>&1)
  read -r au as < <(ticks "$@")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  lat=$(SESSION_FILE=$sid wrk -t1 -c1 -d2s -s scripts/wrk-call.lua --latency "$url" 2>&1 | awk '$1=="50%" {print $2}')
  awk -v name="$name" -v rps="$rps" -v n="$n" -v u=$((au - bu)) -v s=$((as - bs)) -v hz="$hz" -v lat="$lat" \
    'BEGIN { printf "%-8s %9s req/s  CPU/request %5.1f us user + %5.1f us kernel  c1 p50 %s\n", name, rps, u*1e6/hz/n, s*1e6/hz/n, lat }'
}
echo "1 KiB tools/call, wrk -t1 -c16 for ${seconds}s then -c1 for 2 s; $rounds rounds (CPU: the proxy's own; direct: the upstream's)"
for r in $(seq "$rounds"); do
  echo "-- round $r"
  measure direct "http://127.0.0.1:$up/mcp" "$work/direct.sid" "$up_pid"
  measure gateway "http://127.0.0.1:$gw/adapters/bench/mcp" "$work/gateway.sid" "$gw_pid"
  # shellcheck disable=SC2086
  measure nginx "http://127.0.0.1:$ng/mcp" "$work/nginx.sid" $ng_pids
done
