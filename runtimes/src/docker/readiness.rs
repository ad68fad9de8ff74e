//! Readiness: waiting for a new replica to accept connections, and remembering why one did
//! not, so later passes report it at once instead of waiting again.
//!
//! A replica is ready when it runs and a TCP connection to its endpoint stays open (see
//! `observe::probe`). The wait fails early, with the server's last output, when the process
//! exits, since waiting longer would only watch Docker's restart back-off.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bollard::models::{ContainerStateStatusEnum, ContainerSummaryStateEnum};
use futures_util::future::join_all;

use super::{DockerRuntime, engine_error, observe};
use crate::{RuntimeError, WorkloadSpec};

const ERROR_LOG_LINES: u32 = 8;
/// First and longest pause between readiness checks: most servers are up within tens of
/// milliseconds, so start quick and back off.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

impl DockerRuntime {
    /// Problems with current replicas that the plan leaves alone: replicas that failed their
    /// readiness wait in an earlier pass and still do not accept connections (reported again
    /// at once rather than waited for again, so status keeps saying why), and replicas Docker
    /// is restarting after a crash. Also returns the ids of the former.
    pub(super) async fn standing_problems(
        &self,
        spec: &WorkloadSpec,
        spec_hash: &str,
        containers: &[observe::ReplicaContainer],
    ) -> (Vec<RuntimeError>, HashSet<String>) {
        let remembered = {
            let mut unready = self.unready.lock().unwrap_or_else(|p| p.into_inner());
            let failures = unready.entry(spec.id.clone()).or_default();
            failures.retain(|id, _| containers.iter().any(|c| c.id == *id));
            failures.clone()
        };
        let current = containers.iter().filter(|c| {
            c.spec_hash == spec_hash && c.replica.is_some_and(|r| r < spec.replicas) && c.is_alive()
        });
        let checks = current.map(|c| async {
            if let Some(failure) = remembered.get(&c.id) {
                if c.probe(self.reach).await {
                    self.record_readiness(spec, &c.id, None);
                    None
                } else {
                    Some((Some(c.id.clone()), RuntimeError::Failed(failure.clone())))
                }
            } else if c.state == ContainerSummaryStateEnum::RESTARTING {
                Some((
                    None,
                    RuntimeError::Failed(format!(
                        "replica {} of {} ({}) keeps exiting and Docker is restarting it ({}); see \
                     its logs",
                        c.replica.unwrap_or_default(),
                        spec.id,
                        c.name,
                        c.status_text
                    )),
                ))
            } else {
                None
            }
        });
        let mut unready = HashSet::new();
        let mut problems = Vec::new();
        for (id, problem) in join_all(checks).await.into_iter().flatten() {
            unready.extend(id);
            problems.push(problem);
        }
        (problems, unready)
    }

    /// Remembers (`Some`) or forgets (`None`) why a container failed its readiness wait.
    fn record_readiness(&self, spec: &WorkloadSpec, container_id: &str, failure: Option<String>) {
        let mut unready = self.unready.lock().unwrap_or_else(|p| p.into_inner());
        let failures = unready.entry(spec.id.clone()).or_default();
        match failure {
            Some(failure) => {
                failures.insert(container_id.to_string(), failure);
            }
            None => {
                failures.remove(container_id);
            }
        }
    }

    /// Waits until the container accepts connections, failing early if its process exits; the
    /// outcome is remembered for [`Self::standing_problems`].
    pub(super) async fn wait_ready(
        &self,
        spec: &WorkloadSpec,
        replica: u32,
        id: &str,
        name: &str,
    ) -> Result<(), RuntimeError> {
        let outcome = self.wait_ready_once(spec, replica, id, name).await;
        let failure = outcome.as_ref().err().map(ToString::to_string);
        self.record_readiness(spec, id, failure);
        outcome
    }

    async fn wait_ready_once(
        &self,
        spec: &WorkloadSpec,
        replica: u32,
        id: &str,
        name: &str,
    ) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + self.ready_timeout;
        let mut pause = FIRST_PAUSE;
        let mut state_words = String::from("not started");
        let who = format!("replica {replica} of {} ({name})", spec.id);
        loop {
            let inspect = self
                .docker
                .inspect_container(id, None)
                .await
                .map_err(|err| engine_error(&format!("cannot inspect {who}"), err))?;
            let state = inspect.state.clone().unwrap_or_default();
            if state.status == Some(ContainerStateStatusEnum::RUNNING) {
                state_words = "running".into();
                if spec.stdio {
                    // Reached by attach: running is all a stdio server can show.
                    tracing::info!(workload = %spec.id, replica, "stdio replica running");
                    return Ok(());
                }
                let address =
                    observe::inspected_address(&inspect, self.reach, &self.network_id(), spec.port);
                if let Some(address) = address
                    && observe::probe(address, self.reach).await
                {
                    tracing::info!(workload = %spec.id, replica, %address, "replica ready");
                    return Ok(());
                }
            }
            // Not ready, and its process has exited at least once: waiting longer only watches
            // Docker's restart back-off, so report it now with the server's own words.
            let exited = state.restarting == Some(true)
                || inspect.restart_count.unwrap_or(0) > 0
                || matches!(
                    state.status,
                    Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
                );
            if exited {
                let code = state
                    .exit_code
                    .map(|code| format!(" (code {code}{})", oom_words(state.oom_killed)))
                    .unwrap_or_default();
                return Err(RuntimeError::Failed(format!(
                    "{who} exited{code} before accepting connections on port {}{}",
                    spec.port,
                    self.last_words(id).await
                )));
            }
            if Instant::now() >= deadline {
                return Err(RuntimeError::Failed(format!(
                    "{who} is {state_words} but did not accept connections on port {} within \
                     {} s (runtime.docker.ready_timeout_secs); check that the server listens on \
                     0.0.0.0:{} inside the container (the resource's port){}",
                    spec.port,
                    self.ready_timeout.as_secs(),
                    spec.port,
                    self.last_words(id).await
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    /// `; its last output: ...` from the container's logs, or nothing.
    async fn last_words(&self, id: &str) -> String {
        match self.tail_logs(id, ERROR_LOG_LINES, true).await {
            Ok(text) if !text.trim().is_empty() => {
                let text = text.trim();
                let start = text
                    .char_indices()
                    .rev()
                    .nth(1500)
                    .map_or(0, |(index, _)| index);
                format!("; its last output: {}", &text[start..])
            }
            _ => "; it wrote no output".into(),
        }
    }
}

fn oom_words(oom_killed: Option<bool>) -> &'static str {
    if oom_killed == Some(true) {
        ", out of memory: raise runtime.docker.memory"
    } else {
        ""
    }
}
