//! The gateway's pods, kept in memory by a watch, and what they say in words.
//!
//! One kube-runtime reflector watches the pods labelled with this gateway's id in the namespace
//! (LIST, then WATCH from its resourceVersion, re-listing after errors with back-off). Endpoints,
//! readiness and per-replica state are read from that cache, so the proxy path and the
//! reconciler's endpoint refresh never call the API server. Nothing here writes to the cluster.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::task::JoinHandle;

use super::naming;
use crate::{RuntimeError, WorkloadId};

/// The in-memory copy of this gateway's pods. Stops watching when dropped.
pub struct PodCache {
    store: Store<Pod>,
    task: JoinHandle<()>,
    /// The watch's last error, while it is failing (for messages).
    problem: Arc<Mutex<Option<String>>>,
}

impl PodCache {
    /// Starts watching pods matching `selector` through `api` (a namespaced pod API).
    pub fn start(api: Api<Pod>, selector: &str) -> PodCache {
        let (store, writer) = reflector::store();
        let problem: Arc<Mutex<Option<String>>> = Arc::default();
        let stream = watcher(api, watcher::Config::default().labels(selector))
            .default_backoff()
            .reflect(writer);
        let report = problem.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let mut problem = report.lock().unwrap_or_else(|p| p.into_inner());
                match event {
                    Ok(_) => {
                        if problem.take().is_some() {
                            tracing::info!("the pod watch works again");
                        }
                    }
                    Err(err) => {
                        let words = format!("the pod watch fails ({err}); retrying with back-off");
                        if problem.as_deref() != Some(words.as_str()) {
                            tracing::warn!("{words}");
                        }
                        *problem = Some(words);
                    }
                }
            }
        });
        PodCache {
            store,
            task,
            problem,
        }
    }

    /// Waits up to `wait` for the first full listing; afterwards returns at once.
    pub async fn synced(&self, wait: Duration) -> Result<(), RuntimeError> {
        match tokio::time::timeout(wait, self.store.wait_until_ready()).await {
            Ok(Ok(())) => Ok(()),
            _ => {
                let problem = self
                    .problem
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                Err(RuntimeError::Unavailable(format!(
                    "the gateway has not listed its pods yet: {}",
                    problem.unwrap_or_else(|| "the first LIST has not answered".into())
                )))
            }
        }
    }

    /// The pods of StatefulSet `statefulset` (workload `id`), by ordinal.
    pub fn pods(&self, id: &WorkloadId, statefulset: &str) -> BTreeMap<u32, Arc<Pod>> {
        self.store
            .state()
            .into_iter()
            .filter(|pod| {
                pod.metadata
                    .labels
                    .as_ref()
                    .and_then(naming::read_labels)
                    .as_ref()
                    == Some(id)
            })
            .filter_map(|pod| {
                let ordinal = naming::ordinal(statefulset, pod.metadata.name.as_deref()?)?;
                Some((ordinal, pod))
            })
            .collect()
    }
}

impl Drop for PodCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Ready for traffic: the `Ready` condition is true and the pod is not being deleted.
pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
}

/// The port the server listens on, from the pod's own spec.
pub fn container_port(pod: &Pod) -> Option<u16> {
    let container = pod
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == naming::CONTAINER)?;
    let port = container
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.name.as_deref() == Some(naming::PORT_NAME))?;
    u16::try_from(port.container_port).ok()
}

/// The pod's IP, as a URL host (`10.0.0.5`, `[fd00::5]`).
pub fn ip_host(pod: &Pod) -> Option<String> {
    let ip: IpAddr = pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()?;
    Some(match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    })
}

fn server_status(pod: &Pod) -> Option<&ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == naming::CONTAINER)
}

/// The state of a replica's pod in words for status pages (`running`, `starting`, `waiting:
/// ImagePullBackOff: ...`, `exited (code 1)`, `terminating`).
pub fn state_words(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "terminating".into();
    }
    let status = pod.status.as_ref();
    let container = server_status(pod);
    let restarts = container
        .map(|c| c.restart_count)
        .filter(|count| *count > 0)
        .map(|count| format!(" (restarted {count} times)"))
        .unwrap_or_default();
    if let Some(waiting) = container
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
    {
        let reason = waiting.reason.as_deref().unwrap_or("waiting");
        return match waiting.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => format!("waiting: {reason}: {message}{restarts}"),
            None if reason == "ContainerCreating" => "starting (creating the container)".into(),
            None => format!("waiting: {reason}{restarts}"),
        };
    }
    if let Some(terminated) = container
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
    {
        let reason = terminated
            .reason
            .as_deref()
            .map(|r| format!(", {r}"))
            .unwrap_or_default();
        return format!("exited (code {}{reason}){restarts}", terminated.exit_code);
    }
    match status.and_then(|s| s.phase.as_deref()) {
        Some("Running") if is_ready(pod) => format!("running{restarts}"),
        Some("Running") => format!("starting (not ready yet){restarts}"),
        Some("Pending") => match unschedulable(pod) {
            Some(why) => format!("pending: cannot be scheduled: {why}"),
            None => "pending".into(),
        },
        Some("Succeeded") => "exited (code 0)".into(),
        Some("Failed") => format!(
            "failed: {}",
            status
                .and_then(|s| s.message.clone().or_else(|| s.reason.clone()))
                .unwrap_or_else(|| "no reason given".into())
        ),
        Some(other) => other.to_lowercase(),
        None => "pending".into(),
    }
}

fn unschedulable(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| {
            c.message
                .clone()
                .or_else(|| c.reason.clone())
                .unwrap_or_default()
        })
}

/// A problem worth a workload-level message: the image cannot be pulled or the container
/// cannot be configured (these do not go away by waiting).
pub fn problem(pod: &Pod) -> Option<String> {
    let waiting = server_status(pod)?.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    let lasting = [
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    ];
    lasting.contains(&reason).then(|| {
        let name = pod.metadata.name.as_deref().unwrap_or("a pod");
        match waiting.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => format!("pod {name}: {reason}: {message}"),
            None => format!("pod {name}: {reason}"),
        }
    })
}

/// Whether the server container has never started (logs would be empty or refused), with the
/// reason it is waiting.
pub fn not_started(pod: &Pod) -> Option<String> {
    let container = server_status(pod);
    let ever_ran = container.is_some_and(|c| {
        c.restart_count > 0
            || c.state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
    });
    (!ever_ran).then(|| state_words(pod))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "demo-1"},
            "spec": {"containers": [{"name": "server", "image": "x",
                      "ports": [{"name": "mcp", "containerPort": 8000}]}]},
            "status": status,
        }))
        .expect("a pod")
    }

    fn ready(value: &str) -> serde_json::Value {
        json!([{"type": "Ready", "status": value}])
    }

    #[test]
    fn readiness_comes_from_the_ready_condition() {
        let running = pod(json!({"phase": "Running", "podIP": "127.0.0.5",
            "conditions": ready("True"),
            "containerStatuses": [{"name": "server", "image": "x", "imageID": "", "ready": true,
                                   "restartCount": 0, "state": {"running": {}}}]}));
        assert!(is_ready(&running));
        assert_eq!(state_words(&running), "running");
        assert_eq!(container_port(&running), Some(8000));
        assert_eq!(ip_host(&running).as_deref(), Some("127.0.0.5"));
        assert_eq!(not_started(&running), None);

        let mut terminating = running.clone();
        terminating.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-11-23T10:00:00Z")).expect("a time"));
        assert!(!is_ready(&terminating));
        assert_eq!(state_words(&terminating), "terminating");

        let starting = pod(json!({"phase": "Running", "conditions": ready("False"),
            "containerStatuses": [{"name": "server", "image": "x", "imageID": "", "ready": false,
                                   "restartCount": 2, "state": {"running": {}}}]}));
        assert!(!is_ready(&starting));
        assert_eq!(
            state_words(&starting),
            "starting (not ready yet) (restarted 2 times)"
        );
    }

    #[test]
    fn waiting_and_exited_pods_say_why() {
        let pulling = pod(json!({"phase": "Pending",
            "containerStatuses": [{"name": "server", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}]}));
        assert_eq!(
            state_words(&pulling),
            "waiting: ImagePullBackOff: no such image"
        );
        assert_eq!(
            problem(&pulling).as_deref(),
            Some("pod demo-1: ImagePullBackOff: no such image")
        );
        assert!(not_started(&pulling).is_some());

        let creating = pod(json!({"phase": "Pending",
            "containerStatuses": [{"name": "server", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}));
        assert_eq!(state_words(&creating), "starting (creating the container)");
        assert_eq!(problem(&creating), None);

        let exited = pod(json!({"phase": "Running",
            "containerStatuses": [{"name": "server", "image": "x", "imageID": "", "ready": false,
                "restartCount": 1, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}));
        assert_eq!(
            state_words(&exited),
            "exited (code 1, Error) (restarted 1 times)"
        );

        let unscheduled = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "0/3 nodes have enough cpu"}]}),
        );
        assert_eq!(
            state_words(&unscheduled),
            "pending: cannot be scheduled: 0/3 nodes have enough cpu"
        );
    }

    #[test]
    fn ipv6_pod_ips_are_bracketed() {
        let v6 = pod(json!({"phase": "Running", "podIP": "fd00::5"}));
        assert_eq!(ip_host(&v6).as_deref(), Some("[fd00::5]"));
    }
}
