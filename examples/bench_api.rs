//! Control-plane benchmark: create N adapters, then time `GET /adapters`.
//!
//! Run: `cargo run --release --example bench_api -- [N] [ROUNDS]` (defaults 1000 and 200). It starts
//! the release `mcp-gateway` binary next to it (runtime `none`, a fresh store in a temp dir), so
//! build that first: `cargo build --release`. Prints p50/p90/p99 of list latency and create rate.

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);

    let gateway = support::Gateway::start("none");
    let base = gateway.base.clone();

    let http = reqwest::Client::new();
    let started = Instant::now();
    for i in 0..count {
        let body = serde_json::json!({
            "name": format!("adapter-{i:05}"),
            "url": "http://127.0.0.1:9/mcp",
            "description": "benchmark adapter with a description of typical length",
            "requiredRoles": ["team-a", "team-b"],
        });
        let status = http
            .post(format!("{base}/adapters"))
            .json(&body)
            .send()
            .await
            .expect("create")
            .status();
        assert_eq!(status, 201);
    }
    let create_time = started.elapsed();

    // Warm up, then measure.
    for _ in 0..10 {
        http.get(format!("{base}/adapters"))
            .send()
            .await
            .expect("list")
            .bytes()
            .await
            .expect("body");
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(rounds);
    let mut size = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let body = http
            .get(format!("{base}/adapters"))
            .send()
            .await
            .expect("list")
            .bytes()
            .await
            .expect("body");
        samples.push(t.elapsed());
        size = body.len();
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "created {count} adapters in {:.2} s ({:.0}/s, each fsynced)",
        create_time.as_secs_f64(),
        count as f64 / create_time.as_secs_f64()
    );
    println!(
        "GET /adapters ({count} items, {size} bytes) over {rounds} rounds: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.9).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}
