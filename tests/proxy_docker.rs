//! The data plane in front of Docker-deployed replicas: session affinity, spreading, a dead
//! session replica, a dead replica under a stream of stateless calls (retried on the other),
//! no ready replica; the tool router retrying a refused replica. Needs the engine (skips with a reason otherwise; fails
//! under MCP_GATEWAY_REQUIRE_DOCKER=1).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use bollard::query_parameters::KillContainerOptionsBuilder;
use common::docker::{DEPLOY_TIMEOUT, DockerGateway, engine_or_skip};
use common::exposition::scrape;
use common::raw::{call_tool, initialize_body, open_session, result_text, rpc, stateless_call};
use common::{client, eventually, mcp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const REQUESTS: &str = "mcp_gateway_proxy_requests_total";
const MINTED: &str = "mcp_gateway_proxy_sessions_minted_total";
const RETRIES: &str = "mcp_gateway_proxy_retries_total";
const FAILURES: &str = "mcp_gateway_proxy_upstream_failures_total";

async fn create(gw: &DockerGateway, name: &str, replicas: u32) {
    let response = client()
        .post(gw.url("/adapters"))
        .json(
            // Not federated: the tool router's own listings would be counted in the metrics
            // these tests read.
            &json!({"name": name, "imageName": "mcp-example", "imageVersion": "1.0.0",
                      "replicaCount": replicas, "federate": false}),
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

/// Kills (SIGKILL) the running container of adapter `name` whose hostname (Docker: the short
/// id) is `host`, and checks that it is dead; panics when there is no such container or it
/// survived. Returns its id.
async fn kill_by_hostname(gw: &DockerGateway, name: &str, host: &str) -> String {
    let victim = gw
        .containers(Some(name))
        .await
        .into_iter()
        .find(|c| c.id.as_deref().is_some_and(|id| id.starts_with(host)))
        .unwrap_or_else(|| panic!("no container of {name} has the hostname {host}"));
    let id = victim.id.expect("id");
    kill(gw, &id).await;
    id
}

/// SIGKILL to container `id`, then proof from the engine that it no longer runs.
async fn kill(gw: &DockerGateway, id: &str) {
    let options = KillContainerOptionsBuilder::default()
        .signal("SIGKILL")
        .build();
    gw.docker
        .kill_container(id, Some(options))
        .await
        .unwrap_or_else(|err| panic!("kill {id}: {err}"));
    let state = gw
        .docker
        .inspect_container(id, None)
        .await
        .expect("inspect the killed container")
        .state
        .expect("state");
    assert_eq!(
        state.running,
        Some(false),
        "container {id} survived SIGKILL"
    );
}

/// A data-plane series of adapter `name` in a fresh scrape (0 when absent).
async fn adapter_series(
    gw: &DockerGateway,
    series: &str,
    name: &str,
    more: &[(&str, &str)],
) -> f64 {
    let labels: Vec<(&str, &str)> = [("adapter", name)]
        .into_iter()
        .chain(more.iter().copied())
        .collect();
    scrape(&gw.url("/metrics"))
        .await
        .value(series, &labels)
        .unwrap_or(0.0)
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
    kill_by_hostname(&gw, "failover", &host).await;

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
    // The session was opened after the first kill, on a live replica: kill that one too.
    let not_found = [("method", "POST"), ("code", "404")];
    let (rejected, minted) = (
        adapter_series(&gw, REQUESTS, "failover", &not_found).await,
        adapter_series(&gw, MINTED, "failover", &[]).await,
    );
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
    // It carried on because it was told its session was gone (a 404: the gateway's, or the
    // replacement replica's if it was up already), and opened a new one; not because some call
    // slipped through to a live replica.
    assert!(
        adapter_series(&gw, REQUESTS, "failover", &not_found).await > rejected,
        "the rmcp client never got the 404 of its dead session"
    );
    assert!(
        adapter_series(&gw, MINTED, "failover", &[]).await > minted,
        "the rmcp client did not open a new session"
    );
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

/// One client sending stateless (2026-07-28) `tools/call whoami` one after another, each call
/// checked as it is answered.
struct Stream {
    http: reqwest::Client,
    url: String,
    sent: i64,
}

impl Stream {
    fn new(url: String) -> Stream {
        Stream {
            http: client(),
            url,
            sent: 0,
        }
    }

    /// One call; panics unless it is answered with a result, which it returns.
    async fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.sent += 1;
        let id = self.sent;
        let exchange = stateless_call(&self.http, &self.url, tool, arguments, id)
            .await
            .unwrap_or_else(|err| panic!("call {id}: {err}"));
        assert_eq!(
            exchange.status,
            StatusCode::OK,
            "call {id} was not answered: {:?}",
            exchange.messages
        );
        let answer = exchange.response(id).clone();
        assert!(answer["result"].is_object(), "call {id}: {answer}");
        answer
    }

    async fn whoami(&mut self) -> String {
        hostname(&self.call("whoami", json!({})).await)
    }

    /// The weather tool `forecast` through the tool router; panics on a tool error.
    async fn forecast(&mut self) {
        let answer = self.call("forecast", json!({"location": "Lima"})).await;
        assert!(
            answer["result"]["isError"] != true && result_text(&answer).contains("72.0"),
            "call {} was a tool error: {answer}",
            self.sent
        );
    }
}

/// README, Data plane, Failures: "a request without a session is first retried once on another
/// ready replica". A steady stream of stateless calls to two replicas; one replica is killed
/// between two calls (a call in flight on a killed replica was delivered and cannot be replayed:
/// that one is a 502, as the README says). Every later call is answered, the ones sent to the
/// dead replica by the other one, until the reconciler has replaced it; /metrics counts each
/// retry, and each refused attempt once.
#[tokio::test]
async fn stateless_calls_are_retried_on_the_other_replica_when_one_dies() {
    let Some(docker) =
        engine_or_skip("stateless_calls_are_retried_on_the_other_replica_when_one_dies").await
    else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(&gw, "retry", 2).await;
    gw.healthy("adapters", "retry", 2).await;
    let mut stream = Stream::new(gw.url("/adapters/retry/mcp"));
    let mut served = BTreeSet::new();
    for _ in 0..10 {
        served.insert(stream.whoami().await);
    }
    assert_eq!(served.len(), 2, "stateless calls take turns: {served:?}");

    // Until the endpoints refresh (every 2 s, or at once on a refused connection), the dead
    // replica is still picked for every other call: that is what must be retried. A refresh
    // landing in the instant between the kill and the next call could hide it from the stream;
    // then no call was refused (the refused attempts are counted as connect failures), which
    // proves nothing either way, and the next replica is killed.
    let refused = [("kind", "connect")];
    let mut kills = 0;
    while adapter_series(&gw, FAILURES, "retry", &refused).await == 0.0 {
        kills += 1;
        assert!(
            kills <= 3,
            "no call reached a dead replica in {kills} kills"
        );
        let victim = gw
            .running_replica("retry", 1)
            .await
            .and_then(|c| c.id)
            .expect("replica 1 runs");
        kill(&gw, &victim).await;
        let killed = Instant::now();
        // The stream goes on until the replacement serves a call: only then has the proxy
        // stopped sending calls to the dead container (the status and the container list know
        // of the replacement before the proxy's endpoints do).
        let mut replacement: Option<String> = None;
        loop {
            let host = stream.whoami().await;
            if replacement
                .as_deref()
                .is_some_and(|id| id.starts_with(&host))
            {
                break;
            }
            if stream.sent % 10 == 0 {
                replacement = gw
                    .running_replica("retry", 1)
                    .await
                    .and_then(|c| c.id)
                    .filter(|id| *id != victim);
                assert!(
                    killed.elapsed() < DEPLOY_TIMEOUT,
                    "replica 1 not serving again {DEPLOY_TIMEOUT:?} after the kill"
                );
            }
        }
    }
    // Both replicas take turns again.
    let mut after = BTreeSet::new();
    for _ in 0..10 {
        after.insert(stream.whoami().await);
    }
    assert_eq!(after.len(), 2, "{after:?}");

    let m = scrape(&gw.url("/metrics")).await;
    let retry = [("adapter", "retry")];
    let refusals = m.get(FAILURES, &[("adapter", "retry"), ("kind", "connect")]);
    assert!(refusals >= 1.0, "{}", m.text);
    assert_eq!(
        m.get(RETRIES, &retry),
        refusals,
        "each refused attempt was retried and counted once, and no retry was refused"
    );
    assert_eq!(
        m.sum("mcp_gateway_proxy_requests_total", &retry),
        stream.sent as f64,
        "every call was counted"
    );
    assert_eq!(
        m.get(
            "mcp_gateway_proxy_requests_total",
            &[("adapter", "retry"), ("method", "POST"), ("code", "200")]
        ),
        stream.sent as f64,
        "every call was answered 200:\n{}",
        m.text
    );
}

/// README, Tool router: "a refused replica is retried once on another". A tool deployed with
/// two replicas, a stream of calls through `/mcp`, one replica killed between two calls: every
/// call answers the weather, and the gateway's log shows calls that found the dead replica
/// (without the retry each of those would have been a tool error).
#[tokio::test]
async fn the_router_retries_a_refused_replica_on_the_other() {
    let Some(docker) = engine_or_skip("the_router_retries_a_refused_replica_on_the_other").await
    else {
        return;
    };
    let gw = DockerGateway::start_configured(&docker, "", true);
    let response = client()
        .post(gw.url("/tools"))
        .json(&json!({
            "name": "forecast", "imageName": "tool-example", "imageVersion": "1.0.0",
            "replicaCount": 2,
            "toolDefinition": {"tool": {"name": "forecast", "description": "Weather by location",
                "inputSchema": {"type": "object", "required": ["location"],
                    "properties": {"location": {"type": "string"}}}}}
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::CREATED);
    gw.healthy("tools", "forecast", 2).await;
    let mut stream = Stream::new(gw.url("/mcp"));
    for _ in 0..10 {
        stream.forecast().await;
    }
    let refused = |gw: &DockerGateway| {
        gw.logs()
            .iter()
            .filter(|entry| {
                entry["level"] == "WARN"
                    && entry["fields"]["message"] == "tool server unreachable"
                    && entry["fields"]["tool"] == "forecast"
            })
            .count()
    };
    assert_eq!(refused(&gw), 0, "a replica refused before any was killed");

    // As in the data plane's test: a refresh between the kill and the next call may hide the
    // dead replica from the stream; then another kill.
    let mut kills = 0;
    while refused(&gw) == 0 {
        kills += 1;
        assert!(
            kills <= 3,
            "no call reached a dead replica in {kills} kills"
        );
        let victim = gw
            .running_replica("forecast", 0)
            .await
            .and_then(|c| c.id)
            .expect("replica 0 runs");
        kill(&gw, &victim).await;
        let killed = Instant::now();
        loop {
            stream.forecast().await;
            if stream.sent % 10 != 0 {
                continue;
            }
            let replaced = gw
                .running_replica("forecast", 0)
                .await
                .and_then(|c| c.id)
                .is_some_and(|id| id != victim);
            if replaced {
                gw.healthy("tools", "forecast", 2).await;
                break;
            }
            assert!(
                killed.elapsed() < DEPLOY_TIMEOUT,
                "replica 0 not replaced in {DEPLOY_TIMEOUT:?}"
            );
        }
    }
    for _ in 0..10 {
        stream.forecast().await;
    }
    let m = scrape(&gw.url("/metrics")).await;
    let outcome = |outcome| {
        m.get(
            "mcp_gateway_router_tool_calls_total",
            &[("tool", "forecast"), ("outcome", outcome)],
        )
    };
    assert_eq!(outcome("ok"), stream.sent as f64, "{}", m.text);
    assert_eq!(outcome("upstream_failure"), 0.0, "{}", m.text);
}
