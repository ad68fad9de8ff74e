//! The data plane against real upstreams run as local processes (`url` adapters, no Docker):
//! the rmcp sample server and a Python FastMCP server, driven by raw HTTP, the rmcp client and
//! both majors of the official Python SDK.

mod common;

use std::time::{Duration, Instant};

use common::raw::{
    ACCEPT, call_add, initialize_body, open_session, parse_messages, result_text, rpc,
};
use common::upstream::{self, free_port};
use common::{Gateway, client, closed_port, config_none};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create_url_adapter(
    http: &reqwest::Client,
    gw: &Gateway,
    name: &str,
    url: &str,
    headers: &[(&str, &str)],
) {
    let mut request = http.post(gw.url("/adapters"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    // Not federated: these tests count and inspect what reaches the upstream, and the tool
    // router's own listing traffic would be in it.
    let response = request
        .json(&json!({"name": name, "url": url, "requiredRoles": ["team"], "federate": false}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn sessions_are_sealed_survive_restarts_and_refuse_tampering() {
    let (_upstream, upstream_url) = upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config_none(dir.path(), "none", "")).expect("config");
    let listen = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_on(&config_path, &listen, &[]);
    let http = client();
    create_url_adapter(&http, &gw, "rmcp", &upstream_url, &[]).await;
    create_url_adapter(&http, &gw, "other", &upstream_url, &[]).await;
    let url = gw.url("/adapters/rmcp/mcp");

    let token = open_session(&http, &url, &[]).await;
    // The client sees the gateway's sealed token, not rmcp's UUID.
    assert!(
        token.len() > 60 && token.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{token}"
    );
    let call = call_add(&http, &url, &token, &[], 2).await;
    assert_eq!(call.status, StatusCode::OK);
    assert_eq!(result_text(call.response(2)), "5");

    // Restart the gateway between two calls of one session: it continues, no re-initialise.
    drop(gw);
    let gw = Gateway::start_on(&config_path, &listen, &[]);
    // A new client: the old one's pooled connection died with the old process.
    let http = client();
    let call = call_add(&http, &url, &token, &[], 3).await;
    assert_eq!(call.status, StatusCode::OK, "{:?}", call.messages);
    assert_eq!(result_text(call.response(3)), "5");

    // A tampered token, or one minted for another adapter: 404 with a JSON-RPC error.
    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for (target, bad) in [
        (url.clone(), tampered.as_str()),
        (gw.url("/adapters/other/mcp"), token.as_str()),
    ] {
        let denied = call_add(&http, &target, bad, &[], 4).await;
        assert_eq!(denied.status, StatusCode::NOT_FOUND);
        assert!(
            denied.messages[0]["error"]["code"].is_i64(),
            "{:?}",
            denied.messages
        );
        assert_eq!(
            denied.messages[0]["id"],
            json!(4),
            "the request id is echoed"
        );
    }

    // DELETE ends the session with 204 (rmcp answers 202, which Python 1.x clients reject).
    let deleted = http
        .delete(&url)
        .header("mcp-session-id", &token)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = call_add(&http, &url, &token, &[], 5).await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "the upstream's 404 reaches the client"
    );

    // Re-initialising gives a working new session.
    let fresh = open_session(&http, &url, &[]).await;
    assert_ne!(fresh, token);
    let call = call_add(&http, &url, &fresh, &[], 6).await;
    assert_eq!(result_text(call.response(6)), "5");
}

#[tokio::test]
async fn another_users_token_is_not_a_session() {
    let (_upstream, upstream_url) = upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "dev", ""));
    let http = client();
    let alice = [("x-dev-userid", "alice"), ("x-dev-roles", "team")];
    let bob = [("x-dev-userid", "bob"), ("x-dev-roles", "team")];
    create_url_adapter(&http, &gw, "shared", &upstream_url, &alice).await;
    let url = gw.url("/adapters/shared/mcp");
    let token = open_session(&http, &url, &alice).await;
    let stolen = call_add(&http, &url, &token, &bob, 2).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND);
    let own = call_add(&http, &url, &token, &alice, 3).await;
    assert_eq!(result_text(own.response(3)), "5");
    // A user without read permission is refused before any session handling.
    let outsider = [("x-dev-userid", "eve"), ("x-dev-roles", "")];
    let refused = rpc(&http, &url, None, &outsider, initialize_body()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn progress_events_stream_as_they_are_sent() {
    let (_upstream, upstream_url) = upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    create_url_adapter(&http, &gw, "slow", &upstream_url, &[]).await;
    let url = gw.url("/adapters/slow/mcp");
    let token = open_session(&http, &url, &[]).await;

    let steps = 4;
    let delay_ms = 400;
    let response = http
        .post(&url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", &token)
        .header("mcp-protocol-version", "2025-11-25")
        .json(
            &json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": "slow", "arguments": {"steps": steps, "delayMs": delay_ms},
            "_meta": {"progressToken": "p1"}}}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let started = Instant::now();
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut progress_at = Vec::new();
    let mut result_at = None;
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for message in parse_messages("text/event-stream", &event) {
                if message["method"] == "notifications/progress" {
                    progress_at.push(started.elapsed());
                } else if message["id"] == json!(9) {
                    result_at = Some(started.elapsed());
                }
            }
        }
        if result_at.is_some() {
            break;
        }
    }
    let result_at = result_at.expect("the result arrived");
    assert_eq!(progress_at.len(), steps, "every progress event arrived");
    // Buffered, all events would arrive together at the end. Streamed, the first one arrives
    // while the tool still has (steps - 1) delays to go.
    let lead = result_at - progress_at[0];
    assert!(
        lead >= Duration::from_millis(delay_ms * (steps as u64 - 1) / 2),
        "first progress only {lead:?} before the result: events were buffered ({progress_at:?}, {result_at:?})"
    );
}

#[tokio::test]
async fn rmcp_client_through_the_gateway() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;

    let (_upstream, upstream_url) = upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    create_url_adapter(&http, &gw, "rmcp", &upstream_url, &[]).await;

    let transport = StreamableHttpClientTransport::from_uri(gw.url("/adapters/rmcp/mcp"));
    let client = ().serve(transport).await.expect("rmcp client connects");
    // Both ends run the one rmcp Cargo.lock locks (the sample server is built from this
    // workspace): the client says so in the clientInfo it sends, and the upstream is the sample.
    let locked = upstream::locked_version("rmcp");
    let sent = rmcp::ClientHandler::get_info(&()).client_info;
    assert_eq!(
        (sent.name.as_str(), sent.version.as_str()),
        ("rmcp", locked.as_str())
    );
    let server = client
        .peer_info()
        .and_then(|peer| peer.server_info.clone())
        .expect("the upstream's serverInfo");
    assert_eq!(server.name, "mcp-example");
    let tools = client.list_all_tools().await.expect("list tools");
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    for expected in ["add", "echo", "slow", "whoami", "env"] {
        assert!(names.contains(&expected.to_string()), "{names:?}");
    }
    let mut args = serde_json::Map::new();
    args.insert("a".into(), json!(20));
    args.insert("b".into(), json!(22));
    let result = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args))
        .await
        .expect("call add");
    let text = serde_json::to_value(&result.content)
        .expect("content")
        .to_string();
    assert!(text.contains("42"), "{text}");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn python_sdk_clients_both_majors_and_both_upstreams() {
    let Some((_fastmcp, fastmcp_url)) = upstream::fastmcp() else {
        return;
    };
    let (_rmcp, rmcp_url) = upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    create_url_adapter(&http, &gw, "python", &fastmcp_url, &[]).await;
    create_url_adapter(&http, &gw, "rust", &rmcp_url, &[]).await;
    let add = [("add", json!({"a": 2, "b": 3}))];

    // FastMCP (mcp 1.30) upstream: the 1.x client and the 2.x client (which falls back to the
    // initialize handshake against it).
    let python = gw.url("/adapters/python/mcp");
    for (major, mode) in [(1, "auto"), (2, "auto"), (2, "legacy")] {
        let out = upstream::python_client(major, &python, mode, &add)
            .await
            .expect("venv");
        assert_eq!(out["results"][0]["text"], "5", "{major}.x {mode}: {out}");
        assert!(
            out["tools"]
                .as_array()
                .expect("tools")
                .contains(&json!("add")),
            "{out}"
        );
        assert!(
            out["protocol"]
                .as_str()
                .expect("protocol")
                .starts_with("2025"),
            "{out}"
        );
    }

    // rmcp upstream: the 2.x client in auto mode negotiates 2026-07-28 and works statelessly;
    // the 1.x client uses a 2025 session.
    let rust = gw.url("/adapters/rust/mcp");
    let modern = upstream::python_client(2, &rust, "auto", &add)
        .await
        .expect("venv");
    assert_eq!(modern["protocol"], "2026-07-28", "{modern}");
    assert_eq!(modern["results"][0]["text"], "5", "{modern}");
    let legacy = upstream::python_client(1, &rust, "auto", &add)
        .await
        .expect("venv");
    assert_eq!(legacy["results"][0]["text"], "5", "{legacy}");
}

#[tokio::test]
async fn data_plane_errors() {
    let (_upstream, upstream_url) = upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &config_none(dir.path(), "none", "[proxy]\nmax_body_bytes = 1000\n"),
    );
    let http = client();
    create_url_adapter(&http, &gw, "ok", &upstream_url, &[]).await;
    let dead = format!("http://127.0.0.1:{}/mcp", closed_port());
    create_url_adapter(&http, &gw, "dead", &dead, &[]).await;

    // Unknown adapter.
    let unknown = rpc(
        &http,
        &gw.url("/adapters/nope/mcp"),
        None,
        &[],
        initialize_body(),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Upstream refuses: 502 with the request id echoed.
    let refused = rpc(
        &http,
        &gw.url("/adapters/dead/mcp"),
        None,
        &[],
        initialize_body(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    assert_eq!(refused.messages[0]["id"], json!(1));
    // Too large: 413, whether the length is declared or not.
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                     "params": {"name": "echo", "arguments": {"message": "x".repeat(2000)}}});
    let too_large = rpc(&http, &gw.url("/adapters/ok/mcp"), None, &[], big.clone()).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    let chunks =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.to_string().into_bytes())]);
    let streamed = http
        .post(gw.url("/adapters/ok/mcp"))
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("send");
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A foreign browser Origin is refused; a localhost one passes.
    let evil = rpc(
        &http,
        &gw.url("/adapters/ok/mcp"),
        None,
        &[("origin", "https://evil.example")],
        initialize_body(),
    )
    .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let local = rpc(
        &http,
        &gw.url("/adapters/ok/mcp"),
        None,
        &[("origin", "http://localhost:6274")],
        initialize_body(),
    )
    .await;
    assert_eq!(local.status, StatusCode::OK);
}

/// Header hygiene end to end, against an upstream that echoes what it received.
#[tokio::test]
async fn upstream_sees_clean_headers_and_client_sees_clean_responses() {
    use axum::http::HeaderMap;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|headers: HeaderMap| async move {
            let seen: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                .collect();
            (
                [
                    ("set-cookie", "tracking=1"),
                    ("mcp-session-id", "upstream-session_1"),
                    ("x-upstream", "yes"),
                ],
                axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": seen})),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "dev", ""));
    let http = client();
    let alice = [("x-dev-userid", "alice"), ("x-dev-roles", "team,ops")];
    create_url_adapter(&http, &gw, "echo", &format!("{upstream}/mcp"), &alice).await;
    let exchange = rpc(
        &http,
        &gw.url("/adapters/echo/mcp"),
        None,
        &[
            ("x-dev-userid", "alice"),
            ("x-dev-roles", "team,ops"),
            ("authorization", "Bearer client-secret"),
            ("cookie", "session=abc"),
            ("x-mcp-userid", "mallory"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add"),
            ("mcp-param-city", "Paris"),
        ],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add"}}),
    )
    .await;
    assert_eq!(exchange.status, StatusCode::OK);
    let seen = &exchange.messages[0]["result"];
    assert_eq!(seen["host"], upstream.trim_start_matches("http://"));
    assert_eq!(seen["x-mcp-userid"], "alice");
    assert_eq!(seen["x-mcp-roles"], "team,ops");
    assert!(
        seen["forwarded"]
            .as_str()
            .expect("forwarded")
            .starts_with("for=\"127.0.0.1:"),
        "{seen}"
    );
    for passed in [
        "mcp-method",
        "mcp-name",
        "mcp-param-city",
        "mcp-protocol-version",
    ] {
        assert!(
            seen[passed].is_string(),
            "{passed} missing upstream: {seen}"
        );
    }
    for dropped in ["authorization", "cookie", "x-dev-userid", "x-dev-roles"] {
        assert!(
            seen[dropped].is_null(),
            "{dropped} reached the upstream: {seen}"
        );
    }
    // Responses: no cookies; the upstream's odd-but-legal session id comes back sealed.
    assert!(exchange.headers.get("set-cookie").is_none());
    assert_eq!(exchange.headers["x-upstream"], "yes");
    let token = exchange.session().expect("sealed token");
    assert_ne!(token, "upstream-session_1");
}

/// A keep-alive JSON upstream that counts the connections it accepts and closes its idle ones
/// when told (as uvicorn does after 5 s idle, without telling the client beforehand).
struct KeepAliveUpstream {
    url: String,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    close_idle: tokio::sync::watch::Sender<u64>,
}

impl KeepAliveUpstream {
    async fn start() -> KeepAliveUpstream {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (close_idle, closes) = tokio::sync::watch::channel(0u64);
        let (counter, gauge) = (accepted.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                gauge.fetch_add(1, Ordering::SeqCst);
                let (gauge, mut closes) = (gauge.clone(), closes.clone());
                closes.mark_unchanged();
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let read = tokio::select! {
                            read = stream.read(&mut chunk) => read,
                            // Told to close: only between requests (`pending` is empty, the
                            // tests send one at a time), so this is an idle close.
                            _ = closes.changed(), if pending.is_empty() => break,
                        };
                        match read {
                            Ok(n) if n > 0 => pending.extend_from_slice(&chunk[..n]),
                            _ => break, // closed or failed: close our side
                        }
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head =
                                String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                            let length: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if pending.len() < end + 4 + length {
                                break;
                            }
                            pending.drain(..end + 4 + length);
                            let body = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
                            let response = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if stream.write_all(response.as_bytes()).await.is_err() {
                                pending.clear();
                                break;
                            }
                        }
                    }
                    drop(stream);
                    gauge.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        KeepAliveUpstream {
            url,
            accepted,
            open,
            close_idle,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Closes every idle connection and waits until they are closed.
    async fn close_idle_connections(&self) {
        self.close_idle.send_modify(|n| *n += 1);
        let open = self.open.clone();
        common::eventually(
            "the upstream's idle connections closed",
            Duration::from_secs(10),
            || {
                let open = open.load(std::sync::atomic::Ordering::SeqCst);
                async move { (open == 0).then_some(()) }
            },
        )
        .await;
    }
}

/// Upstream connections are kept and reused, and one the upstream closed while it lay idle is
/// never used again: the next request gets a new connection, not a 502.
#[tokio::test]
async fn upstream_connections_are_reused_and_closed_ones_are_replaced() {
    let upstream = KeepAliveUpstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    create_url_adapter(&http, &gw, "keepalive", &upstream.url, &[]).await;
    let url = gw.url("/adapters/keepalive/mcp");
    let ping = || {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(&url)
                .header("accept", ACCEPT)
                .header("content-type", "application/json")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
                .send()
                .await
                .expect("send")
                .status()
        }
    };

    for _ in 0..20 {
        assert_eq!(ping().await, StatusCode::OK);
    }
    assert_eq!(
        upstream.accepted(),
        1,
        "20 sequential requests share one upstream connection"
    );

    for round in 0..3 {
        // The upstream drops the idle connection; the gateway must notice before reusing it.
        upstream.close_idle_connections().await;
        assert_eq!(ping().await, StatusCode::OK, "after idle close {round}");
        assert_eq!(upstream.accepted(), 2 + round);
    }

    let concurrent = futures_util::future::join_all((0..8).map(|_| ping())).await;
    assert!(
        concurrent.iter().all(|s| *s == StatusCode::OK),
        "{concurrent:?}"
    );
    assert!(upstream.accepted() <= 4 + 8);
}

/// `proxy.cors = true`: browser clients (the MCP Inspector, say) get preflights answered and may
/// read the session headers, on the data plane and on the tool router alike; an origin that is
/// not allowed gets neither.
#[tokio::test]
async fn cors_for_browser_clients_on_both_mcp_endpoints() {
    let upstream = KeepAliveUpstream::start().await;
    let upstream_url = upstream.url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &config_none(dir.path(), "none", "[proxy]\ncors = true\n"),
    );
    let http = client();
    create_url_adapter(&http, &gw, "browser", &upstream_url, &[]).await;
    let allowed = "http://localhost:6274";
    for path in ["/adapters/browser/mcp", "/mcp"] {
        let preflight = http
            .request(reqwest::Method::OPTIONS, gw.url(path))
            .header("origin", allowed)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, mcp-session-id",
            )
            .send()
            .await
            .expect("preflight");
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        let h = preflight.headers();
        assert_eq!(h["access-control-allow-origin"], allowed, "{path}");
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .expect("ascii")
                .contains("POST"),
            "{path}"
        );
        assert_eq!(
            h["access-control-allow-headers"], "content-type, mcp-session-id",
            "{path}"
        );

        let answer = rpc(
            &http,
            &gw.url(path),
            None,
            &[("origin", allowed)],
            initialize_body(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(
            answer.headers["access-control-allow-origin"], allowed,
            "{path}"
        );
        assert!(
            answer.headers["access-control-expose-headers"]
                .to_str()
                .expect("ascii")
                .contains("Mcp-Session-Id"),
            "{path}"
        );

        let foreign = http
            .request(reqwest::Method::OPTIONS, gw.url(path))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .expect("preflight");
        assert_eq!(foreign.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            !foreign
                .headers()
                .contains_key("access-control-allow-origin")
        );
    }
}
