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

use std::time::Instant;

use serde_json::json;

#[path = "support/mod.rs"]
mod support;

use support::rpc::{Rpc, report, start, time};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);

    let gateway = support::Gateway::start("none");
    let base = gateway.base.clone();
    let tool_port = support::free_port().to_string();
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
