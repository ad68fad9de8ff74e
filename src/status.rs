//! Status and logs of a resource, in words: from the runtime for image-based resources, from a
//! probe for `url` resources, with the reconciler's progress or last error added.

use std::time::Duration;

use mcp_gateway_runtimes::{RuntimeError, WorkloadStatus};

use crate::api::ApiError;
use crate::app::AppState;
use crate::http_client;
use crate::model::{ReplicaView, Resource, StatusView};
use crate::reconciler::DeployState;

/// How long a `url` resource gets to answer a status probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The status of a resource. Never fails: problems are reported in the answer.
pub async fn of(state: &AppState, resource: &Resource) -> StatusView {
    match &resource.spec.url {
        Some(url) => url_status(state, url).await,
        None => workload_status(state, resource).await,
    }
}

async fn url_status(state: &AppState, url: &str) -> StatusView {
    let (state_words, ready) = match http_client::probe(&state.http, url, PROBE_TIMEOUT).await {
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

async fn workload_status(state: &AppState, resource: &Resource) -> StatusView {
    let id = resource.workload_id();
    let desired = resource.spec.replica_count;
    let image = resource
        .spec
        .image_reference(&state.config.config.runtime.image_registry)
        .unwrap_or_default();
    let progress = match state.observed.state(&id) {
        None | Some(DeployState::Pending) => {
            Some("waiting for the reconciler to deploy it".to_string())
        }
        Some(DeployState::Applying) => Some("deploying".to_string()),
        Some(DeployState::Applied) => None,
        Some(DeployState::Failed(reason)) => Some(format!("deployment failed: {reason}")),
    };
    let observed = match state.runtime.status(&id).await {
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
                state.runtime.name()
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

/// The original's wording: `Healthy` when every desired replica is ready.
pub fn replica_status(ready: u32, desired: u32) -> String {
    if ready >= desired {
        "Healthy".into()
    } else {
        format!("Degraded: {ready}/{desired} ready")
    }
}

/// The last `tail` log lines of replica `instance`.
pub async fn logs(
    state: &AppState,
    resource: &Resource,
    instance: u32,
    tail: u32,
) -> Result<String, ApiError> {
    if resource.spec.url.is_some() {
        return Err(ApiError::NotFound(format!(
            "{} \"{}\" is a remote server ({}): the gateway runs no instance of it, so it has no logs",
            resource.kind,
            resource.name(),
            resource.spec.url.as_deref().unwrap_or_default()
        )));
    }
    if instance >= resource.spec.replica_count {
        return Err(ApiError::NotFound(format!(
            "{} \"{}\" has {} replica(s): instance {instance} does not exist (instances count from 0)",
            resource.kind,
            resource.name(),
            resource.spec.replica_count
        )));
    }
    state
        .runtime
        .logs(&resource.workload_id(), instance, tail)
        .await
        .map_err(|err| match err {
            RuntimeError::NotFound(message) => ApiError::NotFound(message),
            RuntimeError::Unavailable(message) => ApiError::Unavailable(message),
            other => ApiError::Internal(other.to_string()),
        })
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
