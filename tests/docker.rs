//! The Docker runtime against the real engine, through the real binary.
//!
//! Each test starts its own gateway (its own store, so its own gateway id and labels) and skips
//! with a printed reason when no engine answers or the sample images are missing, unless
//! `MCP_GATEWAY_REQUIRE_DOCKER=1`, which turns the skip into a failure. Every test removes its
//! containers when it ends, passed or failed (see `common::docker::DockerGateway`).
//!
//! MCP calls go through the gateway's proxy (`/adapters/{name}/mcp`) and, to tell replicas
//! apart, straight to each replica's published port; tools are called on their published port
//! (the tool router has its own tests).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bollard::query_parameters::KillContainerOptionsBuilder;
use common::docker::{
    DEPLOY_TIMEOUT, DockerGateway, LABEL_SPEC_HASH, engine_or_skip, ids, label, published_url,
};
use common::{client, eventually, mcp};
use mcp_gateway::domain::model::ResourceKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn adapter(name: &str, image_version: &str, replicas: u32, env: Value) -> Value {
    json!({
        "name": name,
        "imageName": "mcp-example",
        "imageVersion": image_version,
        "replicaCount": replicas,
        "environmentVariables": env,
    })
}

async fn post(gw: &DockerGateway, collection: &str, body: &Value) {
    let response = client()
        .post(gw.url(&format!("/{collection}")))
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED, "POST /{collection}");
}

async fn put(gw: &DockerGateway, collection: &str, name: &str, body: &Value) {
    let response = client()
        .put(gw.url(&format!("/{collection}/{name}")))
        .json(body)
        .send()
        .await
        .expect("put");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "PUT /{collection}/{name}"
    );
}

/// The MCP URL of replica `replica` of adapter `name`, straight to its published port.
async fn replica_mcp_url(gw: &DockerGateway, name: &str, replica: u32) -> String {
    let container = gw
        .running_replica(name, replica)
        .await
        .unwrap_or_else(|| panic!("replica {replica} of {name} runs"));
    format!(
        "{}/mcp",
        published_url(&container, 8000).expect("published port")
    )
}

/// The environment a container was created with, from the engine.
async fn container_env(gw: &DockerGateway, id: &str) -> Vec<String> {
    gw.docker
        .inspect_container(id, None)
        .await
        .expect("inspect")
        .config
        .and_then(|config| config.env)
        .unwrap_or_default()
}

/// Acceptance 1, 2, 3, 5: deploy two replicas, call `add` on each, read logs, scale down,
/// remove an env var (really gone), delete (nothing left).
#[tokio::test]
async fn adapter_deploys_scales_updates_and_deletes() {
    let Some(docker) = engine_or_skip("adapter_deploys_scales_updates_and_deletes").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    let env = json!({"GREETING": "hello", "REMOVE_ME": "soon"});
    post(&gw, "adapters", &adapter("dk-demo", "1.0.0", 2, env)).await;

    let status = gw.healthy("adapters", "dk-demo", 2).await;
    assert_eq!(status["image"], "mcp-example:1.0.0");
    assert_eq!(status["updatedReplicas"], 2);
    let replicas = status["replicas"].as_array().expect("replicas");
    assert_eq!(replicas.len(), 2);
    assert!(
        replicas
            .iter()
            .all(|r| r["state"] == "running" && r["ready"] == true)
    );

    // An MCP client initializes and calls `add` through the gateway's proxy.
    let proxy_url = gw.url("/adapters/dk-demo/mcp");
    let sum = eventually("add through the proxy", DEPLOY_TIMEOUT, || async {
        mcp::call_once(&proxy_url, "add", json!({"a": 2, "b": 3}))
            .await
            .ok()
    })
    .await;
    assert_eq!(mcp::text(&sum), "5");

    // And straight on each replica's published port: two distinct processes.
    let mut hosts = BTreeSet::new();
    for replica in 0..2 {
        let url = replica_mcp_url(&gw, "dk-demo", replica).await;
        let session = mcp::connect(&url).await.expect("connect");
        let sum = mcp::call(&session, "add", json!({"a": 2, "b": 3}))
            .await
            .expect("add");
        assert_eq!(mcp::text(&sum), "5");
        let whoami = mcp::call(&session, "whoami", Value::Null)
            .await
            .expect("whoami");
        let identity = whoami.structured_content.expect("whoami is structured");
        hosts.insert(identity["hostname"].as_str().expect("hostname").to_string());
        let _ = session.cancel().await;
    }
    assert_eq!(hosts.len(), 2, "two replicas, two containers: {hosts:?}");

    // Logs: the server's startup line; a missing instance is 404.
    let http = client();
    let logs = http
        .get(gw.url("/adapters/dk-demo/logs?instance=1&tail=20"))
        .send()
        .await
        .expect("logs");
    assert_eq!(logs.status(), StatusCode::OK);
    let text = logs.text().await.expect("text");
    assert!(
        text.contains("mcp-example listening on 0.0.0.0:8000"),
        "{text}"
    );
    let missing = http
        .get(gw.url("/adapters/dk-demo/logs?instance=5&tail=20"))
        .send()
        .await
        .expect("logs");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Scale down: exactly one container remains.
    let env = json!({"GREETING": "hello", "REMOVE_ME": "soon"});
    put(
        &gw,
        "adapters",
        "dk-demo",
        &adapter("dk-demo", "1.0.0", 1, env),
    )
    .await;
    eventually("one container left", DEPLOY_TIMEOUT, || async {
        (gw.containers(Some("dk-demo")).await.len() == 1).then_some(())
    })
    .await;
    gw.healthy("adapters", "dk-demo", 1).await;

    // Remove an env var: the replica is replaced by one without it.
    let before = gw.containers(Some("dk-demo")).await;
    let old_hash = label(&before[0], LABEL_SPEC_HASH)
        .expect("hash")
        .to_string();
    put(
        &gw,
        "adapters",
        "dk-demo",
        &adapter("dk-demo", "1.0.0", 1, json!({"GREETING": "hello"})),
    )
    .await;
    let replaced = eventually("the replica replaced", DEPLOY_TIMEOUT, || async {
        let now = gw.containers(Some("dk-demo")).await;
        (now.len() == 1 && label(&now[0], LABEL_SPEC_HASH) != Some(old_hash.as_str()))
            .then(|| now[0].clone())
    })
    .await;
    let env = container_env(&gw, replaced.id.as_deref().expect("id")).await;
    assert!(env.contains(&"GREETING=hello".to_string()), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("REMOVE_ME=")), "{env:?}");
    gw.healthy("adapters", "dk-demo", 1).await;
    // The server agrees, asked through the proxy (which routes to the new replica).
    let gone = eventually(
        "REMOVE_ME unset in the served replica",
        DEPLOY_TIMEOUT,
        || async {
            let result = mcp::call_once(&proxy_url, "env", json!({"name": "REMOVE_ME"}))
                .await
                .ok()?;
            mcp::is_error(&result).then_some(result)
        },
    )
    .await;
    assert!(mcp::text(&gone).contains("not set"), "{}", mcp::text(&gone));
    let kept = mcp::call_once(&proxy_url, "env", json!({"name": "GREETING"}))
        .await
        .expect("env");
    assert_eq!(mcp::text(&kept), "hello");

    // Delete: no labelled container remains.
    let response = http
        .delete(gw.url("/adapters/dk-demo"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    eventually("no containers left", DEPLOY_TIMEOUT, || async {
        gw.containers(None).await.is_empty().then_some(())
    })
    .await;
}

/// Acceptance 4: a killed replica is replaced; a restarted gateway adopts its containers and
/// duplicates none; a resource deleted while the gateway was down is reaped at start.
#[tokio::test]
async fn killed_replicas_return_and_restarts_adopt_and_reap() {
    let Some(docker) = engine_or_skip("killed_replicas_return_and_restarts_adopt_and_reap").await
    else {
        return;
    };
    let mut gw = DockerGateway::start(&docker);
    post(&gw, "adapters", &adapter("dk-keep", "1.0.0", 2, json!({}))).await;
    post(&gw, "adapters", &adapter("dk-gone", "1.0.0", 1, json!({}))).await;
    gw.healthy("adapters", "dk-keep", 2).await;
    gw.healthy("adapters", "dk-gone", 1).await;

    // docker kill one replica: the reconciler replaces it.
    let victim = gw.running_replica("dk-keep", 1).await.expect("replica 1");
    let victim_id = victim.id.expect("id");
    let kill = KillContainerOptionsBuilder::default()
        .signal("SIGKILL")
        .build();
    docker
        .kill_container(&victim_id, Some(kill))
        .await
        .expect("kill");
    gw.status_until("adapters", "dk-keep", "Degraded after the kill", |s| {
        s["readyReplicas"] == 1
    })
    .await;
    eventually("the killed replica replaced", DEPLOY_TIMEOUT, || async {
        let now = gw.containers(Some("dk-keep")).await;
        (now.len() == 2 && !ids(&now).contains(&victim_id)).then_some(())
    })
    .await;
    gw.healthy("adapters", "dk-keep", 2).await;
    let kept = ids(&gw.containers(Some("dk-keep")).await);

    // While the gateway is down, dk-gone is deleted from its store.
    gw.stop();
    {
        let store = mcp_gateway::infra::store::Store::open(&gw.db).expect("open store");
        store
            .delete(ResourceKind::Adapter, "dk-gone", |_| Ok::<(), ()>(()))
            .expect("delete")
            .expect("allowed");
    }
    gw.start_again();

    eventually("dk-gone reaped at start", DEPLOY_TIMEOUT, || async {
        gw.containers(Some("dk-gone"))
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    gw.healthy("adapters", "dk-keep", 2).await;
    // Give the reconciler a few passes (interval 1 s) to do anything it wrongly wanted to.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        assert_eq!(
            ids(&gw.containers(Some("dk-keep")).await),
            kept,
            "the same containers, adopted, none added"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Acceptance 6: a missing image shows as a readable error in status; the gateway keeps
/// running and deploys other adapters.
#[tokio::test]
async fn missing_image_is_reported_and_others_still_deploy() {
    let Some(docker) = engine_or_skip("missing_image_is_reported_and_others_still_deploy").await
    else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    post(
        &gw,
        "adapters",
        &adapter("dk-missing", "9.9.9", 1, json!({})),
    )
    .await;
    post(&gw, "adapters", &adapter("dk-fine", "1.0.0", 1, json!({}))).await;

    let status = gw
        .status_until("adapters", "dk-missing", "the missing-image error", |s| {
            s["message"]
                .as_str()
                .is_some_and(|m| m.contains("not in the local Docker engine"))
        })
        .await;
    let message = status["message"].as_str().expect("message");
    assert!(message.contains("mcp-example:9.9.9"), "{message}");
    assert!(message.contains("runtime.image_registry"), "{message}");
    assert_eq!(status["replicaStatus"], "Degraded: 0/1 ready");

    gw.healthy("adapters", "dk-fine", 1).await;
    let health = client()
        .get(gw.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(gw.containers(Some("dk-missing")).await.is_empty());

    // /metrics tells the same story: one workload failed, the other applied, and the runtime
    // refused at least one apply.
    let m = common::exposition::scrape(&gw.url("/metrics")).await;
    let state = |name, state| {
        m.get(
            "mcp_gateway_workload_state",
            &[("kind", "adapter"), ("name", name), ("state", state)],
        )
    };
    assert_eq!(state("dk-missing", "failed"), 1.0);
    assert_eq!(state("dk-missing", "applied"), 0.0);
    assert_eq!(state("dk-fine", "applied"), 1.0);
    let calls = |outcome| {
        m.get(
            "mcp_gateway_runtime_calls_total",
            &[("operation", "apply"), ("outcome", outcome)],
        )
    };
    assert!(calls("error") >= 1.0, "{}", m.text);
    assert!(calls("ok") >= 1.0, "{}", m.text);
    // Every finished apply is timed, whatever its outcome.
    assert_eq!(
        m.get(
            "mcp_gateway_runtime_call_duration_seconds_count",
            &[("operation", "apply")]
        ),
        calls("ok") + calls("error")
    );
    assert_eq!(
        m.get(
            "mcp_gateway_ready_replicas",
            &[("kind", "adapter"), ("name", "dk-fine")]
        ),
        1.0
    );
}

/// Acceptance 7: a tool server deployed with Docker answers `POST /score`.
#[tokio::test]
async fn tool_deploys_and_scores() {
    let Some(docker) = engine_or_skip("tool_deploys_and_scores").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    let tool = json!({
        "name": "dk-weather",
        "imageName": "tool-example",
        "imageVersion": "1.0.0",
        "toolDefinition": {
            "tool": {
                "name": "dk-weather",
                "description": "Current weather for a location",
                "inputSchema": {"type": "object", "properties": {"location": {"type": "string"}}}
            },
            "port": 8000,
            "path": "/score"
        }
    });
    post(&gw, "tools", &tool).await;
    gw.healthy("tools", "dk-weather", 1).await;

    let container = gw.running_replica("dk-weather", 0).await.expect("replica");
    let base = published_url(&container, 8000).expect("published port");
    let response = client()
        .post(format!("{base}/score"))
        .json(&json!({"location": "Seattle", "unit": "celsius"}))
        .send()
        .await
        .expect("score");
    assert_eq!(response.status(), StatusCode::OK);
    let forecast: Value = response.json().await.expect("json");
    assert_eq!(forecast["temperature"], 22.2);
    assert_eq!(forecast["conditions"], "clear");

    let logs = client()
        .get(gw.url("/tools/dk-weather/logs?tail=20"))
        .send()
        .await
        .expect("logs")
        .text()
        .await
        .expect("text");
    assert!(logs.contains("tool-example listening on"), "{logs}");
    assert!(logs.contains("POST /score"), "{logs}");
}

/// No engine at the configured address: `serve` exits 1 and says what to do. Needs no Docker.
#[test]
fn unreachable_engine_exits_1_with_advice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[runtime]\nkind = \"docker\"\n[runtime.docker]\nhost = \"unix://{}\"\n",
            dir.path().join("gw.db").display(),
            dir.path().join("no-docker.sock").display()
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8 path");
    let (code, _, stderr) = common::run(&["serve", "--config", config, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not answer"), "{stderr}");
    assert!(stderr.contains("runtime.docker.host"), "{stderr}");
}

/// Bad Docker values are config errors (exit 2) naming the key and line. Needs no Docker.
#[test]
fn check_reports_bad_docker_values_with_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[runtime]\nkind = \"docker\"\n[runtime.docker]\nmemory = \"lots\"\n",
    )
    .expect("write config");
    let (code, _, stderr) = common::run(&["check", "--config", config.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("runtime.docker.memory"), "{stderr}");
}
