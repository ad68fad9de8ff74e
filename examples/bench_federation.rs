//! Federation benchmark: `tools/list` on `/mcp` over A adapters × T tools, and what a federated
//! `tools/call` adds to calling the same tool through the adapter's own endpoint.
//!
//! Run: `cargo build --release -p mcp-gateway -p mcp-example && cargo run --release --example
//! bench_federation -- [ADAPTERS] [TOOLS] [ROUNDS]` (defaults 20, 50 and 500). It starts the
//! release `mcp-gateway` (runtime `none`, auth `none`) and:
//! - ADAPTERS small stateless MCP servers in this process (`server/discover`, a T-tool
//!   `tools/list`, `ping`), each registered as a `url` adapter, and measures `tools/list` on
//!   `/mcp` once all A×T tools are federated (first page, and every page);
//! - the release `mcp-example` as adapter `example`, and times `tools/call add` three ways,
//!   interleaved: straight to the server, through `/adapters/example/mcp`, and as `example_add`
//!   through `/mcp` (stateless 2026-07-28 requests each time).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

use support::rpc::{Rpc, report, start, time};

/// A stateless MCP server with `tools` tools, answering from memory.
async fn fake_upstream(tools: usize) -> SocketAddr {
    let listed: Vec<Value> = (0..tools)
        .map(|i| {
            json!({"name": format!("tool_{i:03}"), "description": format!("Fake tool number {i}"),
                   "inputSchema": {"type": "object", "properties": {"x": {"type": "string"}}}})
        })
        .collect();
    let listed = json!({"tools": listed, "resultType": "complete"});
    let app = axum::Router::new().route(
        "/mcp",
        post(move |Json(request): Json<Value>| {
            let listed = listed.clone();
            async move {
                let result = match request["method"].as_str().unwrap_or("") {
                    "server/discover" => json!({
                        "supportedVersions": ["2026-07-28"],
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "fake", "version": "1"},
                        "resultType": "complete"}),
                    "tools/list" => listed,
                    "tools/call" => json!({"content": [{"type": "text", "text": "ok"}],
                                           "resultType": "complete"}),
                    _ => json!({"resultType": "complete"}),
                };
                Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let adapters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let tools: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);

    let gateway = support::Gateway::start("none");
    let base = gateway.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .expect("client");
    let create = |name: String, url: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let status = http
                .post(format!("{base}/adapters"))
                .json(&json!({"name": name, "url": url}))
                .send()
                .await
                .expect("create")
                .status();
            assert_eq!(status, 201, "POST /adapters {name}");
        }
    };
    for i in 0..adapters {
        let addr = fake_upstream(tools).await;
        create(format!("fake-{i:02}"), format!("http://{addr}/mcp")).await;
    }
    let example_port = support::free_port().to_string();
    let (_example, _) = start(
        &support::sibling("mcp-example"),
        &[],
        &[("PORT", example_port.as_str()), ("BIND", "127.0.0.1")],
        "listening on",
    );
    let example_url = format!("http://127.0.0.1:{example_port}/mcp");
    create("example".into(), example_url.clone()).await;

    let stateless = |url: String| Rpc {
        http: http.clone(),
        url,
        session: None,
    };
    let mcp = stateless(format!("{base}/mcp"));
    let expected = adapters * tools;
    let all_pages = || async {
        let mut cursor: Option<String> = None;
        let mut seen = 0;
        loop {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let page = mcp.send("tools/list", None, params).await;
            seen += page["tools"].as_array().map_or(0, Vec::len);
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return seen,
            }
        }
    };
    let started = Instant::now();
    loop {
        // The fakes' tools plus mcp-example's five.
        if all_pages().await >= expected + 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gateway did not federate {expected} tools within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{adapters} adapters x {tools} tools federated {:.0} ms after the last POST /adapters",
        started.elapsed().as_secs_f64() * 1e3
    );

    let mut first_page = time(rounds, || async {
        mcp.send("tools/list", None, json!({})).await;
    })
    .await;
    let full_rounds = (rounds / 10).max(20);
    let mut every_page = time(full_rounds, || async {
        assert!(all_pages().await >= expected);
    })
    .await;

    let direct = stateless(example_url);
    let proxied = stateless(format!("{base}/adapters/example/mcp"));
    let arguments = json!({"a": 2, "b": 3});
    let (mut direct_t, mut proxied_t, mut federated_t) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds + 50 {
        let t = Instant::now();
        direct
            .send(
                "tools/call",
                Some("add"),
                json!({"name": "add", "arguments": arguments}),
            )
            .await;
        let d = t.elapsed();
        let t = Instant::now();
        proxied
            .send(
                "tools/call",
                Some("add"),
                json!({"name": "add", "arguments": arguments}),
            )
            .await;
        let p = t.elapsed();
        let t = Instant::now();
        let result = mcp
            .send(
                "tools/call",
                Some("example_add"),
                json!({"name": "example_add", "arguments": arguments}),
            )
            .await;
        let f = t.elapsed();
        assert_eq!(result["content"][0]["text"], "5", "{result}");
        if round >= 50 {
            direct_t.push(d);
            proxied_t.push(p);
            federated_t.push(f);
        }
    }

    println!("--- tools/list on /mcp over {adapters} x {tools} federated tools");
    let list_p50 = report("tools/list, first page (100 tools)", &mut first_page);
    report(
        &format!("tools/list, every page ({expected}+ tools), {full_rounds} rounds"),
        &mut every_page,
    );
    println!("--- tools/call add, {rounds} rounds each, interleaved, stateless 2026-07-28");
    let direct_p50 = report("direct to mcp-example", &mut direct_t);
    let proxied_p50 = report("through /adapters/example/mcp", &mut proxied_t);
    let federated_p50 = report("as example_add through /mcp", &mut federated_t);
    println!(
        "tools/list first page p50 {list_p50:.3} ms (target <= 2 ms); federated call adds {:.3} ms over the adapter endpoint ({:.3} ms over direct)",
        federated_p50 - proxied_p50,
        federated_p50 - direct_p50
    );
}
