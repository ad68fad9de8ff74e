//! Status and logs of a resource, in words: from the runtime for image-based resources, from a
//! probe for `url` resources, with the reconciler's progress or last error added.
//!
//! Handles: the runtime, the reconciler's view, the HTTP client (for probes). Its errors are its
//! own ([`StatusError`]); the HTTP layer maps them to statuses.

use std::sync::Arc;
use std::time::Duration;

use mcp_gateway_runtimes::{LOG_FOLLOW_BUFFER, LogFollow, Runtime, RuntimeError, WorkloadStatus};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::model::{ReplicaView, Resource, StatusView};
use crate::infra::http_client::{self, HttpClient};
use crate::infra::reconciler::{DeployState, Observed};

/// How long a `url` resource gets to answer a status probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why logs cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No such replica, or nothing of the resource runs here.
    #[error("{0}")]
    NotFound(String),
    /// The runtime does not answer.
    #[error("{0}")]
    Unavailable(String),
    /// The runtime cannot do this (follow logs, on a runtime without streams).
    #[error("{0}")]
    Unsupported(String),
    /// Anything else the runtime reported.
    #[error("{0}")]
    Failed(String),
}

/// Reads status and logs of resources.
pub struct Status {
    runtime: Arc<dyn Runtime>,
    observed: Arc<Observed>,
    /// Probes `url` resources; must apply the upstream address policy.
    http: HttpClient,
    image_registry: String,
    /// Cancelled at shutdown: ends followed logs.
    shutdown: CancellationToken,
}

impl Status {
    pub fn new(
        runtime: Arc<dyn Runtime>,
        observed: Arc<Observed>,
        http: HttpClient,
        image_registry: String,
    ) -> Self {
        Self {
            runtime,
            observed,
            http,
            image_registry,
            shutdown: CancellationToken::new(),
        }
    }

    /// The status of a resource. Never fails: problems are reported in the answer.
    pub async fn of(&self, resource: &Resource) -> StatusView {
        match &resource.spec.url {
            Some(url) => self.url_status(url).await,
            None => self.workload_status(resource).await,
        }
    }
}

impl Status {
    async fn url_status(&self, url: &str) -> StatusView {
        let (state_words, ready) = match http_client::probe(&self.http, url, PROBE_TIMEOUT).await {
            Ok(code) => (format!("reachable (HTTP {code})"), true),
            Err(reason) => (format!("unreachable: {reason}"), false),
        };
        let ready_count = u32::from(ready);
        StatusView {
            ready_replicas: ready_count,
            updated_replicas: 1,
            available_replicas: ready_count,
            image: url.to_string(),
            replica_status: replica_status(ready_count, 1),
            message: (!ready).then(|| format!("{url} does not answer: {state_words}")),
            replicas: vec![ReplicaView {
                instance: 0,
                state: state_words,
                ready,
            }],
        }
    }

    async fn workload_status(&self, resource: &Resource) -> StatusView {
        let id = resource.workload_id();
        let desired = resource.spec.replica_count;
        let image = resource
            .spec
            .image_reference(&self.image_registry)
            .unwrap_or_default();
        let progress = match self.observed.state(&id) {
            None | Some(DeployState::Pending) => {
                Some("waiting for the reconciler to deploy it".to_string())
            }
            Some(DeployState::Applying) => Some("deploying".to_string()),
            Some(DeployState::Applied) => None,
            Some(DeployState::Failed(reason)) => Some(format!("deployment failed: {reason}")),
        };
        let observed = match self.runtime.status(&id).await {
            Ok(status) => status,
            Err(RuntimeError::NotFound(_)) => WorkloadStatus {
                desired_replicas: desired,
                image: image.clone(),
                ..WorkloadStatus::default()
            },
            Err(err) => WorkloadStatus {
                desired_replicas: desired,
                image: image.clone(),
                message: Some(format!(
                    "the {} runtime did not answer: {err}",
                    self.runtime.name()
                )),
                ..WorkloadStatus::default()
            },
        };
        let message = match (progress, observed.message) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        StatusView {
            ready_replicas: observed.ready_replicas,
            updated_replicas: observed.updated_replicas,
            available_replicas: observed.available_replicas,
            image: if observed.image.is_empty() {
                image
            } else {
                observed.image
            },
            replica_status: replica_status(observed.ready_replicas, desired),
            replicas: observed
                .replicas
                .into_iter()
                .map(|r| ReplicaView {
                    instance: r.instance,
                    state: r.state,
                    ready: r.ready,
                })
                .collect(),
            message,
        }
    }
}

/// The original's wording: `Healthy` when every desired replica is ready.
pub fn replica_status(ready: u32, desired: u32) -> String {
    if ready >= desired {
        "Healthy".into()
    } else {
        format!("Degraded: {ready}/{desired} ready")
    }
}

impl Status {
    /// The last `tail` log lines of replica `instance`.
    pub async fn logs(
        &self,
        resource: &Resource,
        instance: u32,
        tail: u32,
    ) -> Result<String, StatusError> {
        has_instance(resource, instance)?;
        self.runtime
            .logs(&resource.workload_id(), instance, tail)
            .await
            .map_err(status_error)
    }

    /// The last `tail` log lines of replica `instance`, then its output as it is written (see
    /// [`LogFollow`]): streamed by the runtime (Docker, Kubernetes), never polled. The stream
    /// also ends at [`Status::shutdown`], so an open follow never holds the gateway's graceful
    /// shutdown (replicas outlive the gateway, so their streams would not end by themselves).
    pub async fn follow_logs(
        &self,
        resource: &Resource,
        instance: u32,
        tail: u32,
    ) -> Result<LogFollow, StatusError> {
        has_instance(resource, instance)?;
        let mut from_runtime = self
            .runtime
            .follow_logs(&resource.workload_id(), instance, tail)
            .await
            .map_err(status_error)?;
        let (sender, receiver) = mpsc::channel(LOG_FOLLOW_BUFFER);
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let chunk = tokio::select! {
                    () = stop.cancelled() => break,
                    () = sender.closed() => break,
                    chunk = from_runtime.recv() => chunk,
                };
                let Some(chunk) = chunk else { break };
                if sender.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }

    /// Ends every followed log stream (graceful shutdown).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

/// `Ok` if the gateway runs replica `instance` of the resource, so it may have logs.
fn has_instance(resource: &Resource, instance: u32) -> Result<(), StatusError> {
    if let Some(url) = &resource.spec.url {
        return Err(StatusError::NotFound(format!(
            "{} \"{}\" is a remote server ({url}): the gateway runs no instance of it, so it has no logs",
            resource.kind,
            resource.name(),
        )));
    }
    if instance >= resource.spec.replica_count {
        return Err(StatusError::NotFound(format!(
            "{} \"{}\" has {} replica(s): instance {instance} does not exist (instances count from 0)",
            resource.kind,
            resource.name(),
            resource.spec.replica_count
        )));
    }
    Ok(())
}

fn status_error(err: RuntimeError) -> StatusError {
    match err {
        RuntimeError::NotFound(message) => StatusError::NotFound(message),
        RuntimeError::Unavailable(message) => StatusError::Unavailable(message),
        RuntimeError::Unsupported(message) => StatusError::Unsupported(message),
        other => StatusError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::replica_status;

    #[test]
    fn wording_matches_the_original() {
        assert_eq!(replica_status(2, 2), "Healthy");
        assert_eq!(replica_status(1, 2), "Degraded: 1/2 ready");
        assert_eq!(replica_status(0, 0), "Healthy");
    }
}
