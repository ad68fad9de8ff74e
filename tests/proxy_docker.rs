//! The data plane in front of Docker-deployed replicas: session affinity, spreading, a dead
//! session replica, no ready replica. Needs the engine (skips with a reason otherwise; fails
//! under MCP_GATEWAY_REQUIRE_DOCKER=1).

mod common;

use std::collections::HashSet;

use common::docker::{DockerGateway, engine_or_skip};
use common::exposition::scrape;
use common::raw::{call_tool, initialize_body, open_session, result_text, rpc};
use common::{client, eventually, mcp};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create(gw: &DockerGateway, name: &str, replicas: u32) {
    let response = client()
        .post(gw.url("/adapters"))
        .json(
            &json!({"name": name, "imageName": "mcp-example", "imageVersion": "1.0.0",
                      "replicaCount": replicas}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// The `instance` id of the replica that served a `whoami` call.
fn instance(message: &Value) -> String {
    whoami_field(message, "instance")
}

/// A field of the sample server's `whoami` answer (`instance`, `hostname`, `pid`).
fn whoami_field(message: &Value, field: &str) -> String {
    let who: Value = serde_json::from_str(&result_text(message)).expect("whoami JSON");
    who[field]
        .as_str()
        .unwrap_or_else(|| panic!("whoami has no {field}"))
        .to_string()
}

/// Kills the container of adapter `name` whose hostname (Docker: the short id) is `host`;
/// false when there is none.
async fn kill_by_hostname(gw: &DockerGateway, name: &str, host: &str) -> bool {
    let Some(victim) = gw
        .containers(Some(name))
        .await
        .into_iter()
        .find(|c| c.id.as_deref().is_some_and(|id| id.starts_with(host)))
    else {
        return false;
    };
    gw.docker
        .kill_container(
            victim.id.as_deref().expect("id"),
            None::<bollard::query_parameters::KillContainerOptions>,
        )
        .await
        .expect("kill");
    true
}

fn hostname(message: &Value) -> String {
    whoami_field(message, "hostname")
}

#[tokio::test]
async fn sessions_stick_to_one_replica_and_new_sessions_spread() {
    let Some(docker) =
        engine_or_skip("sessions_stick_to_one_replica_and_new_sessions_spread").await
    else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(&gw, "affinity", 2).await;
    gw.healthy("adapters", "affinity", 2).await;
    let http = client();
    let url = gw.url("/adapters/affinity/mcp");

    let token = open_session(&http, &url, &[]).await;
    let mut seen = HashSet::new();
    for id in 0..50 {
        let call = call_tool(&http, &url, &token, "whoami", json!({}), 100 + id).await;
        assert_eq!(call.status, StatusCode::OK);
        seen.insert(instance(call.response(100 + id)));
    }
    assert_eq!(seen.len(), 1, "one session, one replica: {seen:?}");

    let mut spread = HashSet::new();
    for _ in 0..8 {
        let token = open_session(&http, &url, &[]).await;
        let call = call_tool(&http, &url, &token, "whoami", json!({}), 7).await;
        spread.insert(instance(call.response(7)));
    }
    assert_eq!(
        spread.len(),
        2,
        "new sessions use both replicas: {spread:?}"
    );

    // /metrics sees the Docker replicas and the traffic.
    let m = scrape(&gw.url("/metrics")).await;
    let this = [("kind", "adapter"), ("name", "affinity")];
    assert_eq!(m.get("mcp_gateway_desired_replicas", &this), 2.0);
    assert_eq!(m.get("mcp_gateway_ready_replicas", &this), 2.0);
    assert_eq!(
        m.get(
            "mcp_gateway_proxy_sessions_minted_total",
            &[("adapter", "affinity")]
        ),
        9.0,
        "one session, then eight"
    );
}

#[tokio::test]
async fn a_dead_session_replica_means_404_then_a_new_session_is_served() {
    let Some(docker) =
        engine_or_skip("a_dead_session_replica_means_404_then_a_new_session_is_served").await
    else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(&gw, "failover", 2).await;
    gw.healthy("adapters", "failover", 2).await;
    let http = client();
    let url = gw.url("/adapters/failover/mcp");

    let token = open_session(&http, &url, &[]).await;
    let call = call_tool(&http, &url, &token, "whoami", json!({}), 2).await;
    // Docker sets a container's hostname to its short id.
    let host = hostname(call.response(2));
    assert!(
        kill_by_hostname(&gw, "failover", &host).await,
        "the session's container"
    );

    // The session is gone with its replica: 404 (never a 502), so clients re-initialise.
    let status = call_tool(&http, &url, &token, "whoami", json!({}), 3)
        .await
        .status;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let fresh = open_session(&http, &url, &[]).await;
    let call = call_tool(&http, &url, &fresh, "add", json!({"a": 1, "b": 2}), 4).await;
    assert_eq!(result_text(call.response(4)), "3");

    // The official rmcp client re-initialises by itself on that 404 and carries on.
    let session = mcp::connect(&url).await.expect("connect");
    let first = mcp::call(&session, "whoami", json!({}))
        .await
        .expect("whoami");
    let who: Value = serde_json::from_str(&mcp::text(&first)).expect("json");
    let host = who["hostname"].as_str().expect("hostname").to_string();
    gw.healthy("adapters", "failover", 2).await;
    // Its replica may already have been replaced since the first kill; then there is none to kill.
    kill_by_hostname(&gw, "failover", &host).await;
    let result = eventually(
        "the rmcp client to carry on",
        std::time::Duration::from_secs(30),
        || {
            let session = &session;
            async move {
                mcp::call(session, "add", json!({"a": 2, "b": 2}))
                    .await
                    .ok()
            }
        },
    )
    .await;
    assert_eq!(mcp::text(&result), "4");
}

#[tokio::test]
async fn no_ready_replica_is_503_with_retry_after() {
    let Some(docker) = engine_or_skip("no_ready_replica_is_503_with_retry_after").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(&gw, "scaled-to-zero", 0).await;
    let response = rpc(
        &client(),
        &gw.url("/adapters/scaled-to-zero/mcp"),
        None,
        &[],
        initialize_body(),
    )
    .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers["retry-after"], "2");
    assert_eq!(response.messages[0]["id"], json!(1));

    let m = scrape(&gw.url("/metrics")).await;
    let this = [("kind", "adapter"), ("name", "scaled-to-zero")];
    assert_eq!(m.get("mcp_gateway_desired_replicas", &this), 0.0);
    assert_eq!(m.get("mcp_gateway_ready_replicas", &this), 0.0);
    assert_eq!(
        m.get(
            "mcp_gateway_proxy_upstream_failures_total",
            &[("adapter", "scaled-to-zero"), ("kind", "no_ready_replica")]
        ),
        1.0
    );
}

/// The tool router calls a tool server the Docker runtime deployed (replica endpoints, not a url).
#[tokio::test]
async fn router_calls_a_docker_deployed_tool() {
    let Some(docker) = engine_or_skip("router_calls_a_docker_deployed_tool").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    let response = client()
        .post(gw.url("/tools"))
        .json(&json!({
            "name": "weather", "imageName": "tool-example", "imageVersion": "1.0.0", "replicaCount": 2,
            "toolDefinition": {"tool": {"name": "weather", "description": "Weather by location",
                "inputSchema": {"type": "object", "required": ["location"],
                    "properties": {"location": {"type": "string"},
                                   "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]}}}}}
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::CREATED);
    gw.healthy("tools", "weather", 2).await;
    let session = mcp::connect(&gw.url("/mcp"))
        .await
        .expect("connect to the router");
    let seattle = mcp::call(&session, "weather", json!({"location": "Seattle"}))
        .await
        .expect("call");
    assert!(
        mcp::text(&seattle).contains("72.0"),
        "{}",
        mcp::text(&seattle)
    );
    let celsius = mcp::call(
        &session,
        "weather",
        json!({"location": "Oslo", "unit": "celsius"}),
    )
    .await
    .expect("call");
    assert!(
        mcp::text(&celsius).contains("22.2"),
        "{}",
        mcp::text(&celsius)
    );
    let missing = mcp::call(&session, "weather", json!({}))
        .await
        .expect("call");
    assert!(
        mcp::is_error(&missing) && mcp::text(&missing).contains("location"),
        "{}",
        mcp::text(&missing)
    );
}
