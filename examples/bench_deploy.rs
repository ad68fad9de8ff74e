//! Deploy benchmark: time from `POST /adapters` (mcp-example from the local image, 1 replica) to
//! the first successful MCP `tools/call add`.
//!
//! Run: `cargo build --release && cargo run --release --example bench_deploy -- [RUNS]` (default
//! 5). Needs a Docker engine and the sample images (`scripts/build-images.sh`). It starts the
//! release `mcp-gateway` binary next to it with the Docker runtime (a fresh store in a temp dir,
//! the default 10 s reconcile interval, so only the event-driven path is measured), and for
//! each run prints: the 201, the container first seen by the engine, the first successful
//! `tools/call add` straight to the replica's published port and through the gateway's proxy
//! (`/adapters/{name}/mcp`, which routes once the reconciler has published the replica as
//! ready), and the status reading `Healthy` with no deploy message.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let docker = Docker::connect_with_defaults()
        .expect("docker address")
        .negotiate_version()
        .await
        .expect("a Docker engine answers");

    let gateway = support::Gateway::start("docker");
    let (base, db) = (gateway.base.clone(), gateway.db.clone());
    let gateway_id = {
        let store = mcp_gateway::infra::store::Store::open(&db).expect("open store");
        let id = store.setting("gateway_id").expect("read").expect("stored");
        String::from_utf8(id).expect("text")
    };

    let http = reqwest::Client::new();
    println!(
        "run  201 (ms)  container seen (ms)  add direct (ms)  add proxied (ms)  status Healthy (ms)"
    );
    let mut firsts = Vec::new();
    for run in 0..runs {
        let name = format!("bench-{run}");
        let started = Instant::now();
        let response = http
            .post(format!("{base}/adapters"))
            .json(&json!({"name": name, "imageName": "mcp-example", "imageVersion": "1.0.0"}))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 201, "POST /adapters");
        let created = started.elapsed();

        let healthy = tokio::spawn({
            let (http, url) = (http.clone(), format!("{base}/adapters/{name}/status"));
            async move {
                loop {
                    if let Ok(response) = http.get(&url).send().await
                        && let Ok(status) = response.json::<Value>().await
                        && status["replicaStatus"] == "Healthy"
                        && status["message"].is_null()
                    {
                        return started.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });

        let direct = async {
            let mut seen = None;
            loop {
                if let Some(port) = published_port(&docker, &gateway_id, &name).await {
                    seen.get_or_insert_with(|| started.elapsed());
                    let url = format!("http://127.0.0.1:{port}/mcp");
                    if call_add_within(&url).await {
                        return (seen.unwrap_or_default(), started.elapsed());
                    }
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "no direct call in 60 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let proxied = async {
            let url = format!("{base}/adapters/{name}/mcp");
            loop {
                if call_add_within(&url).await {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "no proxied call in 60 s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let ((seen, first_add), first_proxied) = tokio::join!(direct, proxied);
        let healthy = tokio::time::timeout(Duration::from_secs(60), healthy)
            .await
            .expect("Healthy within 60 s")
            .expect("status task");
        println!(
            "{run:>3}  {:>8.1}  {:>19.1}  {:>15.1}  {:>16.1}  {:>19.1}",
            ms(created),
            ms(seen),
            ms(first_add),
            ms(first_proxied),
            ms(healthy)
        );
        firsts.push(first_proxied);

        let response = http
            .delete(format!("{base}/adapters/{name}"))
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 204, "DELETE");
        let gone = Instant::now();
        while published_port(&docker, &gateway_id, &name).await.is_some()
            || container_count(&docker, &gateway_id).await > 0
        {
            assert!(
                gone.elapsed() < Duration::from_secs(30),
                "containers removed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    firsts.sort();
    println!(
        "POST -> first tools/call add through /adapters/{{name}}/mcp: median {:.1} ms, best {:.1} ms, worst {:.1} ms ({runs} runs; target <= 1500 ms)",
        ms(firsts[firsts.len() / 2]),
        ms(firsts[0]),
        ms(firsts[firsts.len() - 1])
    );
    drop(gateway);
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// [`call_add`] with a 2 s limit.
async fn call_add_within(url: &str) -> bool {
    tokio::time::timeout(Duration::from_secs(2), call_add(url))
        .await
        .is_ok_and(|ok| ok)
}

/// Initializes an MCP session and calls `add`; true if the sum comes back.
async fn call_add(url: &str) -> bool {
    let Ok(session) = ().serve(StreamableHttpClientTransport::from_uri(url.to_string())).await
    else {
        return false;
    };
    let arguments = json!({"a": 2, "b": 3});
    let params = CallToolRequestParams::new("add")
        .with_arguments(arguments.as_object().cloned().unwrap_or_default());
    let ok = session.call_tool(params).await.is_ok_and(|result| {
        result
            .content
            .first()
            .and_then(|block| block.as_text())
            .is_some_and(|text| text.text == "5")
    });
    let _ = session.cancel().await;
    ok
}

async fn containers(
    docker: &Docker,
    gateway_id: &str,
    name: Option<&str>,
) -> Vec<bollard::models::ContainerSummary> {
    let mut labels = vec![format!("dev.mcp-gateway.gateway={gateway_id}")];
    if let Some(name) = name {
        labels.push(format!("dev.mcp-gateway.name={name}"));
    }
    let filters = HashMap::from([("label".to_string(), labels)]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .unwrap_or_default()
}

async fn published_port(docker: &Docker, gateway_id: &str, name: &str) -> Option<u16> {
    containers(docker, gateway_id, Some(name))
        .await
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.private_port == 8000)
        .and_then(|p| p.public_port)
}

async fn container_count(docker: &Docker, gateway_id: &str) -> usize {
    containers(docker, gateway_id, None).await.len()
}
