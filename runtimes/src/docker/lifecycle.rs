//! Carrying out a [`plan::Plan`]: creating, starting and waiting for replicas, and removing
//! the ones that must go.
//!
//! Order inside one `apply`: remove what serves nothing (exited, dead); create the replicas
//! that have nothing alive, together; then replace older versions one replica at a time, each
//! new container ready before the next is made. A replica that cannot become ready stops the
//! roll, so older replicas keep serving while the error is reported.
//!
//! Containers that may still be serving (older versions, scaled-away replicas, duplicates) are
//! drained, not removed in the pass: they get SIGTERM [`DRAIN_DELAY`] after `apply` returns. The
//! reconciler asks for endpoints right after `apply`, and endpoints already prefer the ready
//! current-spec container of each replica, so by the time an old server stops accepting, the
//! proxy routes to its replacement.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::future::join_all;

use super::plan::{self, Plan, Retire};
use super::{DockerRuntime, container, engine_error, image, naming, network, status_code};
use tokio::sync::mpsc;

use crate::{LOG_FOLLOW_BUFFER, LogFollow, RuntimeError, WorkloadSpec};

/// How long a replica being replaced or scaled away gets to finish in-flight requests after
/// SIGTERM before it is killed.
const STOP_GRACE_SECS: i32 = 5;
/// How long a drained container keeps running after `apply` returns (see the module docs).
const DRAIN_DELAY: Duration = Duration::from_secs(2);

impl DockerRuntime {
    /// Converges the workload to `spec` (see the module docs for the order).
    pub(super) async fn converge(&self, spec: &WorkloadSpec) -> Result<(), RuntimeError> {
        let spec_hash = spec.spec_hash();
        self.remember(spec, &spec_hash);
        let containers = self.list_workload(&spec.id).await?;
        let plan = plan::plan(&spec_hash, spec.replicas, &containers);
        let (mut problems, unready) = self.standing_problems(spec, &spec_hash, &containers).await;
        if plan == Plan::default() {
            return into_result(problems);
        }
        tracing::debug!(workload = %spec.id, ?plan, "converging");

        // What serves nothing goes now; what may be serving is drained after the pass.
        let (mut drain, remove_now): (Vec<Retire>, Vec<Retire>) =
            plan.remove.iter().cloned().partition(|r| r.graceful);
        let removals = remove_now
            .iter()
            .map(|r| force_remove(&self.docker, &r.id, &r.name));
        problems.extend(join_all(removals).await.into_iter().filter_map(Result::err));

        let needs_image =
            !plan.create.is_empty() || plan.roll.iter().any(|roll| roll.current.is_none());
        if needs_image
            && let Err(err) = image::ensure(&self.docker, &spec.image, &self.image_registry).await
        {
            self.drain_later(drain);
            return Err(err);
        }

        let launches = plan
            .create
            .iter()
            .map(|&replica| self.launch(spec, replica, &spec_hash));
        problems.extend(join_all(launches).await.into_iter().filter_map(Result::err));

        for roll in &plan.roll {
            let ready = match &roll.current {
                // Failed its wait before and still not ready: already reported above; the older
                // replica keeps serving.
                Some(id) if unready.contains(id) => break,
                Some(id) => {
                    let name = naming::container_name(
                        &self.gateway_id,
                        &spec.id,
                        roll.replica,
                        &spec_hash,
                    );
                    self.wait_ready(spec, roll.replica, id, &name).await
                }
                None => self.launch(spec, roll.replica, &spec_hash).await,
            };
            if let Err(err) = ready {
                problems.push(err);
                break;
            }
            drain.extend(roll.old.iter().cloned());
        }
        self.drain_later(drain);
        into_result(problems)
    }

    /// Creates and starts replica `replica` and waits until it accepts connections.
    async fn launch(
        &self,
        spec: &WorkloadSpec,
        replica: u32,
        spec_hash: &str,
    ) -> Result<(), RuntimeError> {
        let name = naming::container_name(&self.gateway_id, &spec.id, replica, spec_hash);
        let id = match self.create_and_start(spec, replica, &name).await {
            Err(err) if network_trouble(&err) => {
                tracing::warn!(network = %self.network, %err, "repairing the Docker network");
                self.repair_network().await?;
                self.create_and_start(spec, replica, &name).await?
            }
            other => other?,
        };
        tracing::info!(workload = %spec.id, replica, container = %name, "replica started");
        self.wait_ready(spec, replica, &id, &name).await
    }

    /// Creates and starts the container; returns its id. A container that will not start is
    /// removed, so the next pass starts clean.
    async fn create_and_start(
        &self,
        spec: &WorkloadSpec,
        replica: u32,
        name: &str,
    ) -> Result<String, RuntimeError> {
        let id = self.create(spec, replica, name).await?;
        if let Err(err) = self.docker.start_container(&id, None).await
            && status_code(&err) != Some(304)
        {
            let _ = force_remove(&self.docker, &id, name).await;
            return Err(engine_error(&format!("cannot start container {name}"), err));
        }
        Ok(id)
    }

    /// Re-finds the network after it was removed (`docker network prune` once the last
    /// container went) or duplicated (see [`network`]).
    async fn repair_network(&self) -> Result<(), RuntimeError> {
        let id = match network::dedupe(&self.docker, &self.network).await {
            Ok(id) => id,
            Err(RuntimeError::NotFound(_)) => network::ensure(&self.docker, &self.network).await?,
            Err(err) => return Err(err),
        };
        *self.network_id.write().unwrap_or_else(|p| p.into_inner()) = id;
        Ok(())
    }

    /// Creates the container (or adopts ours of the same name left by an interrupted pass);
    /// returns its id.
    async fn create(
        &self,
        spec: &WorkloadSpec,
        replica: u32,
        name: &str,
    ) -> Result<String, RuntimeError> {
        let body = container::container_body(
            spec,
            replica,
            &self.gateway_id,
            &self.network_id(),
            self.reach,
            self.limits,
        );
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(created.id),
            Err(err) if status_code(&err) == Some(409) => self.adopt(name).await,
            Err(err) => match engine_error(&format!("cannot create container {name}"), err) {
                RuntimeError::NotFound(message) if message.contains("No such image") => Err(
                    RuntimeError::Failed(image::missing_image_message(&spec.image)),
                ),
                other => Err(other),
            },
        }
    }

    /// The id of the existing container called `name`, if it is this gateway's.
    async fn adopt(&self, name: &str) -> Result<String, RuntimeError> {
        let found = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(|err| engine_error(&format!("cannot inspect container {name}"), err))?;
        let owner = found
            .config
            .as_ref()
            .and_then(|config| config.labels.as_ref())
            .and_then(|labels| labels.get(naming::LABEL_GATEWAY))
            .cloned();
        match (owner, found.id) {
            (Some(owner), Some(id)) if owner == self.gateway_id => Ok(id),
            _ => Err(RuntimeError::Failed(format!(
                "a container named {name} exists and does not belong to this gateway; remove \
                 it (docker rm -f {name}) so the replica can be created"
            ))),
        }
    }

    /// Stops and removes containers that may still be serving, [`DRAIN_DELAY`] from now, in the
    /// background. A container already draining is not scheduled twice; one whose removal
    /// fails is found again by the next pass.
    fn drain_later(&self, containers: Vec<Retire>) {
        let fresh: Vec<Retire> = {
            let mut draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
            containers
                .into_iter()
                .filter(|r| draining.insert(r.id.clone()))
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        let docker = self.docker.clone();
        let draining = self.draining.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DRAIN_DELAY).await;
            join_all(fresh.iter().map(|r| async {
                if let Err(err) = retire(&docker, r).await {
                    tracing::warn!(container = %r.name, %err, "cannot remove; retrying next pass");
                }
            }))
            .await;
            let mut draining = draining.lock().unwrap_or_else(|p| p.into_inner());
            for r in &fresh {
                draining.remove(&r.id);
            }
        });
    }

    /// The last `tail` lines of a container's stdout (unless `stdout` is false: a stdio
    /// server's stdout is protocol traffic, not a log) and stderr, demultiplexed, as text.
    pub(super) async fn tail_logs(
        &self,
        id: &str,
        tail: u32,
        stdout: bool,
    ) -> Result<String, RuntimeError> {
        let options = LogsOptionsBuilder::default()
            .stdout(stdout)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| engine_error("cannot read the logs", err))?;
            bytes.extend_from_slice(chunk.as_ref());
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The last `tail` lines of a container's output, then its output as it comes, read by a
    /// task of its own that ends with the container's output or when the receiver is dropped.
    pub(super) fn follow_container_logs(&self, id: String, tail: u32, stdout: bool) -> LogFollow {
        let options = LogsOptionsBuilder::default()
            .stdout(stdout)
            .stderr(true)
            .follow(true)
            .tail(&tail.to_string())
            .build();
        let (sender, receiver) = mpsc::channel(LOG_FOLLOW_BUFFER);
        let docker = self.docker.clone();
        tokio::spawn(async move {
            let reader_gone = sender.clone();
            let stream = docker
                .logs(&id, Some(options))
                .take_until(async move { reader_gone.closed().await });
            let mut stream = std::pin::pin!(stream);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map(|output| output.as_ref().to_vec())
                    .map_err(|err| engine_error("cannot read the logs", err));
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        receiver
    }
}

/// Stops a container that may be serving (SIGTERM, then SIGKILL after the grace period), then
/// removes it.
async fn retire(docker: &Docker, retire: &Retire) -> Result<(), RuntimeError> {
    let options = StopContainerOptionsBuilder::default()
        .t(STOP_GRACE_SECS)
        .build();
    if let Err(err) = docker.stop_container(&retire.id, Some(options)).await
        && !matches!(status_code(&err), Some(304 | 404))
    {
        tracing::debug!(container = %retire.name, %err, "stop failed; removing by force");
    }
    force_remove(docker, &retire.id, &retire.name).await?;
    tracing::info!(container = %retire.name, "container removed");
    Ok(())
}

/// Removes a container whatever its state; a missing one (or one already being removed) is
/// fine.
pub(super) async fn force_remove(
    docker: &Docker,
    id: &str,
    name: &str,
) -> Result<(), RuntimeError> {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(err) if matches!(status_code(&err), Some(404 | 409)) => Ok(()),
        Err(err) => Err(engine_error(
            &format!("cannot remove container {name}"),
            err,
        )),
    }
}

/// Whether an engine error comes from a missing or duplicated network.
fn network_trouble(err: &RuntimeError) -> bool {
    let text = err.to_string();
    text.contains("is ambiguous")
        || (matches!(err, RuntimeError::NotFound(_)) && text.contains("network"))
}

/// One error as is; several joined into one message.
fn into_result(mut problems: Vec<RuntimeError>) -> Result<(), RuntimeError> {
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        _ => Err(RuntimeError::Failed(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}
