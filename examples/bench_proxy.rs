//! Data-plane benchmark: a 1 KiB `tools/call` (the sample server's `echo`) direct to the upstream,
//! through the gateway, and through nginx as a plain reverse proxy, in one run; then the
//! gateway's memory with many idle sessions.
//!
//! Run: `scripts/bench.sh proxy`, or after `cargo build --release --workspace`:
//! `cargo run --release --example bench_proxy -- [REQUESTS] [CONCURRENCY] [SECONDS] [SESSIONS]`
//! (defaults 5000 16 5 10000). nginx is used when found on PATH or in /usr/sbin.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx's master must be asked to stop (SIGTERM), or its workers outlive it.
struct Nginx(Child);
impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listening on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn find_nginx() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

const ACCEPT: &str = "application/json, text/event-stream";

async fn initialize(http: &reqwest::Client, url: &str) -> String {
    let response = http
        .post(url)
        .header("accept", ACCEPT)
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}}),
        )
        .send()
        .await
        .expect("initialize");
    assert!(
        response.status().is_success(),
        "initialize: {}",
        response.status()
    );
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    response.bytes().await.expect("body");
    let note = http
        .post(url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .expect("initialized");
    note.bytes().await.expect("body");
    session
}

/// JSON-RPC ids must be unique among a session's requests in flight (rmcp answers only one of
/// two concurrent requests that share an id), so every call gets its own.
static NEXT_ID: AtomicU64 = AtomicU64::new(10);

async fn call(http: &reqwest::Client, url: &str, session: &str, template: &str) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let body = template.replacen("\"id\":2", &format!("\"id\":{id}"), 1);
    let response = http
        .post(url)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body)
        .send()
        .await
        .expect("call");
    assert!(
        response.status().is_success(),
        "call: {}",
        response.status()
    );
    let bytes = response.bytes().await.expect("body");
    assert!(bytes.len() > 1000, "short answer");
}

struct Result {
    name: &'static str,
    p50: Duration,
    p99: Duration,
    rps: f64,
}

async fn measure(
    name: &'static str,
    url: &str,
    requests: usize,
    concurrency: usize,
    seconds: u64,
) -> Result {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()
        .expect("client");
    let session = initialize(&http, url).await;
    let message = "x".repeat(1024);
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"message": message}}})
    .to_string();
    for _ in 0..200 {
        call(&http, url, &session, &body).await;
    }
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        call(&http, url, &session, &body).await;
        samples.push(t.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];

    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, session, body, done) = (
            http.clone(),
            url.to_string(),
            session.clone(),
            body.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                call(&http, &url, &session, &body).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    Result {
        name,
        p50: pct(0.5),
        p99: pct(0.99),
        rps: done.load(Ordering::Relaxed) as f64 / seconds as f64,
    }
}

#[path = "support/mod.rs"]
mod support;

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("numbers"));
    let requests = args.next().unwrap_or(5000);
    let concurrency = args.next().unwrap_or(16);
    let seconds = args.next().unwrap_or(5) as u64;
    let sessions = args.next().unwrap_or(10_000);

    let dir = tempfile::tempdir().expect("tempdir");

    let upstream_port = free_port();
    let _upstream = Killed(
        Command::new(support::sibling("mcp-example"))
            .env("PORT", upstream_port.to_string())
            .env("BIND", "127.0.0.1")
            .env("MCP_SESSION_IDLE_SECS", "3600")
            .stdout(Stdio::null())
            .spawn()
            .expect("mcp-example (cargo build --release --workspace)"),
    );
    wait_port(upstream_port);
    let upstream = format!("http://127.0.0.1:{upstream_port}/mcp");

    let gateway = support::Gateway::start("none");
    let gateway_pid = gateway.pid();
    let base = gateway.base.clone();
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/adapters"))
        .json(&json!({"name": "bench", "url": upstream}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let through_gateway = format!("{base}/adapters/bench/mcp");

    let mut nginx_guard = None;
    let nginx_url = find_nginx().map(|nginx| {
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes 2;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx.err warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};\n\
                   upstream up {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}\n\
                   server {{ listen 127.0.0.1:{port};\n\
                     location / {{ proxy_pass http://up; proxy_http_version 1.1;\n\
                       proxy_set_header Connection \"\"; proxy_buffering off;\n\
                       proxy_set_header Host 127.0.0.1:{upstream_port}; }} }} }}\n",
                dir = dir.path().display()
            ),
        )
        .expect("nginx conf");
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx");
        nginx_guard = Some(Nginx(child));
        wait_port(port);
        format!("http://127.0.0.1:{port}/mcp")
    });

    println!(
        "1 KiB tools/call (echo), {requests} sequential for latency, {concurrency} concurrent for {seconds} s for throughput"
    );
    let mut results = vec![
        measure("direct", &upstream, requests, concurrency, seconds).await,
        measure("gateway", &through_gateway, requests, concurrency, seconds).await,
    ];
    match &nginx_url {
        Some(url) => results.push(measure("nginx", url, requests, concurrency, seconds).await),
        None => println!("(nginx not found: apt-get install nginx-light to compare)"),
    }
    let direct_p50 = results[0].p50;
    let direct_p99 = results[0].p99;
    println!(
        "{:<8} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "target", "p50 ms", "p99 ms", "added p50", "added p99", "req/s"
    );
    for r in &results {
        println!(
            "{:<8} {:>10.3} {:>10.3} {:>12.3} {:>12.3} {:>10.0}",
            r.name,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            (r.p50.as_secs_f64() - direct_p50.as_secs_f64()) * 1e3,
            (r.p99.as_secs_f64() - direct_p99.as_secs_f64()) * 1e3,
            r.rps
        );
    }
    drop(nginx_guard);

    // Memory: idle legacy sessions cost the gateway nothing (the token is the state).
    let before = rss_kib(gateway_pid);
    let opened = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, url, opened) = (http.clone(), through_gateway.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            while opened.fetch_add(1, Ordering::Relaxed) < sessions as u64 {
                let _: String = initialize(&http, &url).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(gateway_pid);
    println!(
        "gateway RSS: {before} KiB before, {after} KiB with {sessions} idle sessions open ({:+} KiB, {:.1} bytes/session)",
        after as i64 - before as i64,
        (after as f64 - before as f64) * 1024.0 / sessions as f64
    );
}
