//! Keeps the runtime in step with the store.
//!
//! The API only writes the store and returns; this module drives the runtime. One worker task per
//! image-based resource applies its spec (again on every interval, so dead replicas come back and
//! drift is undone) and refreshes its endpoints; the main loop starts and stops workers as the store
//! changes and reaps workloads no resource owns (after the gateway was down, say). Deploy progress
//! and errors are kept in memory, in words, for the status endpoint.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mcp_gateway_runtimes::{Endpoint, Runtime, WorkloadId, WorkloadKind, WorkloadSpec};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::domain::counters::{RuntimeMetrics, RuntimeOp};
use crate::domain::model::Resource;
use crate::infra::store::Store;

/// What the reconciler last did for one workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeployState {
    /// Stored; the runtime has not been asked yet.
    Pending,
    /// The runtime is converging the workload to this spec.
    Applying,
    /// The last apply succeeded.
    Applied,
    /// The last apply failed; the words say why.
    Failed(String),
}

struct Worker {
    spec: watch::Sender<WorkloadSpec>,
    task: JoinHandle<()>,
}

/// Shared view of the reconciler's progress and of every workload's endpoints.
///
/// The proxy and the router read endpoints here on every request, so lookups take a `&str` and
/// allocate nothing (one map per kind).
#[derive(Default)]
pub struct Observed {
    states: RwLock<HashMap<WorkloadId, DeployState>>,
    endpoints: RwLock<[HashMap<String, Arc<Vec<Endpoint>>>; 2]>,
    wake: Notify,
    /// Workloads made by a service, not the store (a stdio adapter's per-session replicas): the
    /// reconciler leaves them alone instead of reaping them as orphans.
    held: RwLock<std::collections::HashSet<WorkloadId>>,
    /// The reconciler's calls to the runtime, for `/metrics`.
    pub runtime: RuntimeMetrics,
}

fn slot(kind: WorkloadKind) -> usize {
    match kind {
        WorkloadKind::Adapter => 0,
        WorkloadKind::Tool => 1,
    }
}

impl Observed {
    pub fn state(&self, id: &WorkloadId) -> Option<DeployState> {
        self.states
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Every workload the reconciler works on, with what it last did.
    pub fn states(&self) -> Vec<(WorkloadId, DeployState)> {
        self.states
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, state)| (id.clone(), state.clone()))
            .collect()
    }

    fn set_state(&self, id: &WorkloadId, state: DeployState) {
        self.states
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), state);
    }

    /// The last known endpoints of a workload (empty if none yet).
    pub fn endpoints(&self, kind: WorkloadKind, name: &str) -> Option<Arc<Vec<Endpoint>>> {
        self.endpoints.read().unwrap_or_else(|p| p.into_inner())[slot(kind)]
            .get(name)
            .cloned()
    }

    fn set_endpoints(&self, id: &WorkloadId, endpoints: Vec<Endpoint>) {
        let mut maps = self.endpoints.write().unwrap_or_else(|p| p.into_inner());
        let map = &mut maps[slot(id.kind)];
        match map.get(&id.name) {
            Some(current) if **current == endpoints => {}
            _ => {
                map.insert(id.name.clone(), Arc::new(endpoints));
            }
        }
    }

    /// Keeps the reconciler's hands off a workload a service runs itself (until released).
    pub fn hold(&self, id: &WorkloadId) {
        self.held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone());
    }

    pub fn release(&self, id: &WorkloadId) {
        self.held
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    fn is_held(&self, id: &WorkloadId) -> bool {
        self.held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// Asks for a reconcile pass now (the proxy calls this when a replica stops answering).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn forget(&self, id: &WorkloadId) {
        self.states
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.endpoints.write().unwrap_or_else(|p| p.into_inner())[slot(id.kind)].remove(&id.name);
    }
}

/// The desired workload for a stored resource, if the runtime deploys it.
pub fn workload_spec(resource: &Resource, image_registry: &str) -> Option<WorkloadSpec> {
    let image = resource.spec.image_reference(image_registry)?;
    // A per-session stdio adapter's replicas are made one per session by the stdio bridge.
    let per_session = resource
        .spec
        .stdio
        .as_ref()
        .is_some_and(|stdio| stdio.sharing == crate::domain::model::Sharing::PerSession);
    Some(WorkloadSpec {
        id: resource.workload_id(),
        image,
        env: resource.spec.environment_variables.clone(),
        replicas: if per_session {
            0
        } else {
            resource.spec.replica_count
        },
        port: resource.spec.container_port(),
        use_workload_identity: resource.spec.use_workload_identity,
        command: resource.spec.command.clone(),
        args: resource.spec.args.clone(),
        stdio: resource.spec.is_stdio(),
    })
}

/// Runs the reconcile loop until the task is dropped.
pub async fn run(
    store: Arc<Store>,
    runtime: Arc<dyn Runtime>,
    observed: Arc<Observed>,
    image_registry: String,
    interval: Duration,
) {
    let mut changes = store.subscribe();
    let mut workers: HashMap<WorkloadId, Worker> = HashMap::new();
    // Wakes the workers that are between applies (see the wake below).
    let rewake = Arc::new(tokio::sync::Notify::new());
    loop {
        let desired: HashMap<WorkloadId, WorkloadSpec> = if runtime.deploys_images() {
            store
                .all()
                .iter()
                .filter_map(|r| workload_spec(r, &image_registry))
                .map(|spec| (spec.id.clone(), spec))
                .collect()
        } else {
            HashMap::new()
        };

        // Stop workers of resources that are gone, then remove their workloads.
        let gone: Vec<WorkloadId> = workers
            .keys()
            .filter(|id| !desired.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(worker) = workers.remove(&id) {
                worker.task.abort();
                let _ = worker.task.await;
            }
            match timed(&observed, RuntimeOp::Remove, runtime.remove(&id)).await {
                Ok(()) => tracing::info!(workload = %id, "removed"),
                Err(err) => {
                    tracing::warn!(workload = %id, %err, "remove failed; retrying next pass")
                }
            }
            observed.forget(&id);
        }

        // Start or update workers for what should run.
        for (id, spec) in &desired {
            match workers.get(id) {
                Some(worker) if !worker.task.is_finished() => {
                    worker.spec.send_if_modified(|current| {
                        if current != spec {
                            *current = spec.clone();
                            true
                        } else {
                            false
                        }
                    });
                }
                _ => {
                    observed.set_state(id, DeployState::Pending);
                    let (tx, rx) = watch::channel(spec.clone());
                    let task = tokio::spawn(work(
                        runtime.clone(),
                        observed.clone(),
                        rx,
                        rewake.clone(),
                        interval,
                    ));
                    workers.insert(id.clone(), Worker { spec: tx, task });
                }
            }
        }

        // Reap workloads that no resource owns (deleted while the gateway was down).
        if runtime.deploys_images() {
            match timed(&observed, RuntimeOp::ListManaged, runtime.list_managed()).await {
                Ok(managed) => {
                    for workload in managed {
                        if !desired.contains_key(&workload.id) && !observed.is_held(&workload.id) {
                            match timed(&observed, RuntimeOp::Remove, runtime.remove(&workload.id))
                                .await
                            {
                                Ok(()) => tracing::info!(workload = %workload.id, "removed orphan"),
                                Err(err) => {
                                    tracing::warn!(workload = %workload.id, %err, "cannot remove orphan")
                                }
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(%err, "cannot list managed workloads"),
            }
        }

        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = observed.wake.notified() => {
                // Workers refresh on their own interval; a wake re-applies now every workload
                // not being applied already. It must not cancel an apply in progress: the data
                // plane wakes the reconciler on every refused connection, and a replica that is
                // still starting refuses them (federation lists each adapter as soon as it
                // exists), so applies would be cancelled over and over, leaving half-made
                // containers behind.
                rewake.notify_waiters();
            }
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Runs one runtime call, counting and timing it for `/metrics` when it finishes (a call
/// dropped unfinished, like an apply cancelled by a spec change, is not counted).
async fn timed<T, E>(
    observed: &Observed,
    op: RuntimeOp,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = call.await;
    observed.runtime.record(op, &result, started.elapsed());
    result
}

/// How often a worker refreshes endpoints between applies, so a replica that died stops
/// receiving new sessions within seconds even with a long reconcile interval.
const ENDPOINT_REFRESH: Duration = Duration::from_secs(2);

/// One workload's worker: apply, then refresh endpoints until the interval passes or the spec
/// changes, or a wake (a replica failed) asks for an apply now. A spec change also cancels an apply in progress (a broken spec can take the whole
/// ready timeout to fail; a PUT that fixes it must not wait for that). Runtimes tolerate a
/// cancelled apply: the next pass converges whatever it left.
async fn work(
    runtime: Arc<dyn Runtime>,
    observed: Arc<Observed>,
    mut spec: watch::Receiver<WorkloadSpec>,
    rewake: Arc<tokio::sync::Notify>,
    interval: Duration,
) {
    loop {
        let current = spec.borrow_and_update().clone();
        let id = current.id.clone();
        if !matches!(observed.state(&id), Some(DeployState::Applied)) {
            observed.set_state(&id, DeployState::Applying);
        }
        tokio::select! {
            applied = timed(&observed, RuntimeOp::Apply, runtime.apply(&current)) => match applied {
                Ok(()) => observed.set_state(&id, DeployState::Applied),
                Err(err) => {
                    tracing::warn!(workload = %id, %err, "apply failed");
                    observed.set_state(&id, DeployState::Failed(err.to_string()));
                }
            },
            changed = spec.changed() => {
                if changed.is_err() {
                    return;
                }
                tracing::info!(workload = %id, "spec changed during apply; starting over");
                continue;
            }
        }
        let next_apply = tokio::time::Instant::now() + interval;
        loop {
            match timed(&observed, RuntimeOp::Endpoints, runtime.endpoints(&id)).await {
                Ok(endpoints) => observed.set_endpoints(&id, endpoints),
                Err(err) => tracing::debug!(workload = %id, %err, "no endpoints"),
            }
            let now = tokio::time::Instant::now();
            if now >= next_apply {
                break;
            }
            let wake = next_apply.min(now + ENDPOINT_REFRESH);
            tokio::select! {
                changed = spec.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                // Woken (a replica failed): apply now instead of at the interval.
                () = rewake.notified() => break,
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}
