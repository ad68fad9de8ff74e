//! Tool-router benchmark: `tools/list` over N registered tools, and what `tools/call` through the
//! router adds to POSTing the same arguments to the tool server directly.
//!
//! Run: `cargo build --release -p mcp-gateway -p tool-example && cargo run --release --example
//! bench_router -- [N] [ROUNDS]` (defaults 1000 and 500). It starts the release `mcp-gateway`
//! (runtime `none`, auth `none`, a fresh store in a temp dir) and the release `tool-example`
//! found next to this example, registers N `url` tools on that one tool server, and measures
//! with plain HTTP/1.1 keep-alive requests, so the numbers are the gateway's, not a client SDK's:
//! - `tools/list` (first page of `router.page_size` = 100) and a full listing, stateless
//!   2026-07-28 (JSON answers) and in a 2025 session (SSE answers);
//! - `tools/call` of the weather tool vs `POST /score` with the same body, interleaved.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` and returns it with the first stdout line that contains `marker`.
fn start(bin: &Path, args: &[&str], env: &[(&str, &str)], marker: &str) -> (Killed, String) {
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "start {}: {err} (cargo build --release -p mcp-gateway -p tool-example first)",
                bin.display()
            )
        });
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = loop {
        let line = lines
            .next()
            .expect("output before exit")
            .expect("readable output");
        if line.contains(marker) {
            break line;
        }
    };
    // Keep draining stdout (tool-example logs every request) so the child never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), line)
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

struct Rpc {
    http: reqwest::Client,
    url: String,
    /// A 2025 session id; `None` for stateless 2026-07-28 requests.
    session: Option<String>,
}

impl Rpc {
    /// Sends one JSON-RPC request and returns its result (JSON or the SSE event carrying it).
    async fn send(&self, method: &str, name: Option<&str>, mut params: Value) -> Value {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        match &self.session {
            Some(session) => {
                request = request
                    .header("mcp-protocol-version", "2025-11-25")
                    .header("mcp-session-id", session);
            }
            None => {
                params["_meta"] = modern_meta();
                request = request
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", method);
                if let Some(name) = name {
                    request = request.header("mcp-name", name);
                }
            }
        }
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let text = request
            .json(&body)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        let message = match text.trim_start().starts_with('{') {
            true => serde_json::from_str::<Value>(&text).ok(),
            false => text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|m| m.get("id").is_some()),
        }
        .unwrap_or_else(|| panic!("no answer in {text}"));
        match message.get("result") {
            Some(result) => result.clone(),
            None => panic!("{method} failed: {message}"),
        }
    }

    async fn open_session(http: &reqwest::Client, url: &str) -> Rpc {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}});
        let response = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .expect("initialize");
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        response.bytes().await.expect("initialize body");
        http.post(url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", &session)
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .expect("initialized");
        Rpc {
            http: http.clone(),
            url: url.to_string(),
            session: Some(session),
        }
    }
}

fn summary(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let pct =
        |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (pct(0.5), pct(0.9), pct(0.99))
}

fn report(what: &str, samples: &mut [Duration]) -> f64 {
    let (p50, p90, p99) = summary(samples);
    println!("{what}: p50 {p50:.3} ms, p90 {p90:.3} ms, p99 {p99:.3} ms");
    p50
}

async fn time<F, Fut>(rounds: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..rounds.min(50) {
        f().await;
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    samples
}

#[path = "support/mod.rs"]
mod support;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);

    let gateway = support::Gateway::start("none");
    let base = gateway.base.clone();
    let tool_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
        .to_string();
    let (_tool, _) = start(
        &support::sibling("tool-example"),
        &[],
        &[("PORT", tool_port.as_str()), ("BIND", "127.0.0.1")],
        "listening on",
    );
    let score = format!("http://127.0.0.1:{tool_port}/score");

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .expect("client");
    let started = Instant::now();
    for i in 0..count {
        let name = format!("weather-{i:04}");
        let body = json!({"name": name, "url": score, "toolDefinition": {"tool": {
            "name": name, "description": "Current weather for a location",
            "inputSchema": {"type": "object", "required": ["location"], "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]}}}}}});
        let status = http
            .post(format!("{base}/tools"))
            .json(&body)
            .send()
            .await
            .expect("create")
            .status();
        assert_eq!(status, 201, "POST /tools");
    }
    println!(
        "registered {count} tools in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let mcp = format!("{base}/mcp");
    let stateless = Rpc {
        http: http.clone(),
        url: mcp.clone(),
        session: None,
    };
    let session = Rpc::open_session(&http, &mcp).await;
    let first = stateless.send("tools/list", None, json!({})).await;
    let page_len = first["tools"].as_array().map_or(0, Vec::len);
    let page_bytes = first.to_string().len();

    let mut list_modern = time(rounds, || async {
        stateless.send("tools/list", None, json!({})).await;
    })
    .await;
    let mut list_session = time(rounds, || async {
        session.send("tools/list", None, json!({})).await;
    })
    .await;
    let full_rounds = (rounds / 5).max(20);
    let mut list_all = time(full_rounds, || async {
        let mut cursor: Option<String> = None;
        let mut seen = 0;
        loop {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let page = stateless.send("tools/list", None, params).await;
            seen += page["tools"].as_array().map_or(0, Vec::len);
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, count, "a full listing returns every tool");
    })
    .await;

    // tools/call vs the same POST straight to the tool server, interleaved so both see the same
    // machine load.
    let arguments = json!({"location": "Seattle", "unit": "celsius"});
    let call_params = json!({"name": "weather-0000", "arguments": arguments});
    let check = stateless
        .send("tools/call", Some("weather-0000"), call_params.clone())
        .await;
    assert_ne!(check["isError"], true, "{check}");
    let mut direct = Vec::with_capacity(rounds);
    let mut routed = Vec::with_capacity(rounds);
    let mut routed_session = Vec::with_capacity(rounds);
    for round in 0..rounds + 50 {
        let t = Instant::now();
        http.post(&score)
            .json(&arguments)
            .send()
            .await
            .expect("direct")
            .bytes()
            .await
            .expect("direct body");
        let d = t.elapsed();
        let t = Instant::now();
        stateless
            .send("tools/call", Some("weather-0000"), call_params.clone())
            .await;
        let r = t.elapsed();
        let t = Instant::now();
        session.send("tools/call", None, call_params.clone()).await;
        let s = t.elapsed();
        if round >= 50 {
            direct.push(d);
            routed.push(r);
            routed_session.push(s);
        }
    }

    println!(
        "--- tools/list over {count} tools ({page_len} per page, first page {page_bytes} bytes), {rounds} rounds"
    );
    let list_p50 = report(
        "tools/list, first page, stateless 2026-07-28",
        &mut list_modern,
    );
    report(
        "tools/list, first page, 2025 session (SSE)",
        &mut list_session,
    );
    report(
        &format!("tools/list, all {count} tools (every page), {full_rounds} rounds"),
        &mut list_all,
    );
    println!("--- tools/call weather vs POST /score direct, {rounds} rounds each, interleaved");
    let direct_p50 = report("POST /score direct", &mut direct);
    let routed_p50 = report("tools/call via /mcp, stateless 2026-07-28", &mut routed);
    let session_p50 = report(
        "tools/call via /mcp, 2025 session (SSE)",
        &mut routed_session,
    );
    println!(
        "tools/list p50 {list_p50:.3} ms (target <= 2 ms); tools/call added p50 {:.3} ms stateless, {:.3} ms in a session (target <= 0.3 ms)",
        routed_p50 - direct_p50,
        session_p50 - direct_p50
    );
}
