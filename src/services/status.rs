//! Status and logs of a resource, in words: from the runtime for image-based resources, from a
//! probe for `url` resources, with the reconciler's progress or last error added.
//!
//! Handles: the runtime, the reconciler's view, the HTTP client (for probes). Its errors are its
//! own ([`StatusError`]); the HTTP layer maps them to statuses.

use std::sync::Arc;
use std::time::Duration;

use mcp_gateway_runtimes::{Runtime, RuntimeError, WorkloadStatus};

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
        if resource.spec.url.is_some() {
            return Err(StatusError::NotFound(format!(
                "{} \"{}\" is a remote server ({}): the gateway runs no instance of it, so it has no logs",
                resource.kind,
                resource.name(),
                resource.spec.url.as_deref().unwrap_or_default()
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
        self.runtime
            .logs(&resource.workload_id(), instance, tail)
            .await
            .map_err(|err| match err {
                RuntimeError::NotFound(message) => StatusError::NotFound(message),
                RuntimeError::Unavailable(message) => StatusError::Unavailable(message),
                other => StatusError::Failed(other.to_string()),
            })
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
