//! A stdio replica's stdin and stdout, through the engine's attach API (never `docker attach`).
//!
//! Replicas of stdio workloads are created with stdin open and not closed after one attach
//! (see `container`), so the gateway may detach and attach again, after its own restart too.
//! stderr is not attached: it stays in the container's logs, which is where `logs` reads it.

use bollard::container::LogOutput;
use bollard::query_parameters::AttachContainerOptionsBuilder;
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use super::observe::{self, ReplicaContainer};
use super::{DockerRuntime, engine_error, plan};
use crate::{Attachment, RuntimeError, WorkloadId};

/// Bytes of stdout held between the engine and a reader that is behind.
const PIPE_BYTES: usize = 256 * 1024;

impl DockerRuntime {
    /// The running container that stands for replica `instance`.
    async fn running_replica(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<ReplicaContainer, RuntimeError> {
        let containers = self.list_workload(id).await?;
        let (spec_hash, _, _) = self.current(id, &containers);
        let running = |c: &ReplicaContainer| c.is_running();
        let found = plan::representative(&containers, instance, &spec_hash, &running);
        match found {
            Some(container) if container.is_running() => Ok(container.clone()),
            Some(container) => Err(RuntimeError::NotFound(format!(
                "replica {instance} of {id} is not running ({}: {}); see its status and logs",
                container.name,
                observe::state_words(container, false)
            ))),
            None => Err(RuntimeError::NotFound(format!(
                "replica {instance} of {id} has no container (it may not be created yet; see \
                 its status)"
            ))),
        }
    }

    /// Attaches to the replica's stdin and stdout (stdout demultiplexed from the engine's
    /// frames). The stdout stream ends when the process exits.
    pub(super) async fn attach_replica(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<Attachment, RuntimeError> {
        let container = self.running_replica(id, instance).await?;
        if !container.stdio {
            return Err(RuntimeError::Unsupported(format!(
                "replica {instance} of {id} serves HTTP on a port; only stdio replicas are \
                 attached"
            )));
        }
        let options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdin(true)
            .stdout(true)
            .stderr(false)
            .logs(false)
            .build();
        let attached = self
            .docker
            .attach_container(&container.id, Some(options))
            .await
            .map_err(|err| {
                engine_error(&format!("cannot attach to replica {instance} of {id}"), err)
            })?;
        // The engine's frames become a plain byte stream through an in-memory pipe, fed by a
        // task that ends when the process's output ends or the reader is dropped.
        let (mut writer, reader) = tokio::io::duplex(PIPE_BYTES);
        let mut output = attached.output;
        let who = format!("replica {instance} of {id}");
        tokio::spawn(async move {
            while let Some(frame) = output.next().await {
                let bytes = match frame {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => message,
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::debug!(replica = %who, %err, "attach stream ended");
                        break;
                    }
                };
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        Ok(Attachment {
            stdin: attached.input,
            stdout: Box::pin(reader),
        })
    }

    /// `<container id>@<start time>`: changes when the replica's process is started again.
    pub(super) async fn started(
        &self,
        id: &WorkloadId,
        instance: u32,
    ) -> Result<String, RuntimeError> {
        let container = self.running_replica(id, instance).await?;
        let inspect = self
            .docker
            .inspect_container(&container.id, None)
            .await
            .map_err(|err| {
                engine_error(&format!("cannot inspect replica {instance} of {id}"), err)
            })?;
        let started = inspect
            .state
            .and_then(|state| state.started_at)
            .unwrap_or_default();
        Ok(format!("{}@{started}", container.id))
    }
}
