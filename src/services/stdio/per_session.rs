//! `stdio.sharing = "per-session"`: every client session gets a process of its own, a one-replica
//! workload named `<adapter>-s<8 hex>` that the bridge starts at the session's `initialize`
//! (which goes to that process as the client sent it), removes at DELETE or after
//! `idleTimeoutSeconds` without a request, and of which at most `maxSessions` run at once (then
//! 503 + `Retry-After`; warm replicas, `stdio.warm`, count too and are handed to new sessions
//! first). Stateless (2026-07-28) clients get one process per authenticated user.
//! The reconciler is told to leave these workloads alone ([`Observed::hold`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use mcp_gateway_runtimes::{Runtime, WorkloadId, WorkloadKind};
use serde_json::Value;

use super::upstream::Link;
use super::{StdioBridge, lock, wire};
use crate::domain::model::{Resource, ResourceKind};
use crate::infra::auth::Caller;
use crate::infra::reconciler::{Observed, workload_spec};
use crate::infra::store::Store;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};
use crate::services::edge::session::nonce;

/// How often idle sessions are looked for.
const REAP_EVERY: Duration = Duration::from_secs(1);
/// How far ahead a starting replica's "last used" is put (see `start_process`).
const STARTING: Duration = Duration::from_secs(3600);
/// How long a new session waits for a warm replica that is being started.
const WARM_WAIT: Duration = Duration::from_secs(60);

/// The per-session workloads running now: workload → (adapter, last request).
pub(super) type Live = Arc<Mutex<HashMap<WorkloadId, (String, Instant)>>>;

/// Warm replicas by adapter: started, not yet anyone's.
pub(super) type Warm = Arc<Mutex<HashMap<String, Pool>>>;

#[derive(Default)]
pub(super) struct Pool {
    /// Session numbers of running warm replicas.
    ready: Vec<u32>,
    /// Warm replicas being started.
    starting: usize,
}

/// What the background task (idle reaping, warm filling) works with.
pub(super) struct Reaper {
    pub live: Live,
    pub warm: Warm,
    pub store: Arc<Store>,
    pub runtime: Arc<dyn Runtime>,
    pub observed: Arc<Observed>,
    pub image_registry: String,
}

/// A fresh session number.
fn fresh_number() -> u32 {
    let random = nonce();
    u32::from_be_bytes([random[0], random[1], random[2], random[3]])
}

/// The workload of session `n` of `adapter`.
fn workload(adapter: &str, n: u32) -> WorkloadId {
    WorkloadId::new(WorkloadKind::Adapter, format!("{adapter}-s{n:08x}"))
}

impl StdioBridge {
    /// A 2025 client's `initialize` on a per-session adapter: a new process, initialized by the
    /// client's own request, and a session token naming it.
    pub(super) async fn start_session(
        &self,
        adapter: &Resource,
        caller: &Caller,
        message: &Value,
    ) -> Response {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        // A warm replica when one is ready (it becomes this session's), or soon ready (waiting
        // for it beats starting another); else a new one.
        let waiting = Instant::now();
        let warm = loop {
            let (ready, starting) = match lock(&self.warm).get_mut(adapter.name()) {
                Some(pool) => (pool.ready.pop(), pool.starting),
                None => (None, 0),
            };
            if ready.is_some() || starting == 0 || waiting.elapsed() > WARM_WAIT {
                break ready;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if let Some(n) = warm {
            lock(&self.live).insert(
                workload(adapter.name(), n),
                (adapter.name().to_string(), Instant::now() + STARTING),
            );
        }
        let n = warm.unwrap_or_else(fresh_number);
        let params = message.get("params").cloned();
        let link = match self.session_process(adapter, n, true, params).await {
            Ok(link) => link,
            Err(refused) => return refused,
        };
        let Some(token) = self
            .sessions
            .mint(adapter.name(), &caller.user_id, n, &link.generation)
        else {
            self.end_session(adapter, n);
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "your user id is too long to carry in a session token",
                Some(id),
            );
        };
        let mut response = super::json_response(&wire::result(id, link.init.clone()));
        if let Ok(value) = HeaderValue::from_str(&token) {
            response.headers_mut().insert("mcp-session-id", value);
        }
        response
    }

    /// The process of a session's later requests; an error when it is gone (then 404).
    pub(super) async fn session_link(
        &self,
        adapter: &Resource,
        n: u32,
    ) -> Result<Arc<Link>, String> {
        self.session_process(adapter, n, false, None)
            .await
            .map_err(|_| "the session's process is gone".to_string())
    }

    /// A stateless client's process: one per authenticated user, made on first use.
    pub(super) async fn user_link(
        &self,
        adapter: &Resource,
        caller: &Caller,
    ) -> Result<Arc<Link>, Response> {
        let n = caller.user_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        self.session_process(adapter, n, true, None).await
    }

    /// Ends session `n`: its workload goes.
    pub(super) fn end_session(&self, adapter: &Resource, n: u32) {
        let id = workload(adapter.name(), n);
        lock(&self.live).remove(&id);
        lock(&self.slots).remove(&(id.name.clone(), 0));
        let (runtime, observed) = (self.runtime.clone(), self.observed.clone());
        tokio::spawn(async move { remove(&*runtime, &observed, &id).await });
    }

    /// Session `n`'s process: the running one, or (with `create`) a new one, within
    /// `maxSessions`.
    async fn session_process(
        &self,
        adapter: &Resource,
        n: u32,
        create: bool,
        client_init: Option<Value>,
    ) -> Result<Arc<Link>, Response> {
        let id = workload(adapter.name(), n);
        let running = {
            let mut live = lock(&self.live);
            match live.get_mut(&id) {
                Some(entry) => {
                    entry.1 = Instant::now();
                    true
                }
                None => false,
            }
        };
        if !running {
            if !create {
                return Err(super::session_error(adapter, super::SessionError::Gone));
            }
            self.start_process(adapter, &id).await?;
        }
        let link = self.link_to(&id, 0, client_init).await.map_err(|err| {
            if !running {
                // Started for this request and unusable: it goes, and stops counting.
                lock(&self.live).remove(&id);
                let (runtime, observed, id) =
                    (self.runtime.clone(), self.observed.clone(), id.clone());
                tokio::spawn(async move { remove(&*runtime, &observed, &id).await });
            }
            jsonrpc_error(
                StatusCode::BAD_GATEWAY,
                code::UPSTREAM,
                &format!("cannot reach the session's stdio server: {err}"),
                None,
            )
        })?;
        // Idle from now: starting and initializing a process is not idleness.
        if let Some(entry) = lock(&self.live).get_mut(&id) {
            entry.1 = Instant::now();
        }
        Ok(link)
    }

    /// Starts a one-replica workload for a session, counting it against `maxSessions`.
    async fn start_process(&self, adapter: &Resource, id: &WorkloadId) -> Result<(), Response> {
        let max = adapter
            .spec
            .stdio
            .as_ref()
            .map_or(1, |stdio| stdio.max_sessions()) as usize;
        {
            let mut live = lock(&self.live);
            let warm = lock(&self.warm)
                .get(adapter.name())
                .map_or(0, |pool| pool.ready.len() + pool.starting);
            let mine = live
                .values()
                .filter(|(name, _)| name == adapter.name())
                .count()
                + warm;
            if mine >= max {
                drop(live);
                let mut refused = jsonrpc_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::UNAVAILABLE,
                    &format!(
                        "adapter \"{}\" runs its maximum of {max} sessions (stdio.maxSessions); \
                         try again when one ends",
                        adapter.name()
                    ),
                    None,
                );
                refused
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return Err(refused);
            }
            // Counted from now, so concurrent starts cannot pass the maximum; last used "in the
            // future" while it starts, so the idle reaper cannot take it (a start can outlast a
            // short idle timeout on a busy machine).
            live.insert(
                id.clone(),
                (adapter.name().to_string(), Instant::now() + STARTING),
            );
        }
        self.observed.hold(id);
        let Some(mut spec) = workload_spec(adapter, &self.image_registry) else {
            return Err(self.start_failed(id, "the adapter has no image"));
        };
        spec.id = id.clone();
        spec.replicas = 1;
        if let Err(err) = self.runtime.apply(&spec).await {
            let _ = self.runtime.remove(id).await;
            return Err(self.start_failed(id, &err.to_string()));
        }
        Ok(())
    }

    fn start_failed(&self, id: &WorkloadId, why: &str) -> Response {
        lock(&self.live).remove(id);
        self.observed.release(id);
        jsonrpc_error(
            StatusCode::BAD_GATEWAY,
            code::UPSTREAM,
            &format!("cannot start a process for the session: {why}"),
            None,
        )
    }
}

/// Every [`REAP_EVERY`]: removes session workloads idle past their adapter's
/// `idleTimeoutSeconds` (or whose adapter is gone), and tops up each per-session adapter's
/// warm replicas (`stdio.warm`, within `maxSessions`).
pub(super) fn spawn_reaper(reaper: Reaper) {
    let reaper = Arc::new(reaper);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(REAP_EVERY).await;
            reaper.reap_idle().await;
            reaper.fill_warm();
        }
    });
}

impl Reaper {
    async fn reap_idle(&self) {
        let idle: Vec<WorkloadId> = {
            let mut live = lock(&self.live);
            let expired: Vec<WorkloadId> = live
                .iter()
                .filter(|(_, (adapter, last))| {
                    let timeout = self
                        .store
                        .get(ResourceKind::Adapter, adapter)
                        .and_then(|a| a.spec.stdio.clone())
                        .map(|stdio| u64::from(stdio.idle_timeout_seconds()));
                    timeout.is_none_or(|secs| last.elapsed() > Duration::from_secs(secs))
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                live.remove(id);
            }
            expired
        };
        // Warm replicas of adapters that are gone (or no longer per-session) go too.
        let stale: Vec<WorkloadId> = {
            let mut warm = lock(&self.warm);
            let gone: Vec<String> = warm
                .keys()
                .filter(|name| {
                    self.store
                        .get(ResourceKind::Adapter, name)
                        .is_none_or(|a| !super::per_session(&a))
                })
                .cloned()
                .collect();
            gone.iter()
                .filter_map(|name| warm.remove(name).map(|pool| (name.clone(), pool)))
                .flat_map(|(name, pool)| {
                    pool.ready
                        .into_iter()
                        .map(move |n| workload(&name, n))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        for id in idle.into_iter().chain(stale) {
            tracing::info!(workload = %id, "removing an idle per-session stdio replica");
            remove(&*self.runtime, &self.observed, &id).await;
        }
    }

    fn fill_warm(self: &Arc<Self>) {
        for adapter in self.store.list(ResourceKind::Adapter) {
            if !super::per_session(&adapter) {
                continue;
            }
            let Some(stdio) = adapter.spec.stdio.as_ref() else {
                continue;
            };
            let (want, max) = (stdio.warm() as usize, stdio.max_sessions() as usize);
            let live = lock(&self.live)
                .values()
                .filter(|(name, _)| name == adapter.name())
                .count();
            let mut warm = lock(&self.warm);
            let pool = warm.entry(adapter.name().to_string()).or_default();
            let have = pool.ready.len() + pool.starting;
            if have >= want || live + have >= max {
                continue;
            }
            pool.starting += 1;
            drop(warm);
            let reaper = self.clone();
            tokio::spawn(async move { reaper.start_warm(&adapter).await });
        }
    }

    async fn start_warm(&self, adapter: &Resource) {
        let n = fresh_number();
        let id = workload(adapter.name(), n);
        self.observed.hold(&id);
        let started = match workload_spec(adapter, &self.image_registry) {
            Some(mut spec) => {
                spec.id = id.clone();
                spec.replicas = 1;
                self.runtime
                    .apply(&spec)
                    .await
                    .map_err(|err| err.to_string())
            }
            None => Err("the adapter has no image".to_string()),
        };
        let failed = {
            let mut warm = lock(&self.warm);
            let pool = warm.entry(adapter.name().to_string()).or_default();
            pool.starting = pool.starting.saturating_sub(1);
            match started {
                Ok(()) => {
                    pool.ready.push(n);
                    None
                }
                Err(err) => Some(err),
            }
        };
        if let Some(err) = failed {
            tracing::warn!(workload = %id, %err, "cannot start a warm replica");
            remove(&*self.runtime, &self.observed, &id).await;
        }
    }
}

async fn remove(runtime: &dyn Runtime, observed: &Observed, id: &WorkloadId) {
    if let Err(err) = runtime.remove(id).await {
        tracing::warn!(workload = %id, %err, "cannot remove a per-session replica; the reconciler will");
    }
    observed.release(id);
}
