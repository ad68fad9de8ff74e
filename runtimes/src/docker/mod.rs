//! The Docker runtime: one container per replica on a Docker Engine, through the engine API
//! (bollard), never the `docker` CLI.
//!
//! It owns the containers labelled with this gateway's id (see [`naming`]) and creates the
//! user-defined network if it is missing. It must not touch anything else on the engine: every
//! query filters by the gateway label, so gateways sharing an engine stay apart; it removes no
//! images, and no network except a duplicate it just created itself (see `network`).
//!
//! Where things are: [`naming`] (names, labels, filters), `container` (the hardened create
//! options, in one function), `observe` (reading containers, state words, the readiness
//! probe), `plan` (what `apply` must do, pure), `lifecycle` (create, start, drain, remove),
//! `readiness` (waiting for a new replica), `attach` (a stdio replica's stdin/stdout), `image` (local image or pull), `network` (the
//! shared network). State kept in memory: the last applied spec per workload (to tell current
//! replicas from old ones), readiness failures and containers being drained; the engine is the
//! truth, so a restarted gateway rebuilds all of it from labels.

mod attach;
mod container;
mod image;
mod lifecycle;
pub mod naming;
mod network;
mod observe;
mod plan;
mod readiness;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::future::join_all;

use crate::{
    Attachment, Endpoint, LogFollow, ManagedWorkload, ReplicaStatus, Runtime, RuntimeError,
    WorkloadId, WorkloadSpec, WorkloadStatus,
};
use observe::ReplicaContainer;

/// The engine address when neither config nor `DOCKER_HOST` gives one.
#[cfg(unix)]
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
#[cfg(windows)]
pub const DEFAULT_HOST: &str = "npipe:////./pipe/docker_engine";

/// How long `connect` waits for the engine to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the gateway reaches its replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reach {
    /// A port published on 127.0.0.1 per replica (ephemeral); works wherever the gateway runs
    /// next to the engine, Docker Desktop included.
    #[default]
    Published,
    /// The container's address on the network plus the container port; for a gateway that
    /// itself runs on that network.
    Container,
}

/// Resource limits of every replica container; 0 means no limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub cpus: f64,
    pub pids: u32,
}

/// Everything [`DockerRuntime::connect`] needs.
#[derive(Clone, Debug)]
pub struct DockerOptions {
    /// Engine address (`unix://...`, `tcp://...`); `None`: `DOCKER_HOST`, then [`DEFAULT_HOST`].
    pub host: Option<String>,
    /// The user-defined network every replica joins; created if missing.
    pub network: String,
    /// This gateway's id, written into every label and used in every query.
    pub gateway_id: String,
    /// `runtime.image_registry`: pull missing images only when it is not empty.
    pub image_registry: String,
    pub reach: Reach,
    pub limits: Limits,
    /// How long a new replica gets to accept connections.
    pub ready_timeout: Duration,
}

/// What `apply` was last told about a workload.
#[derive(Clone, Debug)]
struct Desired {
    spec_hash: String,
    replicas: u32,
    image: String,
}

/// The Docker implementation of [`Runtime`].
pub struct DockerRuntime {
    docker: Docker,
    host: String,
    gateway_id: String,
    network: String,
    /// The network's id; replaced if someone removes the network while we run.
    network_id: RwLock<String>,
    image_registry: String,
    reach: Reach,
    limits: Limits,
    ready_timeout: Duration,
    desired: Mutex<HashMap<WorkloadId, Desired>>,
    /// Why current containers failed their readiness wait, by workload and container id.
    unready: Mutex<HashMap<WorkloadId, HashMap<String, String>>>,
    /// Ids of containers waiting to be stopped (see `lifecycle`).
    draining: Arc<Mutex<HashSet<String>>>,
}

impl DockerRuntime {
    /// Connects to the engine (negotiating the API version, so older engines such as 20.10 with
    /// API 1.41 work) and makes sure the network exists.
    pub async fn connect(options: DockerOptions) -> Result<DockerRuntime, RuntimeError> {
        let host = options
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let docker = Docker::connect_with_host(&host).map_err(|err| match err {
            // bollard checks that a unix socket exists before any request.
            EngineError::SocketNotFoundError(_) => unreachable(&host, &err.to_string()),
            err => RuntimeError::Unavailable(format!(
                "\"{host}\" is not a Docker engine address this gateway can use ({err}); set \
                 runtime.docker.host (or DOCKER_HOST) to unix:///var/run/docker.sock or \
                 tcp://HOST:2375"
            )),
        })?;
        let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(err)) => return Err(unreachable(&host, &err.to_string())),
            Err(_) => {
                return Err(unreachable(
                    &host,
                    &format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ));
            }
        };
        let network_id = network::ensure(&docker, &options.network).await?;
        tracing::info!(%host, network = %options.network, %network_id, "connected to the Docker engine");
        Ok(DockerRuntime {
            docker,
            host,
            gateway_id: options.gateway_id,
            network: options.network,
            network_id: RwLock::new(network_id),
            image_registry: options.image_registry,
            reach: options.reach,
            limits: options.limits,
            ready_timeout: options.ready_timeout,
            desired: Mutex::new(HashMap::new()),
            unready: Mutex::new(HashMap::new()),
            draining: Arc::default(),
        })
    }

    /// The engine address in use (for messages).
    pub fn host(&self) -> &str {
        &self.host
    }

    fn network_id(&self) -> String {
        self.network_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember(&self, spec: &WorkloadSpec, spec_hash: &str) {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                spec.id.clone(),
                Desired {
                    spec_hash: spec_hash.to_string(),
                    replicas: spec.replicas,
                    image: spec.image.clone(),
                },
            );
    }

    fn desired(&self, id: &WorkloadId) -> Option<Desired> {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Our containers matching `filters` (stopped ones included).
    async fn list(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<Vec<ReplicaContainer>, RuntimeError> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|err| engine_error("cannot list containers", err))?;
        let network_id = self.network_id();
        Ok(summaries
            .iter()
            .filter_map(|s| ReplicaContainer::from_summary(s, self.reach, &network_id))
            .collect())
    }

    async fn list_workload(&self, id: &WorkloadId) -> Result<Vec<ReplicaContainer>, RuntimeError> {
        self.list(naming::workload_filter(&self.gateway_id, id))
            .await
    }

    /// The ids of the containers that accept connections now (probed concurrently).
    async fn ready_ids(&self, containers: &[ReplicaContainer]) -> HashSet<String> {
        let probes = containers.iter().map(|c| async move {
            let ready = c.probe(self.reach).await;
            (c.id.clone(), ready)
        });
        join_all(probes)
            .await
            .into_iter()
            .filter_map(|(id, ready)| ready.then_some(id))
            .collect()
    }

    /// The current spec hash and replica count of a workload: what `apply` was last told, or
    /// (before the first apply since the gateway started) what the newest container says.
    fn current(&self, id: &WorkloadId, containers: &[ReplicaContainer]) -> (String, u32, String) {
        match self.desired(id) {
            Some(desired) => (desired.spec_hash, desired.replicas, desired.image),
            None => {
                let replicas: BTreeSet<u32> = containers.iter().filter_map(|c| c.replica).collect();
                let newest = containers.iter().max_by_key(|c| c.created);
                (
                    plan::newest_hash(containers).unwrap_or_default(),
                    replicas.last().map_or(0, |last| last + 1),
                    newest.map(|c| c.image.clone()).unwrap_or_default(),
                )
            }
        }
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn deploys_images(&self) -> bool {
        true
    }

    async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map(|_| ())
            .map_err(|err| unreachable(&self.host, &err.to_string()))
    }

    async fn apply(&self, spec: &WorkloadSpec) -> Result<(), RuntimeError> {
        self.converge(spec).await
    }

    async fn remove(&self, id: &WorkloadId) -> Result<(), RuntimeError> {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.unready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let containers = self.list_workload(id).await?;
        let removals = containers
            .iter()
            .map(|c| lifecycle::force_remove(&self.docker, &c.id, &c.name));
        join_all(removals)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    }

    async fn status(&self, id: &WorkloadId) -> Result<WorkloadStatus, RuntimeError> {
        let containers = self.list_workload(id).await?;
        if containers.is_empty() {
            return Err(RuntimeError::NotFound(format!("{id} has no containers")));
        }
        let (spec_hash, replicas, image) = self.current(id, &containers);
        let ready = self.ready_ids(&containers).await;
        let is_ready = |c: &ReplicaContainer| ready.contains(&c.id);
        let mut status = WorkloadStatus {
            desired_replicas: replicas,
            image,
            ..WorkloadStatus::default()
        };
        for index in 0..replicas {
            let replica = match plan::representative(&containers, index, &spec_hash, &is_ready) {
                Some(container) => {
                    let ready = is_ready(container);
                    ReplicaStatus {
                        instance: index,
                        state: observe::state_words(container, ready),
                        ready,
                    }
                }
                None => ReplicaStatus {
                    instance: index,
                    state: "not created yet".into(),
                    ready: false,
                },
            };
            status.ready_replicas += u32::from(replica.ready);
            let updated = containers
                .iter()
                .any(|c| c.replica == Some(index) && c.spec_hash == spec_hash && c.is_running());
            status.updated_replicas += u32::from(updated);
            status.replicas.push(replica);
        }
        status.available_replicas = status.ready_replicas;
        Ok(status)
    }

    async fn logs(
        &self,
        id: &WorkloadId,
        instance: u32,
        tail: u32,
    ) -> Result<String, RuntimeError> {
        let container = self.log_source(id, instance).await?;
        self.tail_logs(&container.id, tail, !container.stdio).await
    }

    async fn follow_logs(
        &self,
        id: &WorkloadId,
        instance: u32,
        tail: u32,
    ) -> Result<LogFollow, RuntimeError> {
        let container = self.log_source(id, instance).await?;
        Ok(self.follow_container_logs(container.id, tail, !container.stdio))
    }

    async fn attach(&self, id: &WorkloadId, instance: u32) -> Result<Attachment, RuntimeError> {
        self.attach_replica(id, instance).await
    }

    async fn process_identity(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<Option<String>, RuntimeError> {
        self.started(id, instance).await.map(Some)
    }

    async fn endpoints(&self, id: &WorkloadId) -> Result<Vec<Endpoint>, RuntimeError> {
        let containers = self.list_workload(id).await?;
        let (spec_hash, replicas, _) = self.current(id, &containers);
        let ready = self.ready_ids(&containers).await;
        let is_ready = |c: &ReplicaContainer| ready.contains(&c.id);
        Ok((0..replicas)
            .filter_map(|index| {
                let container = plan::representative(&containers, index, &spec_hash, &is_ready)?;
                Some(Endpoint {
                    instance: index,
                    base_url: container.base_url().filter(|_| container.is_running())?,
                    ready: is_ready(container),
                })
            })
            .collect())
    }

    async fn list_managed(&self) -> Result<Vec<ManagedWorkload>, RuntimeError> {
        let containers = self.list(naming::gateway_filter(&self.gateway_id)).await?;
        let mut workloads: BTreeMap<WorkloadId, BTreeSet<String>> = BTreeMap::new();
        for container in containers {
            workloads
                .entry(container.workload)
                .or_default()
                .insert(container.spec_hash);
        }
        Ok(workloads
            .into_iter()
            .map(|(id, hashes)| ManagedWorkload {
                id,
                spec_hashes: hashes.into_iter().collect(),
            })
            .collect())
    }
}

/// The HTTP status the engine answered with, if the error is an engine answer.
fn status_code(err: &EngineError) -> Option<u16> {
    match err {
        EngineError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// An engine error in words: `context` says what we were doing.
impl DockerRuntime {
    /// The id of the container whose logs stand for replica `instance`: the current spec's
    /// running one if any, else the newest.
    async fn log_source(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<ReplicaContainer, RuntimeError> {
        let containers = self.list_workload(id).await?;
        let (spec_hash, _, _) = self.current(id, &containers);
        let running = |c: &ReplicaContainer| c.is_running();
        plan::representative(&containers, instance, &spec_hash, &running)
            .cloned()
            .ok_or_else(|| {
                RuntimeError::NotFound(format!(
                    "{id} has no container for instance {instance} (it may not be deployed yet; \
                     see its status)"
                ))
            })
    }
}

fn engine_error(context: &str, err: EngineError) -> RuntimeError {
    match err {
        EngineError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NotFound(format!("{context}: {message}")),
        EngineError::DockerResponseServerError {
            status_code,
            message,
        } => RuntimeError::Failed(format!(
            "{context}: the Docker engine answered {status_code}: {message}"
        )),
        EngineError::RequestTimeoutError => RuntimeError::Unavailable(format!(
            "{context}: the Docker engine did not answer in time"
        )),
        err @ (EngineError::HyperLegacyError { .. }
        | EngineError::IOError { .. }
        | EngineError::SocketNotFoundError(_)) => RuntimeError::Unavailable(format!(
            "{context}: cannot reach the Docker engine ({err}); is Docker running?"
        )),
        other => RuntimeError::Failed(format!("{context}: {other}")),
    }
}

fn unreachable(host: &str, reason: &str) -> RuntimeError {
    RuntimeError::Unavailable(format!(
        "the Docker engine at {host} does not answer ({reason}); start Docker, point \
         runtime.docker.host (or DOCKER_HOST) at a running engine, or set runtime.kind = \"none\" \
         to proxy only remote servers"
    ))
}
