//! What the MCP benchmarks share: starting helper processes, JSON-RPC over plain HTTP/1.1
//! keep-alive (so the numbers are the gateway's, not a client SDK's), and percentiles.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A child process killed on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` and returns it with the first stdout line that contains `marker`.
pub fn start(bin: &Path, args: &[&str], env: &[(&str, &str)], marker: &str) -> (Killed, String) {
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

pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

pub struct Rpc {
    pub http: reqwest::Client,
    pub url: String,
    /// A 2025 session id; `None` for stateless 2026-07-28 requests.
    pub session: Option<String>,
}

impl Rpc {
    /// Sends one JSON-RPC request and returns its result (JSON or the SSE event carrying it).
    pub async fn send(&self, method: &str, name: Option<&str>, mut params: Value) -> Value {
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

    pub async fn open_session(http: &reqwest::Client, url: &str) -> Rpc {
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

pub fn summary(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let pct =
        |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (pct(0.5), pct(0.9), pct(0.99))
}

pub fn report(what: &str, samples: &mut [Duration]) -> f64 {
    let (p50, p90, p99) = summary(samples);
    println!("{what}: p50 {p50:.3} ms, p90 {p90:.3} ms, p99 {p99:.3} ms");
    p50
}

pub async fn time<F, Fut>(rounds: usize, mut f: F) -> Vec<Duration>
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
