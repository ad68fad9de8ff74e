//! The Kubernetes runtime end to end: the real gateway binary, its Kubernetes runtime, an API
//! server, pods running the sample servers, the proxy and the router, and MCP clients.
//!
//! The API server is the kube-double (test-support/kube-double: **a double, not Kubernetes**;
//! its docs say what it does not prove). With `MCP_GATEWAY_K8S_E2E=1` the same scenarios also
//! run against the cluster of the current kubeconfig (`real_cluster_end_to_end`, skipped with a
//! printed reason otherwise). Every test removes what it created however it ends: the double
//! kills its pods when dropped; on a real cluster `Cluster`'s drop deletes the workloads.

#![cfg(feature = "kubernetes")]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::cluster::{Cluster, DEPLOY_TIMEOUT};
use common::{Gateway, client, eventually, mcp};
use kube_double::Kind;
use mcp_gateway::model::ResourceKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn adapter(name: &str, replicas: u32, env: Value) -> Value {
    json!({"name": name, "imageName": "mcp-example", "imageVersion": "1.0.0",
           "replicaCount": replicas, "environmentVariables": env})
}

fn weather_tool(name: &str) -> Value {
    json!({"name": name, "imageName": "tool-example", "imageVersion": "1.0.0",
        "toolDefinition": {"tool": {"name": name, "description": "Current weather",
            "inputSchema": {"type": "object", "required": ["location"],
                            "properties": {"location": {"type": "string"}}}},
            "port": 8000, "path": "/score"}})
}

async fn send(gw: &Gateway, method: reqwest::Method, path: &str, body: Option<&Value>) -> StatusCode {
    let mut request = client().request(method, gw.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request").status()
}

async fn status(gw: &Gateway, collection: &str, name: &str) -> Value {
    client()
        .get(gw.url(&format!("/{collection}/{name}/status")))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON")
}

/// Polls the status until `check` accepts it; returns it.
async fn status_until(gw: &Gateway, collection: &str, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, DEPLOY_TIMEOUT, || async {
        let status = status(gw, collection, name).await;
        check(&status).then_some(status)
    })
    .await
}

async fn healthy(gw: &Gateway, collection: &str, name: &str, replicas: u32) -> Value {
    status_until(gw, collection, name, &format!("{name} Healthy with {replicas}"), |s| {
        s["replicaStatus"] == "Healthy" && s["readyReplicas"] == replicas && s["replicas"].as_array().is_some_and(|r| r.len() == replicas as usize)
    })
    .await
}

/// The pod (hostname) that served a new session, or the error.
async fn new_session_pod(url: &str) -> Result<String, String> {
    let session = mcp::connect(url).await?;
    let result = mcp::call(&session, "whoami", Value::Null).await;
    let _ = session.cancel().await;
    let identity = result?.structured_content.ok_or("whoami is not structured")?;
    Ok(identity["hostname"].as_str().unwrap_or_default().to_string())
}

/// The pods serving `count` new sessions (every session must succeed).
async fn spread(url: &str, count: usize) -> BTreeSet<String> {
    let mut pods = BTreeSet::new();
    for _ in 0..count {
        pods.insert(new_session_pod(url).await.expect("a new session"));
    }
    pods
}

fn container_env(sts: &k8s_openapi::api::apps::v1::StatefulSet) -> Vec<String> {
    let containers = sts.spec.template.spec.as_ref().map(|p| p.containers.clone()).unwrap_or_default();
    containers[0].env.clone().unwrap_or_default().into_iter().map(|e| e.name).collect()
}

/// Create (2 replicas), affinity and spread, not-Ready replicas get no new sessions, a removed
/// env var really goes, scale down, delete.
async fn adapter_lifecycle(cluster: &Cluster, dir: &Path, name: &str) {
    let gw = Gateway::start(dir, &cluster.gateway_config(dir));
    let env = json!({"GREETING": "hello", "REMOVE_ME": "soon"});
    assert_eq!(send(&gw, reqwest::Method::POST, "/adapters", Some(&adapter(name, 2, env))).await, StatusCode::CREATED);

    let created = healthy(&gw, "adapters", name, 2).await;
    assert_eq!(created["image"], format!("{}mcp-example:1.0.0", registry_prefix(cluster)));
    let replicas = created["replicas"].as_array().expect("replicas");
    assert!(replicas.iter().all(|r| r["state"] == "running"), "{created}");
    let pods = cluster.pods(name).await;
    let pod_names: Vec<&str> = pods.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
    assert_eq!(pod_names, [format!("{name}-0"), format!("{name}-1")]);
    let sts = cluster.statefulset(name).await.expect("the StatefulSet");
    let labels = sts.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["adapter/type"], "mcp");
    assert_eq!(labels["adapter/name"], name);
    assert_eq!(labels["app.kubernetes.io/managed-by"], "mcp-gateway");
    assert!(cluster.service(&format!("{name}-service")).await.is_some());

    // One session: `add` works and 50 calls stay on one replica (one process).
    let url = gw.url(&format!("/adapters/{name}/mcp"));
    let requests_before = cluster.double.as_ref().map(|d| d.requests().len());
    let session = eventually("a session through the proxy", DEPLOY_TIMEOUT, || async { mcp::connect(&url).await.ok() }).await;
    let sum = mcp::call(&session, "add", json!({"a": 2, "b": 3})).await.expect("add");
    assert_eq!(mcp::text(&sum), "5");
    let mut instances = BTreeSet::new();
    for _ in 0..50 {
        let whoami = mcp::call(&session, "whoami", Value::Null).await.expect("whoami");
        instances.insert(whoami.structured_content.expect("structured")["instance"].to_string());
    }
    assert_eq!(instances.len(), 1, "one session, one replica: {instances:?}");
    let _ = session.cancel().await;
    if let (Some(double), Some(before)) = (&cluster.double, requests_before) {
        // The proxy read endpoints from memory: no pod GET or LIST per request.
        let pod_reads: Vec<_> = double.requests()[before..]
            .iter()
            .filter(|r| r.path.contains("/pods") && r.method == "GET")
            .cloned()
            .collect();
        assert!(pod_reads.is_empty(), "pod reads while proxying: {pod_reads:?}");
    }

    // New sessions spread over both replicas.
    let both: BTreeSet<String> = [format!("{name}-0"), format!("{name}-1")].into();
    eventually("new sessions on both replicas", DEPLOY_TIMEOUT, || async {
        (spread(&url, 6).await == both).then_some(())
    })
    .await;

    // Logs of a replica: the server's startup line.
    let logs = client().get(gw.url(&format!("/adapters/{name}/logs?instance=1&tail=20"))).send().await.expect("logs");
    assert_eq!(logs.status(), StatusCode::OK);
    let text = logs.text().await.expect("text");
    assert!(text.contains("mcp-example listening on"), "{text}");

    let victim = format!("{name}-1");
    let only_first: BTreeSet<String> = [format!("{name}-0")].into();
    if let Some(double) = &cluster.double {
        // A replica whose readiness fails (its process still serves): no new session reaches it.
        double.fail_readiness(&cluster.namespace, &victim, true);
        status_until(&gw, "adapters", name, "replica 1 not ready", |s| s["replicas"][1]["ready"] == false).await;
        eventually("new sessions avoid the unready replica", DEPLOY_TIMEOUT, || async {
            (spread(&url, 4).await == only_first).then_some(())
        })
        .await;
        assert_eq!(spread(&url, 10).await, only_first, "a not-Ready pod got a new session");
        double.fail_readiness(&cluster.namespace, &victim, false);

        // Kill the pod; its replacement is held before its server starts: still no new sessions,
        // a readable status and log message.
        double.hold(&cluster.namespace, &victim);
    }
    let old_uid = cluster.pods(name).await[1].metadata.uid.clone();
    cluster.delete_pod(&victim).await;
    if let Some(double) = &cluster.double {
        let replaced = status_until(&gw, "adapters", name, "the killed pod recreated, not ready", |s| {
            s["replicaStatus"] == "Degraded: 1/2 ready" && s["replicas"][1]["state"] == "starting (creating the container)"
        })
        .await;
        assert_eq!(replaced["replicas"][0]["ready"], true, "{replaced}");
        eventually("the recreated pod", DEPLOY_TIMEOUT, || async {
            let pods = cluster.pods(name).await;
            (pods.len() == 2 && pods[1].metadata.uid != old_uid).then_some(())
        })
        .await;
        assert_eq!(spread(&url, 8).await, only_first, "a pod that is not Ready got a new session");
        let logs = client().get(gw.url(&format!("/adapters/{name}/logs?instance=1"))).send().await.expect("logs");
        let text = logs.text().await.expect("text");
        assert!(text.contains("has not started its server yet"), "{text}");
        double.release(&cluster.namespace, &victim);
    }
    healthy(&gw, "adapters", name, 2).await;
    eventually("sessions on both replicas again", DEPLOY_TIMEOUT, || async {
        (spread(&url, 6).await == both).then_some(())
    })
    .await;

    // PUT without REMOVE_ME: the applied StatefulSet has no such variable, and the served
    // replicas agree once the rollout is done.
    let kept = adapter(name, 2, json!({"GREETING": "hello"}));
    assert_eq!(send(&gw, reqwest::Method::PUT, &format!("/adapters/{name}"), Some(&kept)).await, StatusCode::OK);
    eventually("REMOVE_ME gone from the StatefulSet", DEPLOY_TIMEOUT, || async {
        let sts = cluster.statefulset(name).await?;
        (container_env(&sts) == ["GREETING"]).then_some(())
    })
    .await;
    eventually("every served replica without REMOVE_ME", DEPLOY_TIMEOUT, || async {
        let now = status(&gw, "adapters", name).await;
        if now["replicaStatus"] != "Healthy" || now["updatedReplicas"] != 2 {
            return None;
        }
        for _ in 0..4 {
            let gone = mcp::call_once(&url, "env", json!({"name": "REMOVE_ME"})).await.ok()?;
            if !mcp::is_error(&gone) {
                return None;
            }
        }
        Some(())
    })
    .await;
    let greeting = mcp::call_once(&url, "env", json!({"name": "GREETING"})).await.expect("env");
    assert_eq!(mcp::text(&greeting), "hello");

    // Scale to 1: one pod left, all new sessions on it.
    let one = adapter(name, 1, json!({"GREETING": "hello"}));
    assert_eq!(send(&gw, reqwest::Method::PUT, &format!("/adapters/{name}"), Some(&one)).await, StatusCode::OK);
    eventually("one pod left", DEPLOY_TIMEOUT, || async { (cluster.pods(name).await.len() == 1).then_some(()) }).await;
    healthy(&gw, "adapters", name, 1).await;
    eventually("new sessions on the remaining pod", DEPLOY_TIMEOUT, || async {
        (spread(&url, 3).await == only_first).then_some(())
    })
    .await;

    // Delete: the StatefulSet, the Service and the pods go.
    assert_eq!(send(&gw, reqwest::Method::DELETE, &format!("/adapters/{name}"), None).await, StatusCode::NO_CONTENT);
    eventually("both objects and the pods gone", DEPLOY_TIMEOUT, || async {
        let gone = cluster.statefulset(name).await.is_none()
            && cluster.service(&format!("{name}-service")).await.is_none()
            && cluster.pods(name).await.is_empty();
        gone.then_some(())
    })
    .await;
}

fn registry_prefix(cluster: &Cluster) -> String {
    match cluster.image_registry.trim_end_matches('/') {
        "" => String::new(),
        registry => format!("{registry}/"),
    }
}

/// A gateway restart adopts its workloads (nothing recreated or duplicated) and reaps what was
/// deleted from the store while it was down; a tool deployed on the cluster answers the router.
async fn restart_adopts_and_reaps(cluster: &Cluster, dir: &Path, prefix: &str) {
    let keep = format!("{prefix}-keep");
    let gone = format!("{prefix}-gone");
    let tool = format!("{prefix}-weather");
    let gw = Gateway::start(dir, &cluster.gateway_config(dir));
    for body in [adapter(&keep, 2, json!({})), adapter(&gone, 1, json!({}))] {
        assert_eq!(send(&gw, reqwest::Method::POST, "/adapters", Some(&body)).await, StatusCode::CREATED);
    }
    assert_eq!(send(&gw, reqwest::Method::POST, "/tools", Some(&weather_tool(&tool))).await, StatusCode::CREATED);
    healthy(&gw, "adapters", &keep, 2).await;
    healthy(&gw, "adapters", &gone, 1).await;
    healthy(&gw, "tools", &tool, 1).await;
    let uid = |sts: Option<k8s_openapi::api::apps::v1::StatefulSet>| sts.and_then(|s| s.metadata.uid);
    let keep_uid = uid(cluster.statefulset(&keep).await);
    let tool_uid = uid(cluster.statefulset(&format!("tool-{tool}")).await);
    let pod_uids = |pods: Vec<k8s_openapi::api::core::v1::Pod>| -> Vec<Option<String>> {
        pods.into_iter().map(|p| p.metadata.uid).collect()
    };
    let keep_pods = pod_uids(cluster.pods(&keep).await);

    // The gateway dies; the resource is deleted from its store meanwhile.
    let config_path = gw.config_path.clone();
    gw.kill9();
    let store = mcp_gateway::store::Store::open(&dir.join("gw.db")).expect("open the store");
    store.delete(ResourceKind::Adapter, &gone, |_| Ok::<(), ()>(())).expect("delete").expect("allowed");
    drop(store);

    let gw = Gateway::start_with(&config_path, &[]);
    eventually("the orphan reaped", DEPLOY_TIMEOUT, || async {
        let reaped = cluster.statefulset(&gone).await.is_none()
            && cluster.service(&format!("{gone}-service")).await.is_none()
            && cluster.pods(&gone).await.is_empty();
        reaped.then_some(())
    })
    .await;
    healthy(&gw, "adapters", &keep, 2).await;
    assert_eq!(uid(cluster.statefulset(&keep).await), keep_uid, "the StatefulSet was recreated");
    assert_eq!(uid(cluster.statefulset(&format!("tool-{tool}")).await), tool_uid);
    assert_eq!(pod_uids(cluster.pods(&keep).await), keep_pods, "pods were replaced or duplicated");
    let (sets, services) = cluster.managed_names().await;
    let ours = |names: Vec<String>| -> Vec<String> { names.into_iter().filter(|n| n.contains(prefix)).collect() };
    assert_eq!(ours(sets), [keep.clone(), format!("tool-{tool}")]);
    assert_eq!(ours(services), [format!("{keep}-service"), format!("tool-{tool}-service")]);

    // The tool answers through the router.
    let router = gw.url("/mcp");
    let result = eventually("the tool through the router", DEPLOY_TIMEOUT, || async {
        let result = mcp::call_once(&router, &tool, json!({"location": "Paris"})).await.ok()?;
        (!mcp::is_error(&result)).then_some(result)
    })
    .await;
    assert!(mcp::text(&result).contains("temperature"), "{}", mcp::text(&result));
    for (collection, name) in [("adapters", &keep), ("tools", &tool)] {
        assert_eq!(send(&gw, reqwest::Method::DELETE, &format!("/{collection}/{name}"), None).await, StatusCode::NO_CONTENT);
    }
    eventually("everything deleted", DEPLOY_TIMEOUT, || async {
        let (sets, services) = cluster.managed_names().await;
        (ours(sets).is_empty() && ours(services).is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_lifecycle_on_the_double() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    adapter_lifecycle(&cluster, dir.path(), "k8s-demo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_adopts_and_reaps_on_the_double() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    restart_adopts_and_reaps(&cluster, dir.path(), "rs").await;
    let double = cluster.double.as_ref().expect("double");
    eventually("no pods left", DEPLOY_TIMEOUT, || async {
        double.objects(Kind::Pod, &cluster.namespace).is_empty().then_some(())
    })
    .await;
}

/// The same scenarios against the cluster of the current kubeconfig (opt-in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_cluster_end_to_end() {
    let Some(cluster) = Cluster::real("real_cluster_end_to_end").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    adapter_lifecycle(&cluster, dir.path(), "e2e-demo").await;
    let dir = tempfile::tempdir().expect("tempdir");
    restart_adopts_and_reaps(&cluster, dir.path(), "e2e-rs").await;
}
