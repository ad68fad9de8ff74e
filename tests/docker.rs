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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    // Three more full reconcile passes (each ends by listing the managed workloads), counted in
    // /metrics, for the reconciler to do anything it wrongly wanted to; the containers stay.
    let passes = || async {
        common::exposition::scrape(&gw.url("/metrics")).await.get(
            "mcp_gateway_runtime_calls_total",
            &[("operation", "list_managed"), ("outcome", "ok")],
        )
    };
    let start = passes().await;
    eventually("three more reconcile passes", DEPLOY_TIMEOUT, || async {
        assert_eq!(
            ids(&gw.containers(Some("dk-keep")).await),
            kept,
            "the same containers, adopted, none added"
        );
        (passes().await >= start + 3.0).then_some(())
    })
    .await;
    assert_eq!(
        ids(&gw.containers(Some("dk-keep")).await),
        kept,
        "the same containers, adopted, none added"
    );
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

/// What the load of [`a_rolling_update_under_load_fails_no_call`] saw.
#[derive(Default)]
struct Load {
    answered: usize,
    failed: Vec<String>,
    values: BTreeSet<String>,
}

/// One caller: stateless `env VERSION` calls through the proxy, back to back, until `stop`;
/// `progress` counts the answered ones of every caller.
async fn call_until(url: String, stop: Arc<AtomicBool>, progress: Arc<AtomicUsize>) -> Load {
    let http = client();
    let mut load = Load::default();
    let mut id = 0;
    while !stop.load(Ordering::SeqCst) {
        id += 1;
        let exchange =
            common::raw::stateless_call(&http, &url, "env", json!({"name": "VERSION"}), id).await;
        let answer = match &exchange {
            Ok(exchange) if exchange.status == StatusCode::OK => exchange
                .messages
                .iter()
                .find(|m| m["id"] == json!(id))
                .filter(|m| m["result"]["isError"] != true)
                .and_then(|m| m["result"]["content"][0]["text"].as_str()),
            _ => None,
        };
        match answer {
            Some(value) => {
                load.answered += 1;
                progress.fetch_add(1, Ordering::SeqCst);
                load.values.insert(value.to_string());
            }
            None => load.failed.push(match exchange {
                Ok(exchange) => format!("call {id}: {} {:?}", exchange.status, exchange.messages),
                Err(err) => format!("call {id}: {err}"),
            }),
        }
    }
    load
}

/// One look at the containers: (replica, spec hash, running) of each.
type Sample = Vec<(String, String, bool)>;

/// README, Docker runtime, Updates: "a changed image, env, port or identity makes a new
/// container per replica, one replica at a time, each ready before the next; the replaced
/// containers get SIGTERM 2 s later once the proxy routes to their successors". Two callers
/// call without pause while a PUT changes the env of a 2-replica adapter: no call fails, both
/// replicas are replaced (the second created only after the first had started), every replica
/// has a running container at every look, and the old containers are gone.
#[tokio::test]
async fn a_rolling_update_under_load_fails_no_call() {
    let Some(docker) = engine_or_skip("a_rolling_update_under_load_fails_no_call").await else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    let before = |version| adapter("rolling", "1.0.0", 2, json!({"VERSION": version}));
    post(&gw, "adapters", &before("one")).await;
    gw.healthy("adapters", "rolling", 2).await;
    let old = gw.containers(Some("rolling")).await;
    let old_ids = ids(&old);
    let old_hash = label(&old[0], LABEL_SPEC_HASH).expect("hash").to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let url = gw.url("/adapters/rolling/mcp");
    let callers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(call_until(url.clone(), stop.clone(), progress.clone())))
        .collect();
    let answered_at_least = |count: usize| {
        let progress = progress.clone();
        async move { (progress.load(Ordering::SeqCst) >= count).then_some(()) }
    };
    let sampler = {
        let (docker, id, stop) = (docker.clone(), gw.id.clone(), stop.clone());
        tokio::spawn(async move {
            let mut samples: Vec<Sample> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let now = common::docker::containers(&docker, &id, Some("rolling")).await;
                samples.push(
                    now.iter()
                        .map(|c| {
                            (
                                label(c, common::docker::LABEL_REPLICA)
                                    .unwrap_or_default()
                                    .to_string(),
                                label(c, LABEL_SPEC_HASH).unwrap_or_default().to_string(),
                                c.state.map(|s| s.to_string()).as_deref() == Some("running"),
                            )
                        })
                        .collect(),
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    // Traffic flows before the update.
    eventually(
        "20 calls answered before the update",
        DEPLOY_TIMEOUT,
        || answered_at_least(20),
    )
    .await;
    put(&gw, "adapters", "rolling", &before("two")).await;

    let new = eventually(
        "both replicas replaced and the old containers gone",
        DEPLOY_TIMEOUT,
        || async {
            let now = gw.containers(Some("rolling")).await;
            let replaced = now.len() == 2
                && now.iter().all(|c| {
                    label(c, LABEL_SPEC_HASH) != Some(old_hash.as_str())
                        && c.state.map(|s| s.to_string()).as_deref() == Some("running")
                });
            replaced.then_some(now)
        },
    )
    .await;
    gw.healthy("adapters", "rolling", 2).await;
    // And the callers go on with only the new replicas for a while.
    let gone = progress.load(Ordering::SeqCst);
    eventually(
        "20 more calls after the old ones went",
        DEPLOY_TIMEOUT,
        || answered_at_least(gone + 20),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let mut load = Load::default();
    for caller in callers {
        let one = caller.await.expect("caller");
        load.answered += one.answered;
        load.failed.extend(one.failed);
        load.values.extend(one.values);
    }
    let samples = sampler.await.expect("sampler");
    eprintln!(
        "rolling update: {} calls answered, {} failed, {} looks at the containers",
        load.answered,
        load.failed.len(),
        samples.len()
    );

    assert!(
        load.failed.is_empty(),
        "{} of {} calls failed during the update: {:?}",
        load.failed.len(),
        load.answered + load.failed.len(),
        load.failed
    );
    assert_eq!(
        load.values,
        BTreeSet::from(["one".to_string(), "two".to_string()]),
        "the calls saw the old and the new replicas ({} answered)",
        load.answered
    );
    let new_ids = ids(&new);
    assert!(
        new_ids.iter().all(|id| !old_ids.contains(id)),
        "every replica replaced"
    );
    let replicas: BTreeSet<&str> = new
        .iter()
        .filter_map(|c| label(c, common::docker::LABEL_REPLICA))
        .collect();
    assert_eq!(replicas, BTreeSet::from(["0", "1"]));
    assert!(
        samples.len() >= 5,
        "only {} looks at the containers",
        samples.len()
    );
    for (n, sample) in samples.iter().enumerate() {
        for replica in ["0", "1"] {
            assert!(
                sample
                    .iter()
                    .any(|(r, _, running)| r == replica && *running),
                "look {n}: replica {replica} had no running container: {sample:?}"
            );
        }
    }
    // One at a time: the second new container was created after the first had started (and
    // the runtime waited for it to accept connections in between).
    let mut timeline = Vec::new();
    for id in &new_ids {
        let inspect = docker.inspect_container(id, None).await.expect("inspect");
        let parse = |at: Option<String>| {
            time::OffsetDateTime::parse(
                &at.expect("a timestamp"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("RFC 3339")
        };
        let started = parse(inspect.state.and_then(|s| s.started_at));
        timeline.push((parse(inspect.created), started));
    }
    timeline.sort();
    assert!(
        timeline[1].0 > timeline[0].1,
        "the second replacement was created before the first had started: {timeline:?}"
    );
}

/// README, Fields and Authentication: `useWorkloadIdentity` "needs the admin role". On the
/// Docker runtime, a non-admin asking for it on an image adapter gets 403 and nothing is stored
/// or deployed; an admin creates it and it deploys.
#[tokio::test]
async fn only_an_admin_gives_a_workload_identity_on_docker() {
    let Some(docker) = engine_or_skip("only_an_admin_gives_a_workload_identity_on_docker").await
    else {
        return;
    };
    // The default dev identity (roles `mcp.dev`) is the admin here, so the harness's status
    // polls may read everything; bob is not.
    let gw = DockerGateway::start_configured(
        &docker,
        "[auth]\nmode = \"dev\"\nadmin_role = \"mcp.dev\"\n",
        false,
    );
    let body = json!({"name": "wi", "imageName": "mcp-example", "imageVersion": "1.0.0",
                      "useWorkloadIdentity": true});
    common::refuse_workload_identity_to_a_non_admin(&gw.url("/adapters"), &body).await;

    // The admin creates the same name (so bob's attempt stored nothing: no 409) and it deploys
    // exactly its one replica (so bob's attempt deployed nothing).
    let created = client()
        .post(gw.url("/adapters"))
        .header("x-dev-userid", "root")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), StatusCode::CREATED);
    let stored: Value = created.json().await.expect("json");
    assert_eq!(stored["useWorkloadIdentity"], true);
    assert_eq!(stored["createdBy"], "root");
    gw.healthy("adapters", "wi", 1).await;
    assert_eq!(gw.containers(Some("wi")).await.len(), 1);
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
