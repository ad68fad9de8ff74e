#!/usr/bin/env bash
# Data plane against a trivial upstream: nginx answering a fixed 1 KiB JSON-RPC result from
# memory, so the upstream costs almost nothing and the proxies are what is measured. Targets,
# interleaved in ROUNDS rounds: the upstream direct, nginx as a plain reverse proxy (keep-alive
# pool, buffering off) with 2 workers (`nginx`) and with 1 (`nginx1`), and the gateway (a `url`
# adapter). Three request kinds:
#   stateless  2026-07-28 tools/call (MCP-Protocol-Version, Mcp-Method, Mcp-Name), JSON answer
#   sse        the same, answered as a one-event text/event-stream
#   session    2025 tools/call in a session (the gateway opens its sealed token per request)
# wrk -t1 -c1 for latency (p50, p99) and -t2 -c32 for throughput; medians over the rounds, and
# "added" = proxy minus direct in the same round; throughput also as the median over rounds of
# its ratio to each nginx's in the same round. CPU per request from /proc.
# With CALLGRIND=1 it also counts instructions per request (valgrind --tool=callgrind) for the
# gateway and for an nginx proxy (one process), each serving N requests
# (CALLGRIND_REQUESTS, default 2000), for each kind; CALLGRIND_KEEP=DIR keeps the profiles for
# callgrind_annotate; SKIP_WRK=1 counts instructions only. GATEWAY_BIN_B=/path adds a second
# gateway build (`gateway-b`, `gwb`) to the same rounds and counts: an A/B of two builds in one run.
# Needs: apt-get install wrk nginx-light curl valgrind; a release build (scripts/bench.sh builds
# one, or cargo build --release --bins). GATEWAY_BIN=/path picks another gateway build;
# GATEWAY_THREADS=N sets the gateway's server.threads (default: half the CPUs), GATEWAY_THREADS_B
# the second build's (GATEWAY_BIN_B=same binary with another GATEWAY_THREADS_B: an A/B of settings);
# GATEWAY_PROXY_THREADS / GATEWAY_PROXY_THREADS_B set server.proxy_threads the same way (default:
# one per CPU; 0: no event loops of the data plane's own).
# Usage: scripts/bench-trivial.sh [ROUNDS] [SECONDS]   (default 3 rounds of 4 s)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-4}
gateway_bin=${GATEWAY_BIN:-target/release/mcp-gateway}
for tool in wrk /usr/sbin/nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light curl)" >&2; exit 2; }
done
[ -x "$gateway_bin" ] || { echo "build first: cargo build --release --bins" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in "$work"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }

up=$(port); ng=$(port); gw=$(port)
# The fixed answer: a 1 KiB text result, as JSON or as one SSE event.
result=$(python3 -c 'import json; print(json.dumps({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"x"*1024}],"isError":False}}))')
escaped=${result//\'/\\\'}

# The upstream: JSON at /mcp, SSE at /sse, and a session id on answers to 2025-era requests that
# carry none (what a 2025 server does on initialize; stateless requests name their method).
cat > "$work/upstream.conf" <<NGINX
worker_processes 1;
pid $work/upstream.pid;
error_log $work/upstream.err warn;
events { worker_connections 4096; }
http { access_log off;
  map "\$http_mcp_session_id:\$http_mcp_method" \$sid { ":" "upstream-session-1"; default ""; }
  server { listen 127.0.0.1:$up; keepalive_requests 1000000;
    location /mcp { default_type application/json; add_header Mcp-Session-Id \$sid always;
                    return 200 '$escaped'; }
    location /sse { default_type text/event-stream; return 200 'event: message
data: $escaped

'; } } }
NGINX
/usr/sbin/nginx -c "$work/upstream.conf"

nginx_proxy_conf() { # FILE PORT PID [extra main-context lines]
  cat > "$1" <<NGINX
$4
pid $3;
error_log $work/proxy.err warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $work; proxy_temp_path $work;
  upstream up { server 127.0.0.1:$up; keepalive 64; keepalive_requests 1000000; }
  server { listen 127.0.0.1:$2; keepalive_requests 1000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_buffering off; proxy_set_header Host 127.0.0.1:$up; } } }
NGINX
}
nginx_proxy_conf "$work/proxy.conf" "$ng" "$work/proxy.pid" "worker_processes 2;"
/usr/sbin/nginx -c "$work/proxy.conf"
# The same proxy with one worker: the like-for-like peer of a one-thread gateway.
ng1=$(port)
nginx_proxy_conf "$work/proxy1.conf" "$ng1" "$work/proxy1.pid" "worker_processes 1;"
/usr/sbin/nginx -c "$work/proxy1.conf"

cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$gw"
${GATEWAY_THREADS:+threads = $GATEWAY_THREADS}
${GATEWAY_PROXY_THREADS:+proxy_threads = $GATEWAY_PROXY_THREADS}
[store]
path = "$work/gateway.db"
[runtime]
kind = "none"
[[adapters]]
name = "fixed"
url = "http://127.0.0.1:$up/mcp"
[[adapters]]
name = "fixed-sse"
url = "http://127.0.0.1:$up/sse"
TOML
RUST_LOG=warn "$gateway_bin" serve --config "$work/config.toml" >"$work/gateway.log" 2>&1 &
pids+=($!); gw_pid=$!
wait_port "$up"; wait_port "$ng"; wait_port "$ng1"; wait_port "$gw"
targets="direct nginx nginx1 gateway"
if [ -n "${GATEWAY_BIN_B:-}" ]; then
  # A second gateway build, its own port and store, in the same rounds: an A/B in one run.
  gwb=$(port)
  sed "s/127.0.0.1:$gw/127.0.0.1:$gwb/" "$work/config.toml" | sed "s|$work/gateway.db|$work/gateway-b.db|" \
    | sed "/^threads = /d; /^proxy_threads = /d" \
    | sed "s/^\[server\]/[server]${GATEWAY_THREADS_B:+\\nthreads = $GATEWAY_THREADS_B}${GATEWAY_PROXY_THREADS_B:+\\nproxy_threads = $GATEWAY_PROXY_THREADS_B}/" > "$work/config-b.toml"
  RUST_LOG=warn "$GATEWAY_BIN_B" serve --config "$work/config-b.toml" >"$work/gateway-b.log" 2>&1 &
  pids+=($!); gwb_pid=$!
  wait_port "$gwb"
  targets="direct nginx nginx1 gateway gateway-b"
fi
sleep 0.5
up_pids=$(pgrep -P "$(cat "$work/upstream.pid")" | tr '\n' ' ')
ng_pids=$(pgrep -P "$(cat "$work/proxy.pid")" | tr '\n' ' ')
ng1_pids=$(pgrep -P "$(cat "$work/proxy1.pid")" | tr '\n' ' ')

# A 2025 session through each target: the token the client holds.
session() { # URL
  curl -s -D - -o /dev/null "$1" -H 'accept: application/json, text/event-stream' \
    -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | tr -d '\r' | awk 'tolower($1)=="mcp-session-id:" {print $2}'
}
declare -A sid
sid[direct]=$(session "http://127.0.0.1:$up/mcp")
sid[nginx]=$(session "http://127.0.0.1:$ng/mcp")
sid[nginx1]=$(session "http://127.0.0.1:$ng1/mcp")
sid[gateway]=$(session "http://127.0.0.1:$gw/adapters/fixed/mcp")
[ -z "${GATEWAY_BIN_B:-}" ] || sid[gateway-b]=$(session "http://127.0.0.1:$gwb/adapters/fixed/mcp")
for t in $targets; do [ -n "${sid[$t]}" ] || { echo "no session id from $t" >&2; exit 1; }; done

url() { # TARGET KIND
  case "$1:$2" in
    direct:sse) echo "http://127.0.0.1:$up/sse" ;;
    direct:*) echo "http://127.0.0.1:$up/mcp" ;;
    nginx:sse) echo "http://127.0.0.1:$ng/sse" ;;
    nginx:*) echo "http://127.0.0.1:$ng/mcp" ;;
    nginx1:sse) echo "http://127.0.0.1:$ng1/sse" ;;
    nginx1:*) echo "http://127.0.0.1:$ng1/mcp" ;;
    gateway:sse) echo "http://127.0.0.1:$gw/adapters/fixed-sse/mcp" ;;
    gateway:*) echo "http://127.0.0.1:$gw/adapters/fixed/mcp" ;;
    gateway-b:sse) echo "http://127.0.0.1:$gwb/adapters/fixed-sse/mcp" ;;
    gateway-b:*) echo "http://127.0.0.1:$gwb/adapters/fixed/mcp" ;;
  esac
}
pids_of() { case "$1" in direct) echo "$up_pids" ;; nginx) echo "$ng_pids" ;; nginx1) echo "$ng1_pids" ;; gateway) echo "$gw_pid" ;; gateway-b) echo "$gwb_pid" ;; esac; }

cat > "$work/call.lua" <<'LUA'
-- A 1 KiB tools/call; KIND=session adds the session id, else the 2026-07-28 stateless headers.
local message = string.rep("x", 1024)
local id = 100
wrk.method = "POST"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["content-type"] = "application/json"
if os.getenv("KIND") == "session" then
  wrk.headers["mcp-session-id"] = os.getenv("SID")
  wrk.headers["mcp-protocol-version"] = "2025-11-25"
else
  wrk.headers["mcp-protocol-version"] = "2026-07-28"
  wrk.headers["mcp-method"] = "tools/call"
  wrk.headers["mcp-name"] = "echo"
end
request = function()
  id = id + 1
  return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","id":' .. id ..
    ',"method":"tools/call","params":{"name":"echo","arguments":{"message":"' .. message .. '"}}}')
end
LUA

ticks() { # user+system clock ticks of processes
  local t=0 f
  for p in "$@"; do read -r -a f < <(cut -d')' -f2 "/proc/$p/stat"); t=$((t + f[11] + f[12])); done
  echo "$t"
}
hz=$(getconf CLK_TCK)
to_us() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us/,"",v); print v } else if (v ~ /ms$/) { sub(/ms/,"",v); print v*1000 } else if (v ~ /s$/) { sub(/s/,"",v); print v*1e6 } else print v }'; }

results="$work/results.tsv"
if [ "${SKIP_WRK:-0}" != 1 ]; then
for r in $(seq "$rounds"); do
  for kind in stateless sse session; do
    for target in $targets; do
      u=$(url "$target" "$kind")
      lat=$(KIND=$kind SID=${sid[$target]} wrk -t1 -c1 -d2s -s "$work/call.lua" --latency "$u" 2>&1)
      p50=$(to_us "$(echo "$lat" | awk '$1=="50%" {print $2}')")
      p99=$(to_us "$(echo "$lat" | awk '$1=="99%" {print $2}')")
      # shellcheck disable=SC2046
      before=$(ticks $(pids_of "$target"))
      out=$(KIND=$kind SID=${sid[$target]} wrk -t2 -c32 -d"${seconds}s" -s "$work/call.lua" "$u" 2>&1)
      # shellcheck disable=SC2046
      after=$(ticks $(pids_of "$target"))
      n=$(echo "$out" | awk '/requests in/ {print $1}')
      rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
      errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
      cpu=$(awk -v t=$((after - before)) -v n="$n" -v hz="$hz" 'BEGIN { printf "%.1f", t*1e6/hz/n }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$kind" "$target" "$p50" "$p99" "$rps" "$cpu" >> "$results"
      [ -z "$errors" ] || echo "round $r $kind $target: $errors" >&2
    done
  done
done

python3 - "$results" "$rounds" "$seconds" "$targets" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print(f"1 KiB tools/call against a fixed-answer nginx upstream; {sys.argv[2]} interleaved rounds;"
      f" latency wrk -t1 -c1 2 s, throughput wrk -t2 -c32 {sys.argv[3]} s; medians over rounds")
print("x nginx / x nginx1: median over rounds of throughput relative to the 2-worker / 1-worker nginx proxy in the same round")
print(f"{'kind':<10}{'target':<10}{'p50 us':>8}{'added':>8}{'p99 us':>8}{'added':>8}{'req/s':>9}{'x nginx':>8}{'x nginx1':>9}{'CPU us/req':>11}")
for kind in ("stateless", "sse", "session"):
    by = {}
    for r, k, t, p50, p99, rps, cpu in rows:
        if k == kind:
            by.setdefault(t, []).append((int(r), float(p50), float(p99), float(rps), float(cpu)))
    direct = {r: (p50, p99) for r, p50, p99, _, _ in by["direct"]}
    med = lambda xs: st.median(xs)
    rps_of = lambda t: {r: rps for r, _, _, rps, _ in by[t]}
    nginx_rps, nginx1_rps = rps_of("nginx"), rps_of("nginx1")
    for t in sys.argv[4].split():
        xs = by[t]
        add50 = med([p50 - direct[r][0] for r, p50, _, _, _ in xs])
        add99 = med([p99 - direct[r][1] for r, _, p99, _, _ in xs])
        rps = med([x[3] for x in xs])
        vs = med([x[3] / nginx_rps[x[0]] for x in xs])
        vs1 = med([x[3] / nginx1_rps[x[0]] for x in xs])
        print(f"{kind:<10}{t:<10}{med([x[1] for x in xs]):>8.0f}{add50:>8.0f}{med([x[2] for x in xs]):>8.0f}"
              f"{add99:>8.0f}{rps:>9.0f}{vs:>8.2f}{vs1:>9.2f}{med([x[4] for x in xs]):>11.1f}")
PY

fi

if [ "${CALLGRIND:-0}" = 1 ]; then
  command -v valgrind >/dev/null || { echo "CALLGRIND=1 needs valgrind (apt-get install valgrind)" >&2; exit 2; }
  n=${CALLGRIND_REQUESTS:-2000}
  count() { # URL KIND: n requests of KIND (a session is initialised first, uncounted: the idle run does one too)
    python3 - "$1" "$2" "$n" <<'PY'
import sys, http.client
url, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = ('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"' + "x" * 1024 + '"}}}').encode()
headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
host, port = url.split("//")[1].split("/")[0].split(":")
path = "/" + url.split("//")[1].split("/", 1)[1]
c = http.client.HTTPConnection(host, int(port))
if kind == "session":
    init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
    c.request("POST", path, init, headers)
    r = c.getresponse(); r.read()
    headers.update({"mcp-session-id": r.getheader("mcp-session-id"), "mcp-protocol-version": "2025-11-25"})
else:
    headers.update({"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo"})
for _ in range(n):
    c.request("POST", path, body, headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
  }
  instructions() { # callgrind.out file: total Ir
    awk '/^summary:/ {print $2}' "$1"
  }
  # Each proxy under callgrind: one run per kind with n requests, and one with a single
  # initialize (startup, idle and the session's opening), subtracted.
  cg_url() { # PROXY PORT KIND
    case "$1:$3" in
      ng:sse) echo "http://127.0.0.1:$2/sse" ;;
      ng:*) echo "http://127.0.0.1:$2/mcp" ;;
      *:sse) echo "http://127.0.0.1:$2/adapters/fixed-sse/mcp" ;;
      *) echo "http://127.0.0.1:$2/adapters/fixed/mcp" ;;
    esac
  }
  cg_run() { # PROXY BIN OUT KIND REQUESTS
    local port vg
    port=$(port)
    if [ "$1" = ng ]; then
      nginx_proxy_conf "$work/cg-proxy.conf" "$port" "$work/cg-proxy.pid" "master_process off; daemon off;"
      valgrind --tool=callgrind --callgrind-out-file="$3" /usr/sbin/nginx -c "$work/cg-proxy.conf" >/dev/null 2>&1 &
    else
      sed "s/127.0.0.1:$gw/127.0.0.1:$port/" "$work/config.toml" | sed "s|$work/gateway.db|$work/cg.db|" > "$work/cg.toml"
      valgrind --tool=callgrind --callgrind-out-file="$3" "$2" serve --config "$work/cg.toml" >/dev/null 2>&1 &
    fi
    vg=$!
    wait_port "$port" || true
    for _ in $(seq 100); do curl -s -o /dev/null -X POST "$(cg_url "$1" "$port" stateless)" && break; sleep 0.2; done
    n=$5 count "$(cg_url "$1" "$port" "$4")" "$4"
    if [ "$1" = ng ]; then kill -QUIT "$vg"; else kill -INT "$vg"; fi
    wait "$vg" 2>/dev/null || true
  }
  proxies="gw ng"
  [ -z "${GATEWAY_BIN_B:-}" ] || proxies="gw gwb ng"
  for p in $proxies; do
    bin=$gateway_bin; [ "$p" = gwb ] && bin=$GATEWAY_BIN_B
    cg_run "$p" "$bin" "$work/$p.idle.out" session 0
    line="instructions per request (callgrind, $n requests, idle run subtracted): $p"
    for kind in stateless sse session; do
      cg_run "$p" "$bin" "$work/$p.$kind.out" "$kind" "$n"
      line="$line $kind $(( ( $(instructions "$work/$p.$kind.out") - $(instructions "$work/$p.idle.out") ) / n ))"
    done
    echo "$line"
  done
  echo "(gw: $gateway_bin${GATEWAY_BIN_B:+, gwb: $GATEWAY_BIN_B}, ng: nginx)"
  if [ -n "${CALLGRIND_KEEP:-}" ]; then
    mkdir -p "$CALLGRIND_KEEP" && cp "$work"/*.out "$CALLGRIND_KEEP"/
    echo "callgrind files in $CALLGRIND_KEEP (callgrind_annotate FILE)"
  fi
fi
