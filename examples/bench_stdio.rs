//! stdio bridge benchmark (Docker): `tools/call add` latency through a shared stdio adapter
//! (`mcp-example --stdio` in a container, attached by the gateway) against a direct stdio client
//! of the same server binary (a child process on this machine, one JSON line each way); the
//! throughput of one shared replica with 1, 8 and 32 concurrent clients; a per-session adapter's
//! cold start (its `initialize` + first call, which starts a container) and its start with a
//! warm instance (`stdio.warm = 1`).
//!
//! Run: `scripts/bench.sh stdio` (needs Docker and `scripts/build-images.sh`'s mcp-example).
//! Arguments: `[CALLS] [SECONDS]` (defaults 500 5).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[path = "support/mod.rs"]
mod support;

const ACCEPT: &str = "application/json, text/event-stream";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{name:<28} p50 {:>8.1} µs  p90 {:>8.1} µs  p99 {:>8.1} µs",
        p50.as_secs_f64() * 1e6,
        percentile(&samples, 0.9).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
    p50
}

fn add(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "add", "arguments": {"a": id, "b": 1}}})
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> (Option<String>, String) {
    let mut request = http
        .post(url)
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .json(body);
    if let Some(token) = token {
        request = request.header("mcp-session-id", token);
    }
    let response = request.send().await.expect("send");
    assert!(response.status().is_success(), "{}", response.status());
    let token = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (token, response.text().await.expect("body"))
}

async fn session(http: &reqwest::Client, url: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}});
    let (token, _) = post(http, url, None, &init).await;
    token.expect("a session")
}

#[tokio::main]
async fn main() {
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let seconds: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let gateway = support::Gateway::start("docker");
    let http = reqwest::Client::new();
    let create = |body: Value| {
        let (http, url) = (http.clone(), format!("{}/adapters", gateway.base));
        async move {
            let response = http.post(url).json(&body).send().await.expect("create");
            assert_eq!(
                response.status(),
                201,
                "{}",
                response.text().await.unwrap_or_default()
            );
        }
    };
    create(
        json!({"name": "bench-shared", "imageName": "mcp-example", "imageVersion": "1.0.0",
                  "transport": "stdio", "args": ["--stdio"]}),
    )
    .await;
    let url = format!("{}/adapters/bench-shared/mcp", gateway.base);
    // Ready when an initialize is answered.
    let deadline = Instant::now() + Duration::from_secs(120);
    let token = loop {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}});
        let response = http
            .post(&url)
            .header("accept", ACCEPT)
            .json(&init)
            .send()
            .await;
        if let Ok(response) = response
            && let Some(token) = response.headers().get("mcp-session-id")
        {
            break token.to_str().expect("ascii").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the shared adapter never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Direct: the same server binary as a child process, one line each way.
    let mut child = tokio::process::Command::new(support::sibling("mcp-example"))
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start mcp-example --stdio");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}});
    stdin
        .write_all(format!("{init}\n").as_bytes())
        .await
        .expect("write");
    stdout
        .next_line()
        .await
        .expect("read")
        .expect("init answer");
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .expect("write");

    // Latency: rounds alternate between the two, so a noisy neighbour slows both alike.
    let (mut direct, mut bridged) = (Vec::new(), Vec::new());
    for id in 1..=calls {
        let started = Instant::now();
        stdin
            .write_all(format!("{}\n", add(id)).as_bytes())
            .await
            .expect("write");
        let line = stdout.next_line().await.expect("read").expect("answer");
        direct.push(started.elapsed());
        assert!(line.contains(&format!("\"id\":{id}")), "{line}");
        let started = Instant::now();
        let (_, body) = post(&http, &url, Some(&token), &add(id)).await;
        bridged.push(started.elapsed());
        assert!(body.contains(&(id + 1).to_string()), "{body}");
    }
    println!("tools/call add, {calls} sequential calls each:");
    let d = summary("direct stdio client", direct);
    let b = summary("through the stdio bridge", bridged);
    println!(
        "added latency (p50): {:.1} µs (HTTP + SSE + Docker attach)",
        (b.as_secs_f64() - d.as_secs_f64()) * 1e6
    );

    // Throughput of one shared replica.
    for clients in [1usize, 8, 32] {
        let done = Arc::new(AtomicU64::new(0));
        let stop = Instant::now() + Duration::from_secs(seconds);
        let workers = (0..clients).map(|_| {
            let (http, url, done) = (http.clone(), url.clone(), done.clone());
            tokio::spawn(async move {
                let token = session(&http, &url).await;
                let mut id = 1;
                while Instant::now() < stop {
                    post(&http, &url, Some(&token), &add(id)).await;
                    id += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        });
        let started = Instant::now();
        for worker in workers.collect::<Vec<_>>() {
            worker.await.expect("worker");
        }
        let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        println!("throughput, {clients:>2} concurrent clients on one replica: {rate:>8.0} calls/s");
    }

    // Per-session cold start: initialize starts a container, attaches, initializes.
    create(
        json!({"name": "bench-session", "imageName": "mcp-example", "imageVersion": "1.0.0",
                  "transport": "stdio", "args": ["--stdio"],
                  "stdio": {"sharing": "per-session", "maxSessions": 4}}),
    )
    .await;
    let url = format!("{}/adapters/bench-session/mcp", gateway.base);
    let mut cold = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let token = session(&http, &url).await;
        let (_, body) = post(&http, &url, Some(&token), &add(1)).await;
        cold.push(started.elapsed());
        assert!(body.contains('2'), "{body}");
        let _ = http
            .delete(&url)
            .header("mcp-session-id", &token)
            .send()
            .await;
    }
    cold.sort();
    println!(
        "per-session cold start (initialize + first call, no warm instance): {}",
        cold.iter()
            .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // With a warm instance: `stdio.warm = 1` keeps one started ahead; each run waits for the
    // pool to be topped up again (the reaper tops it up every second) before measuring.
    create(
        json!({"name": "bench-warm", "imageName": "mcp-example", "imageVersion": "1.0.0",
                  "transport": "stdio", "args": ["--stdio"],
                  "stdio": {"sharing": "per-session", "maxSessions": 4, "warm": 1}}),
    )
    .await;
    let url = format!("{}/adapters/bench-warm/mcp", gateway.base);
    let mut warm = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(8)).await;
        let started = Instant::now();
        let token = session(&http, &url).await;
        let (_, body) = post(&http, &url, Some(&token), &add(1)).await;
        warm.push(started.elapsed());
        assert!(body.contains('2'), "{body}");
        let _ = http
            .delete(&url)
            .header("mcp-session-id", &token)
            .send()
            .await;
    }
    println!(
        "per-session start with a warm instance (initialize + first call): {}",
        warm.iter()
            .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Leave nothing behind: the gateway's containers go with their adapters.
    for name in ["bench-shared", "bench-session", "bench-warm"] {
        let _ = http
            .delete(format!("{}/adapters/{name}", gateway.base))
            .send()
            .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}
