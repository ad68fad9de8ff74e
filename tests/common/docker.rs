//! Docker helpers for integration tests: find the engine (or skip with a reason), start a
//! gateway with the Docker runtime, and remove its containers however the test ends.
//!
//! Tests look at containers through the engine API (bollard), never the `docker` CLI, and only
//! at containers labelled with their own gateway's id, so test gateways running at the same
//! time on one engine never disturb each other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerSummary;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use serde_json::Value;

use super::{Gateway, eventually};

/// Set to `1` (CI does) to fail, instead of skip, when no engine or image is available.
pub const REQUIRE_ENV: &str = "MCP_GATEWAY_REQUIRE_DOCKER";
/// The sample images, built by `scripts/build-images.sh`.
pub const MCP_IMAGE: &str = "mcp-example:1.0.0";
pub const TOOL_IMAGE: &str = "tool-example:1.0.0";
/// Label keys written by the Docker runtime.
pub const LABEL_GATEWAY: &str = "dev.mcp-gateway.gateway";
pub const LABEL_NAME: &str = "dev.mcp-gateway.name";
pub const LABEL_REPLICA: &str = "dev.mcp-gateway.replica";
pub const LABEL_SPEC_HASH: &str = "dev.mcp-gateway.spec-hash";
/// Long enough for a container start on a busy 2-core machine.
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

/// The engine, with the sample images present; `None` after printing why the test skips.
/// Panics instead when [`REQUIRE_ENV`] is `1`.
pub async fn engine_or_skip(test: &str) -> Option<Docker> {
    match engine().await {
        Ok(docker) => Some(docker),
        Err(reason) if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") => {
            panic!("{test}: {reason} ({REQUIRE_ENV}=1, so this fails instead of skipping)")
        }
        Err(reason) => {
            eprintln!("skipping {test}: {reason}");
            None
        }
    }
}

async fn engine() -> Result<Docker, String> {
    let docker = Docker::connect_with_defaults()
        .map_err(|err| format!("no usable Docker engine address: {err}"))?;
    let docker =
        match tokio::time::timeout(Duration::from_secs(5), docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(err)) => return Err(format!("no Docker engine answers: {err}")),
            Err(_) => return Err("the Docker engine did not answer within 5 s".into()),
        };
    for image in [MCP_IMAGE, TOOL_IMAGE] {
        if docker.inspect_image(image).await.is_err() {
            return Err(format!(
                "image {image} is not in the engine; build it with scripts/build-images.sh"
            ));
        }
    }
    Ok(docker)
}

/// A config using the Docker runtime, the store in `dir`, reconciling every second.
pub fn config(dir: &Path) -> String {
    format!(
        "[store]\npath = \"{}\"\n[runtime]\nkind = \"docker\"\nreconcile_interval_secs = 1\n\
         [runtime.docker]\nready_timeout_secs = 30\n",
        dir.join("gw.db").display()
    )
}

/// A gateway with the Docker runtime. Dropping it stops the gateway, then force-removes every
/// container labelled with its id, so a failing test leaves nothing behind.
pub struct DockerGateway {
    gateway: Option<Gateway>,
    pub id: String,
    pub docker: Docker,
    pub db: PathBuf,
    config_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl DockerGateway {
    pub fn start(docker: &Docker) -> DockerGateway {
        Self::start_configured(docker, "", false)
    }

    /// A gateway whose config is [`config`] followed by `extra` (sections the default config
    /// does not have, such as `[auth]`), collecting its JSON logs in [`Self::logs`] if `logged`.
    pub fn start_configured(docker: &Docker, extra: &str, logged: bool) -> DockerGateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("{}{extra}", config(dir.path()));
        let gateway = if logged {
            let path = dir.path().join("config.toml");
            std::fs::write(&path, text).expect("write config");
            Gateway::start_logged(&path)
        } else {
            Gateway::start(dir.path(), &text)
        };
        let db = dir.path().join("gw.db");
        let id = gateway_id(&db);
        DockerGateway {
            config_path: gateway.config_path.clone(),
            gateway: Some(gateway),
            id,
            docker: docker.clone(),
            db,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.gateway.as_ref().expect("gateway running").url(path)
    }

    /// The gateway's JSON log lines so far (started with `logged`; else empty).
    pub fn logs(&self) -> Vec<Value> {
        let gateway = self.gateway.as_ref().expect("gateway running");
        gateway.logs.lock().expect("logs").clone()
    }

    /// Stops the gateway (SIGKILL: no shutdown code runs); its containers stay.
    pub fn stop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.kill9();
        }
    }

    /// Starts the gateway again on the same config and store.
    pub fn start_again(&mut self) {
        assert!(self.gateway.is_none(), "stop the gateway first");
        self.gateway = Some(Gateway::start_with(&self.config_path, &[]));
    }

    /// This gateway's containers named `name` (all of them if `None`), stopped ones included.
    pub async fn containers(&self, name: Option<&str>) -> Vec<ContainerSummary> {
        containers(&self.docker, &self.id, name).await
    }

    /// The container of replica `replica` of `name` that runs now.
    pub async fn running_replica(&self, name: &str, replica: u32) -> Option<ContainerSummary> {
        self.containers(Some(name)).await.into_iter().find(|c| {
            label(c, LABEL_REPLICA) == Some(&replica.to_string())
                && c.state.map(|s| s.to_string()).as_deref() == Some("running")
        })
    }

    /// Polls `GET /{collection}/{name}/status` until `accept` likes it.
    pub async fn status_until(
        &self,
        collection: &str,
        name: &str,
        what: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let http = super::client();
        let url = self.url(&format!("/{collection}/{name}/status"));
        eventually(what, DEPLOY_TIMEOUT, || {
            let (http, url, accept) = (&http, &url, &accept);
            async move {
                let status: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                accept(&status).then_some(status)
            }
        })
        .await
    }

    /// Waits until `name` is `Healthy` with `ready` ready replicas and no deploy message.
    pub async fn healthy(&self, collection: &str, name: &str, ready: u64) -> Value {
        self.status_until(
            collection,
            name,
            &format!("{name} Healthy with {ready} ready"),
            |s| {
                s["replicaStatus"] == "Healthy"
                    && s["readyReplicas"] == ready
                    && s["message"].is_null()
            },
        )
        .await
    }
}

impl Drop for DockerGateway {
    fn drop(&mut self) {
        // The gateway first, or its reconciler would bring the containers back. (Dropping it
        // kills it without the checks of `stop`, which must not panic while a test unwinds.)
        drop(self.gateway.take());
        let (docker, id) = (self.docker.clone(), self.id.clone());
        // Drop may run on the test's runtime thread: do the async clean-up on a thread of its own.
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(remove_all(&docker, &id))
        })
        .join();
        if let Ok(left) = cleaned
            && left > 0
        {
            eprintln!(
                "cleanup: removed {left} container(s) of gateway {}",
                self.id
            );
        }
    }
}

/// The gateway id the gateway stored in its SQLite file.
pub fn gateway_id(db: &Path) -> String {
    let store = mcp_gateway::infra::store::Store::open(db).expect("open the gateway's store");
    let id = store
        .setting("gateway_id")
        .expect("read gateway_id")
        .expect("the gateway stored its id");
    String::from_utf8(id).expect("gateway id is text")
}

/// Containers labelled with `gateway_id` (and `name`, if given), stopped ones included.
pub async fn containers(
    docker: &Docker,
    gateway_id: &str,
    name: Option<&str>,
) -> Vec<ContainerSummary> {
    let mut labels = vec![format!("{LABEL_GATEWAY}={gateway_id}")];
    if let Some(name) = name {
        labels.push(format!("{LABEL_NAME}={name}"));
    }
    let filters = HashMap::from([("label".to_string(), labels)]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .expect("list containers")
}

/// Force-removes every container of `gateway_id`; returns how many there were.
///
/// Looks again until it finds nothing twice in a row: a gateway killed in the middle of a
/// create request leaves the engine to finish that create a moment later.
pub async fn remove_all(docker: &Docker, gateway_id: &str) -> usize {
    let mut removed = 0;
    let mut quiet_rounds = 0;
    for _ in 0..20 {
        let found = containers(docker, gateway_id, None).await;
        if found.is_empty() {
            quiet_rounds += 1;
            if quiet_rounds == 2 {
                break;
            }
        } else {
            quiet_rounds = 0;
        }
        for container in &found {
            if let Some(id) = &container.id {
                let options = RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build();
                if docker.remove_container(id, Some(options)).await.is_ok() {
                    removed += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    removed
}

pub fn label<'a>(container: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    container.labels.as_ref()?.get(key).map(String::as_str)
}

/// `http://127.0.0.1:<published port>` of a container's `port`.
pub fn published_url(container: &ContainerSummary, port: u16) -> Option<String> {
    container
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.private_port == port)
        .and_then(|p| p.public_port)
        .map(|public| format!("http://127.0.0.1:{public}"))
}

pub fn ids(containers: &[ContainerSummary]) -> Vec<String> {
    let mut ids: Vec<String> = containers.iter().filter_map(|c| c.id.clone()).collect();
    ids.sort();
    ids
}
