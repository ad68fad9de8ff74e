//! Federation: `/mcp` also serves the tools and prompts of every adapter, as an MCP client of
//! each one through the data plane ([`AdapterPort`]), so every adapter kind works the same way
//! (replicas, `url` servers behind the upstream address policy, stdio bridges).
//!
//! - [`lister`]: one background task per federated adapter keeps its lists in a [`Catalog`],
//!   published on a watch channel; `tools/list` reads the router's table, which is rebuilt from
//!   it, so a listing never waits on an upstream, and a slow or dead one only drops out.
//! - [`relay`]: `tools/call` and `prompts/get` on a federated name, in the upstream's era, with
//!   progress and cancellation relayed; [`sessions`]: the upstream sessions calls use.
//! - [`wire`] and [`sse`]: MCP requests and answers on the wire, in either era.
//!
//! Names (`{adapter}_{name}`, shortened by a fixed rule) are
//! [`crate::domain::federation`]'s; permissions are the adapter's (read on it).

pub mod lister;
pub mod relay;
pub mod sessions;
pub mod sse;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{Prompt, Tool};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::domain::model::{Resource, ResourceKind, ResourceSpec};
use crate::infra::auth::Caller;
use crate::infra::store::Store;
use crate::services::edge::AdapterPort;
use sessions::{ClientKey, Sessions};
use wire::{Era, Wire};

/// The user id the gateway lists adapters as (`X-Mcp-UserId` upstream).
pub const LISTER_USER: &str = "mcp-gateway";
/// The peer address of the gateway's own requests (for `Forwarded`).
pub const LOCAL_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The identity listings are made with: it may read every adapter.
pub fn lister_caller() -> Caller {
    Caller {
        user_id: LISTER_USER.into(),
        roles: Vec::new(),
        is_admin: true,
    }
}

/// Timings of federation (`[router]` in config.toml).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Relist at least this often (the only refresh for upstreams without `listChanged`).
    pub ttl: Duration,
    /// One listing or handshake request.
    pub timeout: Duration,
    /// One relayed call.
    pub call_timeout: Duration,
}

/// One adapter's lists, as it last answered them.
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    pub era: Era,
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
}

/// Every adapter that answered its listing, by name. Tagged with a version that moves with
/// every change.
#[derive(Default)]
pub struct Catalog {
    pub version: u64,
    pub adapters: BTreeMap<String, Arc<Listing>>,
}

/// A lister task and what it was started for.
struct Running {
    /// The spec fields that decide how the adapter is reached.
    reach: String,
    task: JoinHandle<()>,
    poke: Arc<Notify>,
}

/// What the listers, the relay and the router share.
pub struct Shared {
    port: Arc<dyn AdapterPort>,
    settings: Settings,
    catalog: watch::Sender<Arc<Catalog>>,
    running: Mutex<HashMap<String, Running>>,
    sessions: Sessions,
    ids: AtomicU64,
}

impl Shared {
    fn next_id(&self) -> Value {
        Value::from(self.ids.fetch_add(1, Ordering::Relaxed))
    }

    /// Publishes `name`'s listing (`None`: withdrawn). Followers wake only on a real change.
    fn publish(&self, name: &str, listing: Option<Listing>) {
        self.catalog.send_if_modified(|catalog| {
            let current = catalog.adapters.get(name);
            let same = match (&listing, current) {
                (None, None) => true,
                (Some(new), Some(old)) => **old == *new,
                _ => false,
            };
            if same {
                return false;
            }
            let mut adapters = catalog.adapters.clone();
            match listing {
                Some(listing) => adapters.insert(name.to_string(), Arc::new(listing)),
                None => adapters.remove(name),
            };
            *catalog = Arc::new(Catalog {
                version: catalog.version + 1,
                adapters,
            });
            true
        });
    }

    /// Asks `name`'s lister to list again now.
    fn poke(&self, name: &str) {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = running.get(name) {
            running.poke.notify_one();
        }
    }
}

/// The federation: cheap to clone.
#[derive(Clone)]
pub struct Federation {
    shared: Arc<Shared>,
}

impl Federation {
    pub fn new(port: Arc<dyn AdapterPort>, settings: Settings) -> Self {
        let (catalog, _) = watch::channel(Arc::new(Catalog::default()));
        Self {
            shared: Arc::new(Shared {
                port,
                settings,
                catalog,
                running: Mutex::new(HashMap::new()),
                sessions: Sessions::default(),
                ids: AtomicU64::new(1),
            }),
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Catalog>> {
        self.shared.catalog.subscribe()
    }

    /// Starts, restarts and stops listers to match the store's adapters. Call at start and on
    /// every store change (cheap when nothing relevant changed).
    pub fn sync(&self, store: &Store) {
        let wanted: Vec<Arc<Resource>> = store
            .list(ResourceKind::Adapter)
            .into_iter()
            .filter(|adapter| adapter.spec.federates())
            .collect();
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut gone: Vec<String> = running
            .keys()
            .filter(|name| !wanted.iter().any(|a| a.name() == name.as_str()))
            .cloned()
            .collect();
        for adapter in &wanted {
            // A changed way to reach it: list it afresh (its sessions are with the old one).
            if running
                .get(adapter.name())
                .is_some_and(|r| r.reach != reach(&adapter.spec))
            {
                gone.push(adapter.name().to_string());
            }
        }
        for name in &gone {
            if let Some(old) = running.remove(name) {
                old.task.abort();
            }
            self.shared.sessions.forget_adapter(name);
            self.shared.publish(name, None);
        }
        for adapter in wanted {
            if running.contains_key(adapter.name()) {
                continue;
            }
            let poke = Arc::new(Notify::new());
            let task = tokio::spawn(lister::keep_listed(
                self.shared.clone(),
                adapter.name().to_string(),
                poke.clone(),
            ));
            running.insert(
                adapter.name().to_string(),
                Running {
                    reach: reach(&adapter.spec),
                    task,
                    poke,
                },
            );
        }
    }

    /// Relays a federated request (see [`relay`]).
    pub async fn relay(&self, request: relay::Relayed<'_>) -> Result<Value, relay::Failure> {
        self.shared.relay(request).await
    }

    /// Closes the upstream sessions of client session `key` (it ended), and any idle ones.
    pub fn end_client(&self, key: Option<ClientKey>) {
        let ended = self.shared.sessions.take_ended(key.as_ref());
        if ended.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            for (adapter, opened) in ended {
                let Some(token) = opened.token else { continue };
                let wire = Wire {
                    port: shared.port.as_ref(),
                    adapter: &adapter,
                    caller: &opened.owner,
                    peer: LOCAL_PEER,
                };
                wire.end_session(&opened.version, &token).await;
            }
        });
    }

    /// Stops every lister (shutdown).
    pub fn stop(&self) {
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (_, old) in running.drain() {
            old.task.abort();
        }
    }
}

/// The fields that decide how an adapter is reached: a change restarts its lister. Others
/// (roles, description, `federatedTools`) only change the router's table.
fn reach(spec: &ResourceSpec) -> String {
    let mut reach = spec.clone();
    reach.description.clear();
    reach.required_roles.clear();
    reach.federated_tools.clear();
    reach.replica_count = 0;
    serde_json::to_string(&reach).unwrap_or_default()
}
