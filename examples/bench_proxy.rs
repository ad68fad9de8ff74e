//! Data-plane benchmark: a 1 KiB `tools/call` (the sample server's `echo`) direct to the upstream,
//! through the gateway, and through nginx as a plain reverse proxy, in one run (targets take
//! turns, in rounds, so a noisy neighbour slows all alike); the CPU time each proxy spends per
//! request; then the gateway's memory with many idle sessions.
//!
//! Run: `scripts/bench.sh proxy` (it builds the binaries without dev-dependency features first).
//! Arguments: `[REQUESTS] [CONCURRENCY] [SECONDS] [SESSIONS]` (defaults 5000 16 5 10000).
//! nginx is used when found in /usr/sbin (Debian's nginx-light). `GATEWAY_BIN_B=/path` adds a
//! second gateway build as its own target (`gateway-b`), in the same interleaved rounds: an A/B
//! of two builds in one run (`GATEWAY_THREADS` / `GATEWAY_THREADS_B` set each one's
//! `server.threads`, `GATEWAY_PROXY_THREADS` / `GATEWAY_PROXY_THREADS_B` its
//! `server.proxy_threads`: the same build twice compares two settings).

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

/// One way to reach the upstream, with the processes whose CPU time it costs.
struct Target {
    name: &'static str,
    url: String,
    session: String,
    pids: Vec<u32>,
    samples: Vec<Duration>,
    rates: Vec<f64>,
    cpu_ticks: u64,
    calls: u64,
}

/// CPU time (user + system, in clock ticks) of processes so far.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// nginx's worker processes: the children of its master.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

fn call_body() -> String {
    let message = "x".repeat(1024);
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"message": message}}})
    .to_string()
}

async fn latency_round(http: &reqwest::Client, target: &mut Target, calls: usize, body: &str) {
    for _ in 0..calls {
        let t = Instant::now();
        call(http, &target.url, &target.session, body).await;
        target.samples.push(t.elapsed());
    }
}

async fn throughput_round(
    http: &reqwest::Client,
    target: &mut Target,
    concurrency: usize,
    seconds: f64,
    body: &str,
) {
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_ticks(&target.pids);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, session, body, done) = (
            http.clone(),
            target.url.clone(),
            target.session.clone(),
            body.to_string(),
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
    let elapsed = started.elapsed().as_secs_f64();
    let calls = done.load(Ordering::Relaxed);
    target.cpu_ticks += cpu_ticks(&target.pids) - cpu_before;
    target.calls += calls;
    target.rates.push(calls as f64 / elapsed);
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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

    let upstream_port = support::free_port();
    let upstream_process = Killed(
        Command::new(support::sibling("mcp-example"))
            .env("PORT", upstream_port.to_string())
            .env("BIND", "127.0.0.1")
            .env("MCP_SESSION_IDLE_SECS", "3600")
            .stdout(Stdio::null())
            .spawn()
            .expect("mcp-example (cargo build --release --workspace)"),
    );
    let upstream_pid = upstream_process.0.id();
    wait_port(upstream_port);
    let upstream = format!("http://127.0.0.1:{upstream_port}/mcp");

    let gateway = support::Gateway::start("none");
    let gateway_pid = gateway.pid();
    let base = gateway.base.clone();
    let admin = reqwest::Client::new();
    let created = admin
        .post(format!("{base}/adapters"))
        .json(&json!({"name": "bench", "url": upstream}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let through_gateway = format!("{base}/adapters/bench/mcp");
    let gateway_b = std::env::var_os("GATEWAY_BIN_B")
        .map(|bin| support::Gateway::start_b("none", std::path::Path::new(&bin)));
    if let Some(b) = &gateway_b {
        let created = admin
            .post(format!("{}/adapters", b.base))
            .json(&json!({"name": "bench", "url": upstream}))
            .send()
            .await
            .expect("create on gateway B");
        assert_eq!(created.status(), 201);
    }

    let mut nginx_guard = None;
    let nginx_url = find_nginx().map(|nginx| {
        let port = support::free_port();
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

    const ROUNDS: usize = 5;
    println!(
        "1 KiB tools/call (echo): {requests} sequential calls for latency and {concurrency} concurrent \
         callers for {seconds} s for throughput, per target, in {ROUNDS} interleaved rounds"
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()
        .expect("client");
    let mut targets = vec![
        ("direct", upstream.clone(), vec![upstream_pid]),
        ("gateway", through_gateway.clone(), vec![gateway_pid]),
    ];
    if let Some(b) = &gateway_b {
        let url = format!("{}/adapters/bench/mcp", b.base);
        targets.push(("gateway-b", url, vec![b.pid()]));
    }
    match (&nginx_url, &nginx_guard) {
        (Some(url), Some(Nginx(master))) => {
            targets.push(("nginx", url.clone(), children_of(master.id())))
        }
        _ => println!("(nginx not found: apt-get install nginx-light to compare)"),
    }
    let body = call_body();
    let mut measured = Vec::new();
    for (name, url, pids) in targets {
        let session = initialize(&http, &url).await;
        for _ in 0..200 {
            call(&http, &url, &session, &body).await;
        }
        measured.push(Target {
            name,
            url,
            session,
            pids,
            samples: Vec::with_capacity(requests),
            rates: Vec::new(),
            cpu_ticks: 0,
            calls: 0,
        });
    }
    // Rounds alternate between targets so that a noisy neighbour slows all of them alike.
    for _ in 0..ROUNDS {
        for target in &mut measured {
            latency_round(&http, target, requests / ROUNDS, &body).await;
        }
    }
    for _ in 0..ROUNDS {
        for target in &mut measured {
            throughput_round(
                &http,
                target,
                concurrency,
                seconds as f64 / ROUNDS as f64,
                &body,
            )
            .await;
        }
    }
    let tick_us = 1e6 / clock_ticks_per_second();
    let pct = |samples: &mut Vec<Duration>, p: f64| {
        samples.sort();
        samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3
    };
    let direct_p50 = pct(&mut measured[0].samples, 0.5);
    let direct_p99 = pct(&mut measured[0].samples, 0.99);
    println!(
        "{:<9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>16}",
        "target", "p50 ms", "p99 ms", "added p50", "added p99", "req/s", "CPU us/request"
    );
    for target in &mut measured {
        let p50 = pct(&mut target.samples, 0.5);
        let p99 = pct(&mut target.samples, 0.99);
        let rate = median(&mut target.rates);
        let cpu = target.cpu_ticks as f64 * tick_us / target.calls.max(1) as f64;
        println!(
            "{:<9} {:>9.3} {:>9.3} {:>10.3} {:>10.3} {:>9.0} {:>16.1}",
            target.name,
            p50,
            p99,
            p50 - direct_p50,
            p99 - direct_p99,
            rate,
            cpu
        );
    }
    println!(
        "(req/s: median of the rounds; CPU: the proxy's own processes per request, the upstream's for direct)"
    );
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
