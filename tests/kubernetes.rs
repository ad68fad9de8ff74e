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

use common::cluster::{
    Cluster, DEPLOY_TIMEOUT, adapter, container_env, healthy, registry_prefix, send, settle_on,
    spread, status, status_until, weather_tool,
};
use common::exposition::Exposition;
use common::{Gateway, client, eventually, mcp, rbac};
use kube_double::Kind;
use mcp_gateway::domain::model::ResourceKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Polls `/metrics` until adapter `name` has `expected` ready replicas there; returns that scrape.
async fn ready_replicas_reach(gw: &Gateway, name: &str, expected: f64) -> Exposition {
    let what = format!("{expected} ready replicas of {name} in /metrics");
    eventually(&what, DEPLOY_TIMEOUT, || async {
        let response = client().get(gw.url("/metrics")).send().await.ok()?;
        let text = response.text().await.ok()?;
        let metrics = Exposition::parse(&text).expect("valid exposition text");
        let ready = metrics.value(
            "mcp_gateway_ready_replicas",
            &[("kind", "adapter"), ("name", name)],
        );
        (ready == Some(expected)).then_some(metrics)
    })
    .await
}

/// Create (2 replicas), affinity and spread, not-Ready replicas get no new sessions, a removed
/// env var really goes, scale down, delete.
async fn adapter_lifecycle(cluster: &Cluster, dir: &Path, name: &str) {
    let gw = Gateway::start(dir, &cluster.gateway_config(dir));
    let env = json!({"GREETING": "hello", "REMOVE_ME": "soon"});
    assert_eq!(
        send(
            &gw,
            reqwest::Method::POST,
            "/adapters",
            Some(&adapter(name, 2, env))
        )
        .await,
        StatusCode::CREATED
    );

    let created = healthy(&gw, "adapters", name, 2).await;
    assert_eq!(
        created["image"],
        format!("{}mcp-example:1.0.0", registry_prefix(cluster))
    );
    let replicas = created["replicas"].as_array().expect("replicas");
    assert!(
        replicas.iter().all(|r| r["state"] == "running"),
        "{created}"
    );
    let pods = cluster.pods(name).await;
    let pod_names: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    assert_eq!(pod_names, [format!("{name}-0"), format!("{name}-1")]);
    let sts = cluster.statefulset(name).await.expect("the StatefulSet");
    let labels = sts.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["adapter/type"], "mcp");
    assert_eq!(labels["adapter/name"], name);
    assert_eq!(labels["app.kubernetes.io/managed-by"], "mcp-gateway");
    assert!(cluster.service(&format!("{name}-service")).await.is_some());
    // Applied with server-side apply by the gateway's field manager.
    let managers = sts.metadata.managed_fields.clone().unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some("mcp-gateway")
                && m.operation.as_deref() == Some("Apply")),
        "{managers:?}"
    );
    if let Some(double) = &cluster.double {
        let forced = double.requests().into_iter().any(|r| {
            r.method == "PATCH"
                && r.path.ends_with(&format!("/statefulsets/{name}"))
                && r.query.contains("fieldManager=mcp-gateway")
                && r.query.contains("force=true")
        });
        assert!(forced, "no forced server-side apply of the StatefulSet");
    }

    // One session: `add` works and 50 calls stay on one replica (one process).
    let url = gw.url(&format!("/adapters/{name}/mcp"));
    let requests_before = cluster.double.as_ref().map(|d| d.requests().len());
    let session = eventually("a session through the proxy", DEPLOY_TIMEOUT, || async {
        mcp::connect(&url).await.ok()
    })
    .await;
    let sum = mcp::call(&session, "add", json!({"a": 2, "b": 3}))
        .await
        .expect("add");
    assert_eq!(mcp::text(&sum), "5");
    let mut instances = BTreeSet::new();
    for _ in 0..50 {
        let whoami = mcp::call(&session, "whoami", Value::Null)
            .await
            .expect("whoami");
        instances.insert(whoami.structured_content.expect("structured")["instance"].to_string());
    }
    assert_eq!(
        instances.len(),
        1,
        "one session, one replica: {instances:?}"
    );
    let _ = session.cancel().await;
    if let (Some(double), Some(before)) = (&cluster.double, requests_before) {
        // The proxy read endpoints from memory: no pod GET or LIST per request.
        let pod_reads: Vec<_> = double.requests()[before..]
            .iter()
            .filter(|r| r.path.contains("/pods") && r.method == "GET")
            .cloned()
            .collect();
        assert!(
            pod_reads.is_empty(),
            "pod reads while proxying: {pod_reads:?}"
        );
    }

    // New sessions spread over both replicas.
    let both: BTreeSet<String> = [format!("{name}-0"), format!("{name}-1")].into();
    settle_on(&url, 6, &both, "new sessions on both replicas").await;

    // /metrics: replicas as the reconciler observes them, and the traffic just proxied.
    let metrics = ready_replicas_reach(&gw, name, 2.0).await;
    let state = [("kind", "adapter"), ("name", name)];
    assert_eq!(metrics.get("mcp_gateway_desired_replicas", &state), 2.0);
    let proxied = metrics.sum("mcp_gateway_proxy_requests_total", &[("adapter", name)]);
    assert!(
        proxied >= 52.0,
        "initialize, add, 50 whoami and more: {proxied}"
    );
    assert_eq!(
        metrics.get(
            "mcp_gateway_proxy_response_head_seconds_count",
            &[("adapter", name)]
        ),
        proxied
    );

    // Logs of a replica: the server's startup line.
    let logs = client()
        .get(gw.url(&format!("/adapters/{name}/logs?instance=1&tail=20")))
        .send()
        .await
        .expect("logs");
    assert_eq!(logs.status(), StatusCode::OK);
    let text = logs.text().await.expect("text");
    assert!(text.contains("mcp-example listening on"), "{text}");

    let victim = format!("{name}-1");
    let only_first: BTreeSet<String> = [format!("{name}-0")].into();
    if let Some(double) = &cluster.double {
        // A replica whose readiness fails (its process still serves): no new session reaches it.
        double.fail_readiness(&cluster.namespace, &victim, true);
        status_until(&gw, "adapters", name, "replica 1 not ready", |s| {
            s["replicas"][1]["ready"] == false
        })
        .await;
        settle_on(
            &url,
            4,
            &only_first,
            "new sessions avoid the unready replica",
        )
        .await;
        ready_replicas_reach(&gw, name, 1.0).await;
        let seen = spread(&url, 10).await.expect("new sessions");
        assert_eq!(seen, only_first, "a not-Ready pod got a new session");
        double.fail_readiness(&cluster.namespace, &victim, false);

        // Kill the pod; its replacement is held before its server starts: still no new sessions,
        // a readable status and log message.
        double.hold(&cluster.namespace, &victim);
    }
    let old_uid = cluster.pods(name).await[1].metadata.uid.clone();
    cluster.delete_pod(&victim).await;
    if let Some(double) = &cluster.double {
        let replaced = status_until(
            &gw,
            "adapters",
            name,
            "the killed pod recreated, not ready",
            |s| {
                s["replicaStatus"] == "Degraded: 1/2 ready"
                    && s["replicas"][1]["state"] == "starting (creating the container)"
            },
        )
        .await;
        assert_eq!(replaced["replicas"][0]["ready"], true, "{replaced}");
        eventually("the recreated pod", DEPLOY_TIMEOUT, || async {
            let pods = cluster.pods(name).await;
            (pods.len() == 2 && pods[1].metadata.uid != old_uid).then_some(())
        })
        .await;
        settle_on(&url, 4, &only_first, "new sessions avoid the recreated pod").await;
        let seen = spread(&url, 8).await.expect("new sessions");
        assert_eq!(
            seen, only_first,
            "a pod that is not Ready got a new session"
        );
        let logs = client()
            .get(gw.url(&format!("/adapters/{name}/logs?instance=1")))
            .send()
            .await
            .expect("logs");
        let text = logs.text().await.expect("text");
        assert!(text.contains("has not started its server yet"), "{text}");
        double.release(&cluster.namespace, &victim);
    }
    healthy(&gw, "adapters", name, 2).await;
    settle_on(&url, 6, &both, "sessions on both replicas again").await;

    // PUT without REMOVE_ME: the applied StatefulSet has no such variable, and the served
    // replicas agree once the rollout is done.
    let kept = adapter(name, 2, json!({"GREETING": "hello"}));
    assert_eq!(
        send(
            &gw,
            reqwest::Method::PUT,
            &format!("/adapters/{name}"),
            Some(&kept)
        )
        .await,
        StatusCode::OK
    );
    eventually(
        "REMOVE_ME gone from the StatefulSet",
        DEPLOY_TIMEOUT,
        || async {
            let sts = cluster.statefulset(name).await?;
            (container_env(&sts) == ["GREETING"]).then_some(())
        },
    )
    .await;
    eventually(
        "every served replica without REMOVE_ME",
        DEPLOY_TIMEOUT,
        || async {
            let now = status(&gw, "adapters", name).await;
            if now["replicaStatus"] != "Healthy" || now["updatedReplicas"] != 2 {
                return None;
            }
            for _ in 0..4 {
                let gone = mcp::call_once(&url, "env", json!({"name": "REMOVE_ME"}))
                    .await
                    .ok()?;
                if !mcp::is_error(&gone) {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    let greeting = mcp::call_once(&url, "env", json!({"name": "GREETING"}))
        .await
        .expect("env");
    assert_eq!(mcp::text(&greeting), "hello");

    // Scale to 1: one pod left, all new sessions on it.
    let one = adapter(name, 1, json!({"GREETING": "hello"}));
    assert_eq!(
        send(
            &gw,
            reqwest::Method::PUT,
            &format!("/adapters/{name}"),
            Some(&one)
        )
        .await,
        StatusCode::OK
    );
    eventually("one pod left", DEPLOY_TIMEOUT, || async {
        (cluster.pods(name).await.len() == 1).then_some(())
    })
    .await;
    healthy(&gw, "adapters", name, 1).await;
    settle_on(&url, 3, &only_first, "new sessions on the remaining pod").await;

    // Delete: the StatefulSet, the Service and the pods go.
    assert_eq!(
        send(
            &gw,
            reqwest::Method::DELETE,
            &format!("/adapters/{name}"),
            None
        )
        .await,
        StatusCode::NO_CONTENT
    );
    eventually("both objects and the pods gone", DEPLOY_TIMEOUT, || async {
        let gone = cluster.statefulset(name).await.is_none()
            && cluster.service(&format!("{name}-service")).await.is_none()
            && cluster.pods(name).await.is_empty();
        gone.then_some(())
    })
    .await;
}

/// A gateway restart adopts its workloads (nothing recreated or duplicated) and reaps what was
/// deleted from the store while it was down; a tool deployed on the cluster answers the router.
async fn restart_adopts_and_reaps(cluster: &Cluster, dir: &Path, prefix: &str) {
    let keep = format!("{prefix}-keep");
    let gone = format!("{prefix}-gone");
    let tool = format!("{prefix}-weather");
    let gw = Gateway::start(dir, &cluster.gateway_config(dir));
    for body in [adapter(&keep, 2, json!({})), adapter(&gone, 1, json!({}))] {
        assert_eq!(
            send(&gw, reqwest::Method::POST, "/adapters", Some(&body)).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        send(
            &gw,
            reqwest::Method::POST,
            "/tools",
            Some(&weather_tool(&tool))
        )
        .await,
        StatusCode::CREATED
    );
    healthy(&gw, "adapters", &keep, 2).await;
    healthy(&gw, "adapters", &gone, 1).await;
    healthy(&gw, "tools", &tool, 1).await;
    let uid =
        |sts: Option<k8s_openapi::api::apps::v1::StatefulSet>| sts.and_then(|s| s.metadata.uid);
    let keep_uid = uid(cluster.statefulset(&keep).await);
    let tool_uid = uid(cluster.statefulset(&format!("tool-{tool}")).await);
    let pod_uids = |pods: Vec<k8s_openapi::api::core::v1::Pod>| -> Vec<Option<String>> {
        pods.into_iter().map(|p| p.metadata.uid).collect()
    };
    let keep_pods = pod_uids(cluster.pods(&keep).await);

    // The gateway dies; the resource is deleted from its store meanwhile.
    let config_path = gw.config_path.clone();
    gw.kill9();
    let store = mcp_gateway::infra::store::Store::open(&dir.join("gw.db")).expect("open the store");
    store
        .delete(ResourceKind::Adapter, &gone, |_| Ok::<(), ()>(()))
        .expect("delete")
        .expect("allowed");
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
    assert_eq!(
        uid(cluster.statefulset(&keep).await),
        keep_uid,
        "the StatefulSet was recreated"
    );
    assert_eq!(
        uid(cluster.statefulset(&format!("tool-{tool}")).await),
        tool_uid
    );
    assert_eq!(
        pod_uids(cluster.pods(&keep).await),
        keep_pods,
        "pods were replaced or duplicated"
    );
    let (sets, services) = cluster.managed_names().await;
    let ours = |names: Vec<String>| -> Vec<String> {
        names.into_iter().filter(|n| n.contains(prefix)).collect()
    };
    assert_eq!(ours(sets), [keep.clone(), format!("tool-{tool}")]);
    assert_eq!(
        ours(services),
        [format!("{keep}-service"), format!("tool-{tool}-service")]
    );

    // The tool answers through the router.
    let router = gw.url("/mcp");
    let result = eventually("the tool through the router", DEPLOY_TIMEOUT, || async {
        let result = mcp::call_once(&router, &tool, json!({"location": "Paris"}))
            .await
            .ok()?;
        (!mcp::is_error(&result)).then_some(result)
    })
    .await;
    assert!(
        mcp::text(&result).contains("temperature"),
        "{}",
        mcp::text(&result)
    );
    for (collection, name) in [("adapters", &keep), ("tools", &tool)] {
        assert_eq!(
            send(
                &gw,
                reqwest::Method::DELETE,
                &format!("/{collection}/{name}"),
                None
            )
            .await,
            StatusCode::NO_CONTENT
        );
    }
    eventually("everything deleted", DEPLOY_TIMEOUT, || async {
        let (sets, services) = cluster.managed_names().await;
        (ours(sets).is_empty() && ours(services).is_empty()).then_some(())
    })
    .await;
}

/// The lifecycle on the double, then least privilege against behaviour: the Role in
/// deploy/rbac.yaml grants exactly what the runtime asked of the API server (a call without a
/// rule, or a rule the runtime never needs, fails; `pods/attach` is checked by the stdio tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_lifecycle_on_the_double() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    adapter_lifecycle(&cluster, dir.path(), "k8s-demo").await;
    let double = cluster.double.as_ref().expect("double");
    let used = rbac::assert_role_allows_the_runtime(double, &cluster.namespace);
    // Attaching is for stdio workloads only; tests/kubernetes_stdio.rs shows it is used.
    let unused: Vec<_> = rbac::role_grants()
        .difference(&used)
        .filter(|permission| !rbac::stdio_only().contains(*permission))
        .cloned()
        .collect();
    assert!(
        unused.is_empty(),
        "deploy/rbac.yaml grants what the runtime never asked for in the whole lifecycle \
         (least privilege: remove it): {unused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_adopts_and_reaps_on_the_double() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    restart_adopts_and_reaps(&cluster, dir.path(), "rs").await;
    let double = cluster.double.as_ref().expect("double");
    rbac::assert_role_allows_the_runtime(double, &cluster.namespace);
    eventually("no pods left", DEPLOY_TIMEOUT, || async {
        double
            .objects(Kind::Pod, &cluster.namespace)
            .is_empty()
            .then_some(())
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

/// What goes wrong is said in words: a missing namespace, an image the cluster cannot pull, an
/// API server that does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_are_reported_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    let gw = Gateway::start(dir.path(), &cluster.gateway_config(dir.path()));
    let missing = json!({"name": "no-image", "imageName": "not-there", "imageVersion": "1.0.0"});
    assert_eq!(
        send(&gw, reqwest::Method::POST, "/adapters", Some(&missing)).await,
        StatusCode::CREATED
    );
    let status = status_until(&gw, "adapters", "no-image", "an image pull error", |s| {
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("pod no-image-0: ErrImagePull"))
    })
    .await;
    assert!(
        status["replicas"][0]["state"]
            .as_str()
            .is_some_and(|s| s.starts_with("waiting: ErrImagePull")),
        "{status}"
    );
    let logs = client()
        .get(gw.url("/adapters/no-image/logs"))
        .send()
        .await
        .expect("logs");
    assert_eq!(logs.status(), StatusCode::OK);
    assert!(
        logs.text()
            .await
            .expect("text")
            .contains("has not started its server yet")
    );
    drop(gw);

    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("dir");
    let config = cluster
        .gateway_config(&elsewhere)
        .replace("namespace = \"mcp-test\"", "namespace = \"missing\"");
    let gw = Gateway::start(&elsewhere, &config);
    assert_eq!(
        send(
            &gw,
            reqwest::Method::POST,
            "/adapters",
            Some(&adapter("lost", 1, json!({})))
        )
        .await,
        StatusCode::CREATED
    );
    status_until(
        &gw,
        "adapters",
        "lost",
        "the missing namespace explained",
        |s| {
            s["message"].as_str().is_some_and(|m| {
                m.contains("namespaces \"missing\" not found")
                    && m.contains("kubectl create namespace missing")
            })
        },
    )
    .await;
    drop(gw);

    // No API server at all: `serve` stops at once, naming the server.
    let unreachable = dir.path().join("unreachable.yaml");
    let port = common::closed_port();
    std::fs::write(
        &unreachable,
        std::fs::read_to_string(cluster.kubeconfig.as_ref().expect("kubeconfig"))
            .expect("read")
            .replace(
                cluster.double.as_ref().expect("double").url(),
                &format!("http://127.0.0.1:{port}"),
            ),
    )
    .expect("write");
    let config_path = dir.path().join("unreachable.toml");
    std::fs::write(&config_path, format!("[store]\npath = \"{}\"\n[runtime]\nkind = \"kubernetes\"\n[runtime.kubernetes]\nkubeconfig = \"{}\"\n",
        dir.path().join("u.db").display(), unreachable.display())).expect("write");
    let started = std::time::Instant::now();
    let (code, _, stderr) = common::run(&[
        "serve",
        "--config",
        config_path.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach the Kubernetes API server")
            && stderr.contains(&port.to_string()),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

/// README, Fields and Kubernetes runtime: `useWorkloadIdentity` needs the admin role, and gives
/// the pods the workload-identity service account and label. A non-admin asking for it on an
/// image adapter gets 403 and nothing is stored or applied; an admin creates it, and the
/// StatefulSet and its pod carry the identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_gives_a_workload_identity_on_kubernetes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    // The default dev identity (roles `mcp.dev`) is the admin, so the status polls may read
    // everything; bob is not.
    let config = cluster.gateway_config(dir.path()).replace(
        "mode = \"none\"",
        "mode = \"dev\"\nadmin_role = \"mcp.dev\"",
    );
    let gw = Gateway::start(dir.path(), &config);
    let body = json!({"name": "wi", "imageName": "mcp-example", "imageVersion": "1.0.0",
                      "useWorkloadIdentity": true});
    common::refuse_workload_identity_to_a_non_admin(&gw.url("/adapters"), &body).await;
    // The same name is free for the admin: bob's attempt stored nothing.
    assert_eq!(
        send(&gw, reqwest::Method::POST, "/adapters", Some(&body)).await,
        StatusCode::CREATED
    );
    healthy(&gw, "adapters", "wi", 1).await;
    let sts = cluster.statefulset("wi").await.expect("the StatefulSet");
    let template = &sts.spec.template;
    assert_eq!(
        template
            .spec
            .as_ref()
            .and_then(|p| p.service_account_name.as_deref()),
        Some("workload-sa")
    );
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("azure.workload.identity/use")
            .map(String::as_str),
        Some("true")
    );
    let pods = cluster.pods("wi").await;
    assert_eq!(pods.len(), 1, "one replica, and only the admin's");
    assert_eq!(
        pods[0]
            .spec
            .as_ref()
            .and_then(|p| p.service_account_name.as_deref()),
        Some("workload-sa")
    );
    let double = cluster.double.as_ref().expect("double");
    rbac::assert_role_allows_the_runtime(double, &cluster.namespace);
}

/// One config text, declaring a remote (`url`) adapter and an image adapter, with `kind`
/// swapped: both parse to the same resources, and the Kubernetes one serves both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_config_serves_on_kubernetes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::double(dir.path()).await;
    let (_upstream, upstream_url) = common::upstream::mcp_example(&[]);
    let laptop = cluster
        .gateway_config(dir.path())
        .replace("kind = \"kubernetes\"", "kind = \"docker\"")
        + &format!(
            "[[adapters]]\nname = \"remote\"\nurl = \"{upstream_url}\"\n\n\
             [[adapters]]\nname = \"local\"\nimageName = \"mcp-example\"\nimageVersion = \"1.0.0\"\nreplicaCount = 1\n"
        );
    let cluster_text = laptop.replace("kind = \"docker\"", "kind = \"kubernetes\"");
    assert_ne!(laptop, cluster_text);
    let parse = |text: &str| {
        mcp_gateway::infra::config::parse(text, "config.toml", dir.path().to_path_buf())
            .expect("valid")
    };
    let (on_docker, on_kubernetes) = (parse(&laptop), parse(&cluster_text));
    assert_eq!(on_docker.config.runtime.kind.as_str(), "docker");
    assert_eq!(on_kubernetes.config.runtime.kind.as_str(), "kubernetes");
    assert_eq!(on_docker.resources, on_kubernetes.resources);
    assert_eq!(on_kubernetes.resources.len(), 2);

    let gw = Gateway::start(dir.path(), &cluster_text);
    healthy(&gw, "adapters", "local", 1).await;
    for name in ["remote", "local"] {
        let url = gw.url(&format!("/adapters/{name}/mcp"));
        let sum = eventually(&format!("add through {name}"), DEPLOY_TIMEOUT, || async {
            mcp::call_once(&url, "add", json!({"a": 2, "b": 3}))
                .await
                .ok()
        })
        .await;
        assert_eq!(mcp::text(&sum), "5");
    }
    let sts = cluster
        .statefulset("local")
        .await
        .expect("the image adapter runs as a StatefulSet");
    assert_eq!(
        sts.metadata.labels.unwrap_or_default()["adapter/name"],
        "local"
    );
    assert!(
        cluster.statefulset("remote").await.is_none(),
        "a url adapter deploys nothing"
    );
    let double = cluster.double.as_ref().expect("double");
    rbac::assert_role_allows_the_runtime(double, &cluster.namespace);
}

/// `check` names the key and the line of bad `[runtime.kubernetes]` values.
#[test]
fn check_reports_bad_kubernetes_values_with_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[runtime]\nkind = \"kubernetes\"\n[runtime.kubernetes]\nnamespace = \"adapter\"\n\
         endpoints = \"pod_ip\"\ncpu_request = \"lots\"\nmemory_request = \"1Gi\"\nmemory_limit = \"512Mi\"\n",
    )
    .expect("write");
    let (code, _, stderr) = common::run(&["check", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("line 6: cpu_request"), "{stderr}");
    assert!(
        stderr.contains("line 7: memory_request: must not be above its limit"),
        "{stderr}"
    );

    std::fs::write(&path, "[runtime.kubernetes]\nendpoints = \"nodeport\"\n").expect("write");
    let (code, _, stderr) = common::run(&["check", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("line 2") && stderr.contains("nodeport"),
        "{stderr}"
    );
}

/// Every manifest in deploy/ is a valid Kubernetes object of its kind: it parses into the
/// k8s-openapi type and survives a round trip unchanged (a misspelt field would be dropped by
/// the round trip and fail here), and the ConfigMap's config.toml is a valid gateway config.
#[test]
fn deploy_manifests_are_valid_kubernetes_objects() {
    use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, rbac::v1 as rbac};

    /// The first path in `doc` that `typed` lost (a field its type does not know), if any.
    fn lost(doc: &Value, typed: &Value, path: &str) -> Option<String> {
        match (doc, typed) {
            (Value::Object(doc), Value::Object(typed)) => {
                doc.iter().find_map(|(key, value)| match typed.get(key) {
                    Some(kept) => lost(value, kept, &format!("{path}.{key}")),
                    None => Some(format!("{path}.{key}")),
                })
            }
            (Value::Array(doc), Value::Array(typed)) if doc.len() == typed.len() => doc
                .iter()
                .zip(typed)
                .enumerate()
                .find_map(|(i, (d, t))| lost(d, t, &format!("{path}[{i}]"))),
            _ => (doc != typed).then(|| path.to_string()),
        }
    }

    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value, file: &str) {
        let what = format!("{file}: {} {}", doc["kind"], doc["metadata"]["name"]);
        let typed: T =
            serde_json::from_value(doc.clone()).unwrap_or_else(|err| panic!("{what}: {err}"));
        let back = serde_json::to_value(&typed).expect("serialises");
        if let Some(path) = lost(doc, &back, "") {
            panic!("{what}: {path} is not a field of its type (a typo?)");
        }
    }

    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut kinds = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(&deploy)
        .expect("deploy/")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).expect("read");
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).unwrap_or_else(|err| panic!("{file}: {err}"));
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            match kind.as_str() {
                "Namespace" => round_trip::<core::Namespace>(&doc, &file),
                "ServiceAccount" => round_trip::<core::ServiceAccount>(&doc, &file),
                "Role" => round_trip::<rbac::Role>(&doc, &file),
                "RoleBinding" => round_trip::<rbac::RoleBinding>(&doc, &file),
                "Service" => round_trip::<core::Service>(&doc, &file),
                "StatefulSet" => round_trip::<apps::StatefulSet>(&doc, &file),
                "ConfigMap" => {
                    round_trip::<core::ConfigMap>(&doc, &file);
                    let config = doc["data"]["config.toml"]
                        .as_str()
                        .expect("config.toml in the ConfigMap");
                    let loaded = mcp_gateway::infra::config::parse(config, &file, deploy.clone())
                        .unwrap_or_else(|err| panic!("{file}: config.toml: {err}"));
                    assert_eq!(loaded.config.runtime.kind.as_str(), "kubernetes");
                    assert!(
                        !loaded.config.server.listen.ip().is_loopback(),
                        "in a pod the gateway listens on all interfaces"
                    );
                }
                other => panic!("{file}: unexpected kind {other:?}; add it to this test"),
            }
            kinds.insert(kind);
        }
    }
    for needed in [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Service",
        "StatefulSet",
        "ConfigMap",
    ] {
        assert!(kinds.contains(needed), "deploy/ has no {needed}");
    }
}

/// The Role is namespaced, with no wildcard verb and nothing cluster-wide (checked by
/// `role_grants`); what it grants is checked against what the runtime really sends in
/// `adapter_lifecycle_on_the_double`.
#[test]
fn the_role_is_namespaced_and_has_no_wildcards() {
    assert!(!rbac::role_grants().is_empty(), "the Role grants nothing");
}
