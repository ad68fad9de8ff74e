//! The upstream address policy (SSRF protection) against the real binary.
//!
//! No traffic leaves loopback: refused addresses are only registered (and refused at
//! registration), and the connect-time checks use `localhost`, a name that resolves to
//! loopback, with a listener on this machine that counts every connection it gets.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Gateway, config_none, raw};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A TCP listener on 127.0.0.1 that accepts and counts connections (and answers nothing).
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, accepted)
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let response = http.post(url).json(body).send().await.expect("post");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn refused_addresses_are_refused_at_registration_naming_the_field_and_the_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    // auth none: the laptop default, where loopback is allowed but nothing else private.
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    let own = format!("{}/mcp", gw.base);
    let own_v6_mapped = own.replace("127.0.0.1", "[::ffff:127.0.0.1]");
    let cases: Vec<(String, &str)> = vec![
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "cloud metadata",
        ),
        ("http://[fd00:ec2::254]/".into(), "cloud metadata"),
        ("http://[fe80::1]/mcp".into(), "link-local"),
        ("http://169.254.10.1/mcp".into(), "link-local"),
        ("http://10.0.0.1/mcp".into(), "private"),
        ("http://192.168.1.10:8080/mcp".into(), "private"),
        ("http://172.16.5.4/mcp".into(), "private"),
        ("http://[fd00::1]/mcp".into(), "private"),
        ("http://[::ffff:169.254.169.254]/".into(), "cloud metadata"),
        ("http://[::ffff:10.0.0.1]/mcp".into(), "private"),
        ("http://[::ffff:a9fe:a9fe]/".into(), "cloud metadata"),
        ("http://0.0.0.0:9/mcp".into(), "not a unicast"),
        (own.clone(), "the gateway's own address"),
        (own_v6_mapped, "the gateway's own address"),
    ];
    for (n, (url, rule)) in cases.iter().enumerate() {
        for (collection, body) in [
            ("adapters", json!({"name": format!("a{n}"), "url": url})),
            (
                "tools",
                json!({"name": format!("t{n}"), "url": url, "toolDefinition": {"tool": {
                    "name": format!("t{n}"), "description": "d", "inputSchema": {"type": "object"}}}}),
            ),
        ] {
            let (status, problem) = post(&http, &gw.url(&format!("/{collection}")), &body).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{collection} {url}: {problem}"
            );
            let message = problem["detail"].as_str().expect("detail");
            assert!(message.starts_with("url: "), "names the field: {message}");
            assert!(message.contains(rule), "{url}: {message}");
            let name = body["name"].as_str().expect("name");
            let get = http
                .get(gw.url(&format!("/{collection}/{name}")))
                .send()
                .await
                .expect("get");
            assert_eq!(get.status(), StatusCode::NOT_FOUND, "nothing was created");
        }
    }
    // An update is checked too, and a public address or another loopback port is fine.
    let (status, _) = post(
        &http,
        &gw.url("/adapters"),
        &json!({"name": "ok", "url": "http://127.0.0.1:9/mcp"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let put = http
        .put(gw.url("/adapters/ok"))
        .json(&json!({"url": "http://169.254.169.254/"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::FORBIDDEN);
    let (status, _) = post(
        &http,
        &gw.url("/adapters"),
        &json!({"name": "public", "url": "https://mcp.example.com/mcp"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "registering sends nothing");
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_when_connecting() {
    let (port, accepted) = counting_listener().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &config_none(dir.path(), "dev", "[upstreams]\nallow_loopback = false\n"),
    );
    let http = client();
    // The literal address is refused at once; the name only when it is resolved.
    let (status, problem) = post(
        &http,
        &gw.url("/adapters"),
        &json!({"name": "literal", "url": format!("http://127.0.0.1:{port}/mcp")}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert!(
        problem.to_string().contains("upstreams.allow_loopback"),
        "{problem}"
    );
    for (name, scheme) in [("plain", "http"), ("tls", "https")] {
        let (status, problem) = post(
            &http,
            &gw.url("/adapters"),
            &json!({"name": name, "url": format!("{scheme}://localhost:{port}/mcp")}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{problem}");
    }
    let tool = json!({"name": "lookup", "url": format!("http://localhost:{port}/score"),
        "toolDefinition": {"tool": {"name": "lookup", "description": "d",
            "inputSchema": {"type": "object"}}}});
    let (status, problem) = post(&http, &gw.url("/tools"), &tool).await;
    assert_eq!(status, StatusCode::CREATED, "{problem}");

    // The data plane, plain and TLS: 502 naming the rule.
    for name in ["plain", "tls"] {
        let answer = raw::rpc(
            &http,
            &gw.url(&format!("/adapters/{name}/mcp")),
            None,
            &[],
            raw::initialize_body(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_GATEWAY,
            "{name}: {:?}",
            answer.messages
        );
        let message = answer.messages[0]["error"]["message"]
            .as_str()
            .expect("message");
        assert!(message.contains("loopback"), "{name}: {message}");
    }
    // A status probe.
    let status: Value = http
        .get(gw.url("/adapters/plain/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["replicas"][0]["ready"], false, "{status}");
    let words = status["replicas"][0]["state"].as_str().expect("state");
    assert!(words.contains("loopback"), "{words}");
    // A tool call through the router: a tool error in words.
    let router = gw.url("/mcp");
    let token = raw::open_session(&http, &router, &[]).await;
    let called = raw::call_tool(&http, &router, &token, "lookup", json!({}), 2).await;
    let result = &called.response(2)["result"];
    assert_eq!(result["isError"], true, "{result}");
    let text = raw::result_text(called.response(2));
    assert!(text.contains("loopback"), "{text}");

    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "no connection may reach a refused address"
    );
}

#[tokio::test]
async fn an_allowed_range_is_reached() {
    let (port, accepted) = counting_listener().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &config_none(
            dir.path(),
            "dev",
            "[upstreams]\nallow_loopback = false\nallow = \"127.0.0.0/8\"\n",
        ),
    );
    let http = client();
    let (status, problem) = post(
        &http,
        &gw.url("/adapters"),
        &json!({"name": "allowed", "url": format!("http://127.0.0.1:{port}/mcp")}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{problem}");
    // The listener answers nothing, so the exchange fails; what matters is that it was dialled.
    let _ = raw::rpc(
        &http,
        &gw.url("/adapters/allowed/mcp"),
        None,
        &[],
        raw::initialize_body(),
    )
    .await;
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the allowed address was dialled"
    );
}

#[test]
fn check_refuses_a_config_whose_url_resources_break_the_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{}[[adapters]]\nname = \"meta\"\nurl = \"http://169.254.169.254/\"\n",
            config_none(dir.path(), "none", "")
        ),
    )
    .expect("write");
    let (code, _, err) = common::run(&["check", "--config", config.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("adapters[0].url") && err.contains("cloud metadata"),
        "{err}"
    );
    assert!(err.contains("line 10"), "{err}");
}
