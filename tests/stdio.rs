//! stdio MCP servers in containers (`transport: "stdio"`), on Docker, through
//! `/adapters/{name}/mcp`: the official reference server `mcp-server-time` from PyPI and
//! `mcp-example --stdio`, reached by the official SDK clients (Python 1.x, 2.x in auto mode,
//! rmcp) and by raw HTTP where the wire itself is asserted.
//!
//! Needs the images of `scripts/build-stdio-images.sh` and `scripts/build-images.sh` (both run
//! by `scripts/test.sh`); skips without them unless MCP_GATEWAY_REQUIRE_DOCKER=1.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bollard::Docker;
use common::docker::{DockerGateway, REQUIRE_ENV, engine_or_skip};
use common::raw::{self, ACCEPT, STATELESS, rpc};
use common::upstream::python_client;
use common::{client, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TIME_IMAGE: &str = "mcp-server-time:test";

/// The engine with the stdio test images, or `None` after saying why the test skips.
async fn stdio_engine(test: &str) -> Option<Docker> {
    let docker = engine_or_skip(test).await?;
    if docker.inspect_image(TIME_IMAGE).await.is_err() {
        let reason =
            format!("{TIME_IMAGE} is missing; build it with scripts/build-stdio-images.sh");
        if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
            panic!("{test}: {reason}");
        }
        eprintln!("skipping {test}: {reason}");
        return None;
    }
    Some(docker)
}

async fn create(gw: &DockerGateway, body: Value) {
    let response = client()
        .post(gw.url("/adapters"))
        .json(&body)
        .send()
        .await
        .expect("POST /adapters");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::CREATED, "{text}");
}

fn example_stdio(name: &str) -> Value {
    json!({"name": name, "imageName": "mcp-example", "imageVersion": "1.0.0",
           "transport": "stdio", "args": ["--stdio"]})
}

#[tokio::test]
async fn mcp_server_time_over_stdio_serves_python_1_and_2_and_rmcp() {
    let Some(docker) = stdio_engine("mcp_server_time_over_stdio").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(
        &gw,
        json!({"name": "time", "imageName": "mcp-server-time", "imageVersion": "test",
               "transport": "stdio"}),
    )
    .await;
    gw.healthy("adapters", "time", 1).await;
    let url = gw.url("/adapters/time/mcp");
    let call = [("get_current_time", json!({"timezone": "Etc/UTC"}))];

    // Python 1.x: a 2025 session.
    if let Some(summary) = python_client(1, &url, "auto", &call).await {
        assert!(
            summary["protocol"]
                .as_str()
                .is_some_and(|p| p.starts_with("2025-")),
            "{summary}"
        );
        assert_time_answer(&summary);
    }
    // Python 2.x in auto mode: server/discover first, so stateless 2026-07-28, although the
    // server itself speaks 2025.
    if let Some(summary) = python_client(2, &url, "auto", &call).await {
        assert_eq!(summary["protocol"], STATELESS, "{summary}");
        assert_time_answer(&summary);
    }
    // rmcp.
    let session = common::mcp::connect(&url).await.expect("rmcp connects");
    let tools = session.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "get_current_time"));
    let result = common::mcp::call(&session, "get_current_time", json!({"timezone": "Etc/UTC"}))
        .await
        .expect("rmcp call");
    assert!(common::mcp::text(&result).contains("Etc/UTC"));
    let _ = session.cancel().await;

    // The replica's logs are its stderr: never the protocol on its stdout.
    let logs = client()
        .get(gw.url("/adapters/time/logs?tail=200"))
        .send()
        .await
        .expect("logs")
        .text()
        .await
        .expect("text");
    assert!(
        !logs.contains("jsonrpc"),
        "protocol traffic in the logs: {logs}"
    );
}

fn assert_time_answer(summary: &Value) {
    assert!(
        summary["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("get_current_time"))),
        "{summary}"
    );
    let result = &summary["results"][0];
    assert_eq!(result["isError"], false, "{summary}");
    assert!(
        result["text"]
            .as_str()
            .is_some_and(|t| t.contains("Etc/UTC")),
        "{summary}"
    );
}

/// One POST with a session; the messages of its SSE answer.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: Value) -> Vec<Value> {
    rpc(http, url, Some(token), &[], body).await.messages
}

#[tokio::test]
async fn one_shared_process_answers_every_caller_its_own() {
    let Some(docker) = stdio_engine("one_shared_process_answers_every_caller_its_own").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(&gw, example_stdio("shared")).await;
    gw.healthy("adapters", "shared", 1).await;
    let url = gw.url("/adapters/shared/mcp");
    let http = client();

    // 20 sessions × 10 calls at once on one process; every client uses the same ids (1..=10)
    // and progress tokens that collide across sessions, so only the gateway's rewriting can
    // bring each answer and each progress event to its own caller.
    let sessions = (0..20).map(|session| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let token = raw::open_session(&http, &url, &[]).await;
            let calls = (1..=10).map(|call: i64| {
                let (http, url, token) = (&http, &url, &token);
                async move {
                    let a = session * 100 + call;
                    let add = post(
                        http,
                        url,
                        token,
                        json!({"jsonrpc": "2.0", "id": call, "method": "tools/call",
                               "params": {"name": "add", "arguments": {"a": a, "b": 1}}}),
                    )
                    .await;
                    let answer = add.iter().find(|m| m["id"] == json!(call)).expect("answer");
                    assert_eq!(raw::result_text(answer), (a + 1).to_string(), "{add:?}");
                    // `slow` with progress: the token is the same in every session.
                    let slow = post(
                        http,
                        url,
                        token,
                        json!({"jsonrpc": "2.0", "id": call, "method": "tools/call",
                               "params": {"name": "slow", "arguments": {"steps": 3, "delayMs": 5},
                                          "_meta": {"progressToken": format!("p{call}")}}}),
                    )
                    .await;
                    let progress: Vec<&Value> = slow
                        .iter()
                        .filter(|m| m["method"] == "notifications/progress")
                        .collect();
                    assert_eq!(progress.len(), 3, "three progress events: {slow:?}");
                    for event in progress {
                        assert_eq!(event["params"]["progressToken"], json!(format!("p{call}")));
                    }
                    let done = slow.last().expect("an answer");
                    assert_eq!(done["id"], json!(call));
                    assert_eq!(raw::result_text(done), "done after 3 steps");
                }
            });
            futures_util::future::join_all(calls).await;
        }
    });
    futures_util::future::join_all(sessions).await;

    // Still one process for all of them.
    let containers = gw.containers(Some("shared")).await;
    assert_eq!(containers.len(), 1, "one replica container");
}

#[tokio::test]
async fn a_cancelled_call_is_cancelled_upstream_and_a_dead_process_means_reinitialize() {
    let Some(docker) = stdio_engine("a_cancelled_call_is_cancelled_upstream").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(&gw, example_stdio("cancel")).await;
    gw.healthy("adapters", "cancel", 1).await;
    let url = gw.url("/adapters/cancel/mcp");
    let http = client();
    let token = raw::open_session(&http, &url, &[]).await;

    // A long call, cancelled by the client's notifications/cancelled while in flight.
    let slow = {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tokio::spawn(async move {
            post(
                &http,
                &url,
                &token,
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "slow", "arguments": {"steps": 100, "delayMs": 100},
                                  "_meta": {"progressToken": "t"}}}),
            )
            .await
        })
    };
    // Wait until the server works on it (its log says so), then cancel.
    logs_until(&gw, "cancel", "tool call: slow").await;
    let cancelled = rpc(
        &http,
        &url,
        Some(&token),
        &[],
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 7, "reason": "test"}}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::ACCEPTED);
    logs_until(&gw, "cancel", "tool call: slow cancelled").await;
    slow.abort();

    // A stateless client cancels by closing its stream.
    let body = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
        "name": "slow", "arguments": {"steps": 100, "delayMs": 100},
        "_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS,
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let response = http
        .post(&url)
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", STATELESS)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "slow")
        .json(&body)
        .send()
        .await
        .expect("stateless call");
    assert_eq!(response.status(), StatusCode::OK);
    logs_until_count(&gw, "cancel", "tool call: slow", 3).await;
    drop(response);
    logs_until_count(&gw, "cancel", "tool call: slow cancelled", 2).await;

    // Kill the server's container: the session is gone (404), a new one is served by the
    // replica the reconciler brings back.
    let before = gw
        .running_replica("cancel", 0)
        .await
        .expect("running replica");
    docker
        .kill_container(
            before.id.as_deref().expect("id"),
            None::<bollard::query_parameters::KillContainerOptions>,
        )
        .await
        .expect("kill");
    let gone = eventually("the session answers 404", Duration::from_secs(60), || {
        let (http, url, token) = (&http, &url, &token);
        async move {
            let exchange =
                raw::call_tool(http, url, token, "add", json!({"a": 1, "b": 2}), 9).await;
            (exchange.status == StatusCode::NOT_FOUND).then_some(exchange)
        }
    })
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let again = eventually("a new session is served", Duration::from_secs(60), || {
        let (http, url) = (&http, &url);
        async move {
            let init = rpc(http, url, None, &[], raw::initialize_body()).await;
            let token = init.session()?;
            let call = raw::call_tool(http, url, &token, "add", json!({"a": 1, "b": 2}), 2).await;
            (call.status == StatusCode::OK).then_some(call)
        }
    })
    .await;
    assert_eq!(raw::result_text(again.response(2)), "3");
}

#[tokio::test]
async fn a_restarted_gateway_continues_shared_sessions_without_a_second_initialize() {
    let Some(docker) = stdio_engine("a_restarted_gateway_continues_shared_sessions").await else {
        return;
    };
    let mut gw = DockerGateway::start(&docker);
    create(&gw, example_stdio("keep")).await;
    gw.healthy("adapters", "keep", 1).await;
    let http = client();
    let token = raw::open_session(&http, &gw.url("/adapters/keep/mcp"), &[]).await;
    let first = raw::call_tool(
        &http,
        &gw.url("/adapters/keep/mcp"),
        &token,
        "whoami",
        json!({}),
        2,
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(count_in_logs(&gw, "keep", "initialize from").await, 1);

    gw.stop();
    gw.start_again();
    gw.healthy("adapters", "keep", 1).await;
    let url = gw.url("/adapters/keep/mcp");
    let again = raw::call_tool(&http, &url, &token, "whoami", json!({}), 3).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.messages);
    assert_eq!(
        again.response(3)["result"]["structuredContent"],
        first.response(2)["result"]["structuredContent"],
        "the same process answers"
    );
    // The process logs each initialize it gets: still the one from before the restart.
    assert_eq!(count_in_logs(&gw, "keep", "initialize from").await, 1);
}

#[tokio::test]
async fn stdio_fields_are_checked_and_nothing_is_created_when_wrong() {
    let Some(docker) = stdio_engine("stdio_fields_are_checked").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    let http = client();
    let long = "x".repeat(5000);
    for (body, field) in [
        (
            json!({"name": "a", "imageName": "mcp-example", "stdio": {"sharing": "shared"}}),
            "stdio",
        ),
        (
            json!({"name": "a", "imageName": "mcp-example", "transport": "stdio", "args": ["--stdio", ""]}),
            "args[1]",
        ),
        (
            json!({"name": "a", "imageName": "mcp-example", "transport": "stdio", "command": [long]}),
            "command[0]",
        ),
        (
            json!({"name": "a", "imageName": "mcp-example", "transport": "stdio", "port": 8000}),
            "port",
        ),
        (
            json!({"name": "a", "url": "http://127.0.0.1:9/mcp", "transport": "stdio"}),
            "transport",
        ),
        (
            json!({"name": "a", "imageName": "mcp-example", "transport": "stdio",
                   "stdio": {"sharing": "shared", "maxSessions": 3}}),
            "stdio.maxSessions",
        ),
    ] {
        let response = http
            .post(gw.url("/adapters"))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let problem: Value = response.json().await.expect("problem");
        let fields: BTreeSet<String> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str().map(str::to_string))
            .collect();
        assert!(fields.contains(field), "{field} not named in {problem}");
    }
    let listed: Value = http
        .get(gw.url("/adapters"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed, json!([]), "nothing was created");
    assert!(gw.containers(None).await.is_empty(), "no container either");
}

async fn logs(gw: &DockerGateway, name: &str) -> String {
    client()
        .get(gw.url(&format!("/adapters/{name}/logs?tail=1000")))
        .send()
        .await
        .ok()
        .map(|r| async { r.text().await.unwrap_or_default() })
        .expect("logs")
        .await
}

async fn count_in_logs(gw: &DockerGateway, name: &str, needle: &str) -> usize {
    logs(gw, name).await.matches(needle).count()
}

async fn logs_until(gw: &DockerGateway, name: &str, needle: &str) {
    logs_until_count(gw, name, needle, 1).await;
}

async fn logs_until_count(gw: &DockerGateway, name: &str, needle: &str, count: usize) {
    eventually(
        &format!("{count} × \"{needle}\" in the logs of {name}"),
        Duration::from_secs(30),
        || async move { (count_in_logs(gw, name, needle).await >= count).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn per_session_git_servers_start_end_idle_out_and_are_bounded() {
    let Some(docker) = stdio_engine("per_session_git_servers").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    create(
        &gw,
        json!({"name": "git", "imageName": "mcp-server-git", "imageVersion": "test",
               "transport": "stdio",
               "stdio": {"sharing": "per-session", "maxSessions": 2, "idleTimeoutSeconds": 30}}),
    )
    .await;
    let url = gw.url("/adapters/git/mcp");
    let http = client();
    let session_containers = || async {
        gw.containers(None)
            .await
            .into_iter()
            .filter(|c| {
                common::docker::label(c, common::docker::LABEL_NAME)
                    .is_some_and(|name| name.starts_with("git-s"))
            })
            .filter_map(|c| c.id)
            .collect::<BTreeSet<String>>()
    };

    // Two sessions: two containers, each serving its own client.
    let first = raw::open_session(&http, &url, &[]).await;
    let second = raw::open_session(&http, &url, &[]).await;
    assert_eq!(session_containers().await.len(), 2);
    for token in [&first, &second] {
        let status = raw::call_tool(
            &http,
            &url,
            token,
            "git_status",
            json!({"repo_path": "/repo"}),
            2,
        )
        .await;
        assert_eq!(status.status, StatusCode::OK, "{:?}", status.messages);
        assert!(
            raw::result_text(status.response(2)).contains("main"),
            "{:?}",
            status.messages
        );
    }

    // A third while two run: 503 with Retry-After, nothing started.
    let third = rpc(&http, &url, None, &[], raw::initialize_body()).await;
    assert_eq!(third.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(third.headers.contains_key("retry-after"));
    assert_eq!(session_containers().await.len(), 2);

    // DELETE ends the first session and removes its container; its token is no session now.
    let deleted = http
        .delete(&url)
        .header("mcp-session-id", &first)
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success());
    eventually(
        "one session container left",
        Duration::from_secs(30),
        || async { (session_containers().await.len() == 1).then_some(()) },
    )
    .await;
    let after = raw::call_tool(
        &http,
        &url,
        &first,
        "git_status",
        json!({"repo_path": "/repo"}),
        3,
    )
    .await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);

    // The second idles out (30 s without a request; long enough that a slow start of the
    // other on a busy machine is not idleness): its container goes, and so its session.
    eventually(
        "the idle session's container removed",
        Duration::from_secs(120),
        || async { session_containers().await.is_empty().then_some(()) },
    )
    .await;
    let idle = raw::call_tool(
        &http,
        &url,
        &second,
        "git_status",
        json!({"repo_path": "/repo"}),
        4,
    )
    .await;
    assert_eq!(idle.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_warm_per_session_replica_serves_the_next_session() {
    let Some(docker) = stdio_engine("a_warm_per_session_replica_serves_the_next_session").await
    else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    let mut body = example_stdio("warm");
    body["stdio"] = json!({"sharing": "per-session", "maxSessions": 1, "warm": 1});
    create(&gw, body).await;
    let session_containers = || async {
        gw.containers(None)
            .await
            .into_iter()
            .filter(|c| {
                common::docker::label(c, common::docker::LABEL_NAME)
                    .is_some_and(|name| name.starts_with("warm-s"))
            })
            .filter_map(|c| c.id)
            .collect::<BTreeSet<String>>()
    };
    // Started ahead of any session.
    let warm = eventually("a warm replica", Duration::from_secs(60), || async {
        let containers = session_containers().await;
        (containers.len() == 1).then_some(containers)
    })
    .await;
    let url = gw.url("/adapters/warm/mcp");
    let http = client();
    let token = raw::open_session(&http, &url, &[]).await;
    let call = raw::call_tool(&http, &url, &token, "add", json!({"a": 2, "b": 2}), 2).await;
    assert_eq!(raw::result_text(call.response(2)), "4");
    // The session took the warm replica: no other was started (the maximum is one).
    assert_eq!(session_containers().await, warm);
    let refused = rpc(&http, &url, None, &[], raw::initialize_body()).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
}
