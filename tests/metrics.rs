//! `GET /metrics` against the real binary: real traffic (the rmcp sample server and the weather
//! tool as local processes behind `url` resources, failing upstreams, tampered sessions, API
//! calls), then the exact series and values it must produce. Every scrape is parsed strictly
//! (tests/common/exposition.rs), so each one also proves the output is valid Prometheus text.

mod common;

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::exposition::Exposition;
use common::raw::{call_add, initialize_body, open_session, rpc};
use common::{Gateway, client, closed_port, config_none, upstream};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const REQUESTS: &str = "mcp_gateway_proxy_requests_total";
const HEAD: &str = "mcp_gateway_proxy_response_head_seconds_count";
const FAILURES: &str = "mcp_gateway_proxy_upstream_failures_total";
const MINTED: &str = "mcp_gateway_proxy_sessions_minted_total";
const REJECTED: &str = "mcp_gateway_proxy_sessions_rejected_total";
const OPEN: &str = "mcp_gateway_proxy_open_streams";
const CALLS: &str = "mcp_gateway_router_tool_calls_total";
const CALL_DURATION: &str = "mcp_gateway_router_tool_call_duration_seconds_count";
const API: &str = "mcp_gateway_api_requests_total";

/// GET /metrics (with a bearer token when given); the raw response.
async fn get_metrics(
    http: &reqwest::Client,
    gw: &Gateway,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = http.get(gw.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("GET /metrics")
}

/// A successful scrape, parsed strictly.
async fn scrape_with(http: &reqwest::Client, gw: &Gateway, token: Option<&str>) -> Exposition {
    let response = get_metrics(http, gw, token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    let text = response.text().await.expect("body");
    Exposition::parse(&text)
        .unwrap_or_else(|err| panic!("not valid exposition text: {err}\n{text}"))
}

async fn scrape(http: &reqwest::Client, gw: &Gateway) -> Exposition {
    scrape_with(http, gw, None).await
}

async fn create(http: &reqwest::Client, gw: &Gateway, collection: &str, body: Value) {
    let response = http
        .post(gw.url(&format!("/{collection}")))
        .json(&body)
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
}

async fn create_adapter(http: &reqwest::Client, gw: &Gateway, name: &str, url: &str) {
    // Not federated: the tool router's own listings of the adapter would be counted too.
    create(
        http,
        gw,
        "adapters",
        json!({"name": name, "url": url, "federate": false}),
    )
    .await;
}

fn refused_url() -> String {
    format!("http://127.0.0.1:{}/mcp", closed_port())
}

/// `[adapter, method, code]` labels of a data-plane request counter.
fn answered<'a>(adapter: &'a str, method: &'a str, code: &'a str) -> [(&'a str, &'a str); 3] {
    [("adapter", adapter), ("method", method), ("code", code)]
}

#[test]
fn the_strict_reader_accepts_good_text_and_refuses_bad() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 3\n\
                # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n";
    let parsed = Exposition::parse(good).expect("parses");
    assert_eq!(parsed.get("a_total", &[("x", "q\"\\\n")]), 3.0);
    assert_eq!(parsed.get("h_count", &[]), 2.0);
    for bad in [
        "a 1\n",                                                                          // no TYPE
        "# TYPE a gauge\na 1\n",                                                          // no HELP
        "# HELP a A.\n# TYPE a gauge\nb 1\n", // outside its family
        "# HELP a A.\n# TYPE a counter\na 1\n", // counter not *_total
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1 123\n", // timestamp
        "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n", // unquoted label value
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n", // duplicate series
        "# HELP a A.\n# TYPE a gauge\n",      // empty family
        "# HELP a A.\n# TYPE a gauge\na inf\n", // not a Prometheus value
        "# HELP a A.\n# TYPE a gauge\na 1",   // no final newline
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", // +Inf != count
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",    // no +Inf
    ] {
        assert!(Exposition::parse(bad).is_err(), "accepted: {bad:?}");
    }
}

#[tokio::test]
async fn data_plane_requests_sessions_and_streams_are_counted_per_adapter() {
    let (_upstream, upstream_url) = upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_none(dir.path(), "none", "[proxy]\nmax_body_bytes = 4096\n");
    let gw = Gateway::start(dir.path(), &config);
    let http = client();
    create_adapter(&http, &gw, "rmcp", &upstream_url).await;
    create_adapter(&http, &gw, "down", &refused_url()).await;
    let url = gw.url("/adapters/rmcp/mcp");
    let down = gw.url("/adapters/down/mcp");

    // Before any traffic: every adapter has its series, at zero.
    let m = scrape(&http, &gw).await;
    assert_eq!(
        m.type_of("mcp_gateway_proxy_requests_total"),
        None,
        "no request yet"
    );
    for adapter in ["rmcp", "down"] {
        let labels = [("adapter", adapter)];
        assert_eq!(m.get(HEAD, &labels), 0.0);
        assert_eq!(m.get(MINTED, &labels), 0.0);
        assert_eq!(m.get(REJECTED, &labels), 0.0);
        assert_eq!(m.get(OPEN, &labels), 0.0);
        assert_eq!(m.sum(FAILURES, &labels), 0.0);
    }
    assert_eq!(
        m.type_of("mcp_gateway_proxy_response_head_seconds"),
        Some("histogram")
    );
    assert_eq!(m.type_of(FAILURES), Some("counter"));
    assert_eq!(m.type_of(OPEN), Some("gauge"));

    // A session: initialize (200) and notifications/initialized (202), then two calls (200).
    let token = open_session(&http, &url, &[]).await;
    for id in [2, 3] {
        assert_eq!(
            call_add(&http, &url, &token, &[], id).await.status,
            StatusCode::OK
        );
    }
    // A tampered token, and this adapter's token sent to another adapter: the gateway refuses
    // both with 404 (each adapter counts its own).
    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    assert_eq!(
        call_add(&http, &url, &tampered, &[], 4).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call_add(&http, &down, &token, &[], 5).await.status,
        StatusCode::NOT_FOUND
    );
    // A body over proxy.max_body_bytes: 413, never forwarded.
    let big =
        json!({"jsonrpc": "2.0", "id": 6, "method": "ping", "params": {"pad": "x".repeat(5000)}});
    assert_eq!(
        rpc(&http, &url, Some(&token), &[], big).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // An upstream that refuses connections: 502.
    assert_eq!(
        rpc(&http, &down, None, &[], initialize_body()).await.status,
        StatusCode::BAD_GATEWAY
    );
    // An adapter that does not exist, by the short way and through the API router (an encoded
    // name): 404, and no series may name it.
    for path in ["/adapters/ghost/mcp", "/adapters/gh%6Fst/mcp"] {
        let missing = rpc(&http, &gw.url(path), None, &[], initialize_body()).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
    }

    let m = scrape(&http, &gw).await;
    assert_eq!(m.get(REQUESTS, &answered("rmcp", "POST", "200")), 3.0);
    assert_eq!(m.get(REQUESTS, &answered("rmcp", "POST", "202")), 1.0);
    assert_eq!(m.get(REQUESTS, &answered("rmcp", "POST", "404")), 1.0);
    assert_eq!(m.get(REQUESTS, &answered("rmcp", "POST", "413")), 1.0);
    assert_eq!(
        m.sum(REQUESTS, &[("adapter", "rmcp")]),
        6.0,
        "nothing else counted"
    );
    assert_eq!(m.get(REQUESTS, &answered("down", "POST", "404")), 1.0);
    assert_eq!(m.get(REQUESTS, &answered("down", "POST", "502")), 1.0);
    assert_eq!(m.sum(REQUESTS, &[("adapter", "down")]), 2.0);
    // Every counted request has its time to the response head.
    assert_eq!(m.get(HEAD, &[("adapter", "rmcp")]), 6.0);
    assert_eq!(m.get(HEAD, &[("adapter", "down")]), 2.0);
    assert_eq!(
        m.get(MINTED, &[("adapter", "rmcp")]),
        1.0,
        "one session, one token"
    );
    assert_eq!(m.get(MINTED, &[("adapter", "down")]), 0.0);
    assert_eq!(m.get(REJECTED, &[("adapter", "rmcp")]), 1.0);
    assert_eq!(m.get(REJECTED, &[("adapter", "down")]), 1.0);
    let failure = |adapter, kind| m.get(FAILURES, &[("adapter", adapter), ("kind", kind)]);
    // The body over the limit is the client's failure: a 413 above, not an upstream failure.
    assert_eq!(m.sum(FAILURES, &[("adapter", "rmcp")]), 0.0);
    assert_eq!(failure("down", "connect"), 1.0);
    assert_eq!(m.sum(FAILURES, &[("adapter", "down")]), 1.0);
    assert_eq!(
        m.get(OPEN, &[("adapter", "rmcp")]),
        0.0,
        "every answer was read to its end"
    );
    assert!(
        !m.text.contains("ghost") && !m.text.contains("gh%6Fst"),
        "an unknown adapter made series:\n{}",
        m.text
    );
    assert_eq!(
        m.sum(API, &[("route", "/adapters/{name}/mcp")]),
        0.0,
        "data-plane requests are not API requests"
    );

    // A 2025 GET stream is open while the client holds it, and closed once the client leaves.
    let stream = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &token)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("GET stream");
    assert_eq!(stream.status(), StatusCode::OK);
    let m = scrape(&http, &gw).await;
    assert_eq!(m.get(OPEN, &[("adapter", "rmcp")]), 1.0);
    assert_eq!(m.get(REQUESTS, &answered("rmcp", "GET", "200")), 1.0);
    drop(stream);
    common::eventually(
        "the dropped stream to close",
        Duration::from_secs(15),
        || async {
            let m = scrape(&http, &gw).await;
            (m.get(OPEN, &[("adapter", "rmcp")]) == 0.0).then_some(())
        },
    )
    .await;

    // DELETE ends the session: 204.
    let deleted = http
        .delete(&url)
        .header("mcp-session-id", &token)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let m = scrape(&http, &gw).await;
    assert_eq!(m.get(REQUESTS, &answered("rmcp", "DELETE", "204")), 1.0);
    assert_eq!(m.sum(REQUESTS, &[("adapter", "rmcp")]), 8.0);
    assert_eq!(m.get(HEAD, &[("adapter", "rmcp")]), 8.0);
    assert_eq!(m.get(OPEN, &[("adapter", "rmcp")]), 0.0);
}

/// A loopback upstream that accepts connections, reads the request and closes without
/// answering, until the test ends.
fn closing_upstream() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
        }
    });
    url
}

#[tokio::test]
async fn upstream_failures_are_counted_by_kind() {
    // Connections to this one are accepted by the kernel and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("http://{}/mcp", silent.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_none(dir.path(), "none", "[proxy]\nidle_timeout_secs = 1\n");
    let gw = Gateway::start(dir.path(), &config);
    let http = client();
    create_adapter(&http, &gw, "silent", &silent_url).await;
    create_adapter(&http, &gw, "closing", &closing_upstream()).await;
    create_adapter(&http, &gw, "refused", &refused_url()).await;

    for (adapter, status) in [
        ("silent", StatusCode::GATEWAY_TIMEOUT),
        ("closing", StatusCode::BAD_GATEWAY),
        ("refused", StatusCode::BAD_GATEWAY),
    ] {
        let url = gw.url(&format!("/adapters/{adapter}/mcp"));
        let answer = rpc(&http, &url, None, &[], initialize_body()).await;
        assert_eq!(answer.status, status, "{adapter}: {:?}", answer.messages);
    }

    let m = scrape(&http, &gw).await;
    for (adapter, kind, code) in [
        ("silent", "timeout", "504"),
        ("closing", "exchange", "502"),
        ("refused", "connect", "502"),
    ] {
        assert_eq!(
            m.get(FAILURES, &[("adapter", adapter), ("kind", kind)]),
            1.0,
            "{adapter}"
        );
        assert_eq!(
            m.sum(FAILURES, &[("adapter", adapter)]),
            1.0,
            "{adapter}: one kind only"
        );
        assert_eq!(
            m.get(REQUESTS, &answered(adapter, "POST", code)),
            1.0,
            "{adapter}"
        );
        assert_eq!(m.get(HEAD, &[("adapter", adapter)]), 1.0, "{adapter}");
        assert_eq!(m.get(OPEN, &[("adapter", adapter)]), 0.0, "{adapter}");
    }
    drop(silent);
}

#[tokio::test]
async fn tool_calls_are_counted_by_tool_and_outcome() {
    let (_tool_server, tool_url) = upstream::tool_example();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    // No enum on `unit`: "kelvin" passes the gateway's schema check and the tool server itself
    // answers 400, a tool error.
    let definition = |name: &str| {
        json!({"tool": {"name": name, "description": "Current weather",
            "inputSchema": {"type": "object", "required": ["location"],
                            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}}}})
    };
    create(
        &http,
        &gw,
        "tools",
        json!({"name": "weather", "url": tool_url, "toolDefinition": definition("weather")}),
    )
    .await;
    let dead = format!("http://127.0.0.1:{}/score", closed_port());
    create(
        &http,
        &gw,
        "tools",
        json!({"name": "broken", "url": dead, "toolDefinition": definition("broken")}),
    )
    .await;

    let before = scrape(&http, &gw).await;
    assert_eq!(before.sum(CALLS, &[]), 0.0);
    assert_eq!(
        before.get(CALLS, &[("tool", "weather"), ("outcome", "ok")]),
        0.0
    );

    let session = common::mcp::connect(&gw.url("/mcp"))
        .await
        .expect("connect");
    let call = |tool: &'static str, arguments: Value| {
        let session = &session;
        async move { common::mcp::call(session, tool, arguments).await }
    };
    let ok = call("weather", json!({"location": "Paris"}))
        .await
        .expect("ok call");
    assert!(!common::mcp::is_error(&ok), "{ok:?}");
    let refused = call("weather", json!({"location": "Paris", "unit": "kelvin"}))
        .await
        .expect("call");
    assert!(
        common::mcp::is_error(&refused) && common::mcp::text(&refused).contains("400"),
        "{refused:?}"
    );
    let invalid = call("weather", json!({"unit": "celsius"}))
        .await
        .expect("call");
    assert!(
        common::mcp::text(&invalid).contains("location: is required"),
        "{invalid:?}"
    );
    let unreachable = call("broken", json!({"location": "Oslo"}))
        .await
        .expect("call");
    assert!(
        common::mcp::text(&unreachable).contains("unreachable"),
        "{unreachable:?}"
    );
    assert!(
        call("ghost-tool", json!({})).await.is_err(),
        "an unknown tool is a protocol error"
    );
    let _ = session.cancel().await;

    let m = scrape(&http, &gw).await;
    let calls = |tool, outcome| m.get(CALLS, &[("tool", tool), ("outcome", outcome)]);
    assert_eq!(calls("weather", "ok"), 1.0);
    assert_eq!(calls("weather", "tool_error"), 1.0);
    assert_eq!(calls("weather", "invalid_arguments"), 1.0);
    assert_eq!(calls("weather", "upstream_failure"), 0.0);
    assert_eq!(calls("broken", "upstream_failure"), 1.0);
    assert_eq!(m.sum(CALLS, &[("tool", "broken")]), 1.0);
    assert_eq!(m.get(CALL_DURATION, &[("tool", "weather")]), 3.0);
    assert_eq!(m.get(CALL_DURATION, &[("tool", "broken")]), 1.0);
    assert_eq!(
        m.type_of("mcp_gateway_router_tool_call_duration_seconds"),
        Some("histogram")
    );
    assert!(
        !m.text.contains("ghost-tool"),
        "an unknown tool made series:\n{}",
        m.text
    );
    assert!(m.sum(API, &[("route", "/mcp"), ("method", "POST")]) >= 5.0);
    let state = [("kind", "tool"), ("name", "weather")];
    assert_eq!(m.get("mcp_gateway_desired_replicas", &state), 1.0);
    assert_eq!(m.get("mcp_gateway_resources", &[("kind", "tool")]), 2.0);
}

#[tokio::test]
async fn api_requests_are_counted_by_route_template_and_deleted_resources_vanish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    create_adapter(&http, &gw, "keep", &refused_url()).await;
    create_adapter(&http, &gw, "gone", &refused_url()).await;

    // The first scrape is counted once it is answered: the second one sees it.
    let first = scrape(&http, &gw).await;
    assert_eq!(
        first.value(
            API,
            &[("route", "/metrics"), ("method", "GET"), ("code", "200")]
        ),
        None
    );
    for _ in 0..2 {
        let got = http
            .get(gw.url("/adapters/keep"))
            .send()
            .await
            .expect("get");
        assert_eq!(got.status(), StatusCode::OK);
    }
    let missing = http
        .get(gw.url("/adapters/nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let invalid = http
        .put(gw.url("/adapters/keep"))
        .json(&json!({"url": "ftp://nowhere"}))
        .send()
        .await
        .expect("put");
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let unrouted = http.get(gw.url("/no/such/path")).send().await.expect("get");
    assert_eq!(unrouted.status(), StatusCode::NOT_FOUND);
    let wrong_method = http.patch(gw.url("/adapters")).send().await.expect("patch");
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Traffic for the adapter about to go, so it has data-plane series to lose.
    let url = gw.url("/adapters/gone/mcp");
    assert_eq!(
        rpc(&http, &url, None, &[], initialize_body()).await.status,
        StatusCode::BAD_GATEWAY
    );

    let m = scrape(&http, &gw).await;
    let api =
        |route, method, code| m.get(API, &[("route", route), ("method", method), ("code", code)]);
    assert_eq!(api("/adapters", "POST", "201"), 2.0);
    assert_eq!(api("/adapters/{name}", "GET", "200"), 2.0);
    assert_eq!(api("/adapters/{name}", "GET", "404"), 1.0);
    assert_eq!(api("/adapters/{name}", "PUT", "400"), 1.0);
    assert_eq!(api("/adapters", "PATCH", "405"), 1.0);
    assert_eq!(api("unmatched", "GET", "404"), 1.0);
    assert_eq!(api("/metrics", "GET", "200"), 1.0);
    assert_eq!(m.sum(API, &[]), 9.0, "nothing else counted");
    for raw in ["nope", "/no/such/path"] {
        assert!(
            !m.text.contains(raw),
            "a raw path became a label: {raw}\n{}",
            m.text
        );
    }
    assert_eq!(m.get("mcp_gateway_resources", &[("kind", "adapter")]), 2.0);
    assert_eq!(m.get("mcp_gateway_resources", &[("kind", "tool")]), 0.0);
    assert_eq!(
        m.get(
            "mcp_gateway_desired_replicas",
            &[("kind", "adapter"), ("name", "gone")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "mcp_gateway_ready_replicas",
            &[("kind", "adapter"), ("name", "gone")]
        ),
        None,
        "a url resource has no replicas to observe"
    );
    assert_eq!(m.get(REQUESTS, &answered("gone", "POST", "502")), 1.0);
    assert!(m.series_with_label_value("gone").len() >= 8, "{}", m.text);
    assert_eq!(
        m.get(
            "mcp_gateway_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    let deleted = http
        .delete(gw.url("/adapters/gone"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let m = scrape(&http, &gw).await;
    assert_eq!(
        m.series_with_label_value("gone"),
        Vec::<&str>::new(),
        "{}",
        m.text
    );
    assert_eq!(m.get("mcp_gateway_resources", &[("kind", "adapter")]), 1.0);
    assert_eq!(m.get(HEAD, &[("adapter", "keep")]), 0.0, "the others stay");
    assert_eq!(
        m.get(
            API,
            &[
                ("route", "/adapters/{name}"),
                ("method", "DELETE"),
                ("code", "204")
            ]
        ),
        1.0
    );
}

// ---------------------------------------------------------------------------------------------
// Access.

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/auth");
const ISSUER: &str = "https://login.example.test/tenant/v2.0";

/// A token for `user` with `roles`, for the gateway at `aud`, signed by the fixture key.
fn token(user: &str, roles: &[&str], aud: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let claims = json!({"iss": ISSUER, "aud": aud, "oid": user, "roles": roles,
                        "iat": now, "nbf": now - 10, "exp": now + 3600});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let pem = std::fs::read(format!("{FIXTURES}/rsa.pem")).expect("fixture");
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
    )
    .expect("sign")
}

fn jwt_config(dir: &std::path::Path, extra: &str) -> String {
    format!(
        "[store]\npath = \"{}\"\n[runtime]\nkind = \"none\"\n[auth]\nmode = \"jwt\"\n[auth.jwt]\nissuer = \"{ISSUER}\"\njwks_file = \"{FIXTURES}/jwks.json\"\n{extra}\n",
        dir.join("gw.db").display()
    )
}

#[tokio::test]
async fn metrics_need_the_admin_role_unless_public() {
    let http = client();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &jwt_config(dir.path(), ""));
    let alice = token("alice", &["team"], &gw.base);
    let admin = token("carol", &["mcp.admin"], &gw.base);

    for bad in [None, Some("not-a-jwt")] {
        let denied = get_metrics(&http, &gw, bad).await;
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        let challenge = denied.headers()["www-authenticate"]
            .to_str()
            .expect("ascii");
        assert!(
            challenge.starts_with("Bearer resource_metadata="),
            "{challenge}"
        );
    }
    let forbidden = get_metrics(&http, &gw, Some(&alice)).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = forbidden.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("admin role"),
        "{problem}"
    );

    let m = scrape_with(&http, &gw, Some(&admin)).await;
    let metrics = |code| {
        m.get(
            API,
            &[("route", "/metrics"), ("method", "GET"), ("code", code)],
        )
    };
    assert_eq!(metrics("401"), 2.0);
    assert_eq!(metrics("403"), 1.0);
    for user in ["alice", "carol"] {
        assert!(!m.text.contains(user), "a user id became a label: {user}");
    }
    drop(gw);

    // public = true: anyone who reaches the gateway may read it, token or not.
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &jwt_config(dir.path(), "[metrics]\npublic = true\n"),
    );
    scrape_with(&http, &gw, None).await;
    scrape_with(&http, &gw, Some("not-a-jwt")).await;
    // The rest of the API still wants a token.
    let adapters = http.get(gw.url("/adapters")).send().await.expect("get");
    assert_eq!(adapters.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn dev_mode_callers_need_the_admin_role_too() {
    let http = client();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "dev", ""));
    let plain = http.get(gw.url("/metrics")).send().await.expect("get");
    assert_eq!(plain.status(), StatusCode::FORBIDDEN);
    let admin = http
        .get(gw.url("/metrics"))
        .header("x-dev-roles", "mcp.admin")
        .send()
        .await
        .expect("get");
    assert_eq!(admin.status(), StatusCode::OK);
    Exposition::parse(&admin.text().await.expect("body")).expect("valid text");
}

#[test]
fn the_metrics_section_is_checked_strictly() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (section, key, line) in [
        ("[metrics]\npublic = \"yes\"\n", "public", "line 4"),
        ("[metrics]\npublic = true\nopen = true\n", "open", "line 5"),
    ] {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, format!("[runtime]\nkind = \"none\"\n{section}")).expect("write");
        let (code, _, stderr) = common::run(&["check", "--config", path.to_str().expect("utf8")]);
        assert_eq!(code, 2, "{section}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(line),
            "{section}: {stderr}"
        );
    }
}
