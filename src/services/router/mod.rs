//! The tool router, `POST|GET|DELETE /mcp`: one MCP server, inside the gateway process, serving
//! every registered tool the caller may use.
//!
//! - Protocol: rmcp's Streamable-HTTP server ([`StreamableHttpService`]) with our
//!   [`handler::ToolHandler`], so both eras work on one URL: 2025 sessions (`initialize`, GET
//!   stream, DELETE) and stateless 2026-07-28 (`server/discover`, `Mcp-Method`/`Mcp-Name`,
//!   `subscriptions/listen`).
//! - In front of it, [`ToolRouter::serve`] passes the same [`Door`] as the data plane (Origin
//!   policy, authentication with 401 + `WWW-Authenticate`, CORS), and puts the [`crate::infra::auth::Caller`] into the request's
//!   extensions, where the handler reads it. It also binds 2025 sessions to the user who opened
//!   them (another user's session id is a 404, as in the proxy).
//! - Tools: an immutable [`table::ToolTable`] built from the store's in-memory catalog, refreshed
//!   when the store changes (and checked against the store's change counter on every request,
//!   so a call right after `POST /tools` returns already sees the tool). No database read per call.
//! - Calls: [`call`] POSTs the arguments to a ready replica or the tool's `url`.
//!
//! Handles: the store, the reconciler's endpoints, the shared edge pieces (door, balancer,
//! header hygiene); it changes none of them, and knows nothing of the data plane or the HTTP
//! layer above.

mod call;
pub mod federation;
mod handler;
mod notify;
mod relayed;
mod sessions;
pub mod table;

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::model::ResourceKind;
use crate::infra::auth::Caller;
use crate::infra::config::LoadedConfig;
use crate::infra::http_client::HttpClient;
use crate::infra::reconciler::Observed;
use crate::infra::store::Store;
use crate::services::edge::headers::{MCP_SESSION_ID, X_ACCEL_BUFFERING, is_event_stream};
use crate::services::edge::jsonrpc::{code, jsonrpc_error};
use crate::services::edge::session::SessionKeys;
use crate::services::edge::{AdapterPort, Balancer, Door};
use federation::Federation;
use federation::sessions::ClientKey;
use handler::{REQUEST_CALLER, ToolHandler};
use sessions::Sessions;
use table::{Sources, ToolTable};

/// The URL path the router serves.
pub const PATH: &str = "/mcp";
/// How often revived sessions that idled out inside rmcp are forgotten.
const OWNER_SWEEP: Duration = Duration::from_secs(60);

/// What the handler, the notifiers and the caller of tools share.
pub(crate) struct Core {
    store: Arc<Store>,
    observed: Arc<Observed>,
    /// For the replicas the runtime deployed.
    http: HttpClient,
    /// For `url` tools: applies the upstream address policy.
    remote: HttpClient,
    page_size: usize,
    call_timeout: Duration,
    /// The store's change counter: a table older than it is rebuilt before use.
    store_version: watch::Receiver<u64>,
    /// The current table; followers subscribe to it.
    published: watch::Sender<Arc<ToolTable>>,
    /// One rebuild at a time (the loser of a race reuses the winner's table).
    rebuild: Mutex<()>,
    revisions: AtomicU64,
    /// Spreads calls over ready replicas (shared with the data plane).
    balancer: Arc<Balancer>,
    /// Adapters' tools and prompts.
    federation: Federation,
}

impl Core {
    /// The current table, rebuilt first if the store changed since it was built. Cheap when
    /// fresh: two watch reads and an `Arc` clone.
    fn table(&self) -> Arc<ToolTable> {
        let version = *self.store_version.borrow();
        let catalog = self.federation.catalog().version;
        let table = self.published.borrow().clone();
        if table.version >= version && table.catalog >= catalog {
            return table;
        }
        self.refresh()
    }

    /// Rebuilds the table from the store's catalog if it is stale, and publishes it (followers
    /// wake only when its content changed).
    fn refresh(&self) -> Arc<ToolTable> {
        let _one_at_a_time = self.rebuild.lock().unwrap_or_else(|p| p.into_inner());
        // Read the counter before the catalog: the store bumps it after updating the catalog,
        // so the table is at least as new as the version it is tagged with.
        let version = *self.store_version.borrow();
        let catalog = self.federation.catalog();
        let current = self.published.borrow().clone();
        if current.version >= version && current.catalog >= catalog.version {
            return current;
        }
        let (table, changed) = current.rebuilt(self.sources(version, &catalog), &self.revisions);
        let table = Arc::new(table);
        self.published.send_if_modified(|published| {
            *published = table.clone();
            changed
        });
        table
    }

    fn sources<'c>(&self, version: u64, catalog: &'c federation::Catalog) -> Sources<'c> {
        Sources {
            version,
            tools: self.store.list(ResourceKind::Tool),
            adapters: self.store.list(ResourceKind::Adapter),
            catalog,
        }
    }

    fn subscribe(&self) -> watch::Receiver<Arc<ToolTable>> {
        self.published.subscribe()
    }
}

/// The tool router: cheap to clone.
#[derive(Clone)]
pub struct ToolRouter {
    core: Arc<Core>,
    service: StreamableHttpService<ToolHandler, LocalSessionManager>,
    sessions: Arc<LocalSessionManager>,
    /// The clients' sealed tokens for rmcp's sessions.
    tokens: Arc<Sessions>,
    shutdown: CancellationToken,
    door: Arc<Door>,
}

/// What the router reads, dials through and admits with, besides its settings.
pub struct Handles {
    pub store: Arc<Store>,
    pub observed: Arc<Observed>,
    /// For the replicas the runtime deployed.
    pub http: HttpClient,
    /// For `url` tools: applies the upstream address policy.
    pub remote: HttpClient,
    pub door: Arc<Door>,
    pub balancer: Arc<Balancer>,
    /// Seal and open the 2025 sessions' tokens.
    pub keys: Arc<SessionKeys>,
    /// The way to adapters' MCP endpoints, for federation (the data plane).
    pub adapters: Arc<dyn AdapterPort>,
}

impl ToolRouter {
    /// Builds the router and its first table (compiling every tool's schema once). Call after
    /// the listen address is final: it decides which `Host` headers are accepted.
    pub fn new(config: &LoadedConfig, handles: Handles) -> ToolRouter {
        let Handles {
            store,
            observed,
            http,
            remote,
            door,
            balancer,
            keys,
            adapters,
        } = handles;
        let settings = &config.config.router;
        let federation = Federation::new(
            adapters,
            federation::Settings {
                ttl: Duration::from_secs(settings.federation_ttl_secs),
                timeout: Duration::from_millis(settings.federation_timeout_ms),
                call_timeout: Duration::from_secs(settings.call_timeout_secs),
            },
        );
        let store_version = store.subscribe();
        let (published, _) = watch::channel(Arc::new(ToolTable::default()));
        let core = Arc::new(Core {
            store,
            observed,
            http,
            remote,
            page_size: settings.page_size,
            call_timeout: Duration::from_secs(settings.call_timeout_secs),
            store_version,
            published,
            rebuild: Mutex::new(()),
            revisions: AtomicU64::new(0),
            balancer,
            federation,
        });
        // Version 0 can be the store's current counter; build unconditionally the first time.
        {
            let version = *core.store_version.borrow();
            let catalog = core.federation.catalog();
            let (table, _) =
                ToolTable::default().rebuilt(core.sources(version, &catalog), &core.revisions);
            tracing::info!(tools = table.len(), "tool router table built");
            core.published.send_replace(Arc::new(table));
        }

        let shutdown = CancellationToken::new();
        let hosts = allowed_hosts(config);
        let mut mcp = StreamableHttpServerConfig::default()
            // 2025-era clients get sessions; 2026-07-28 requests are stateless whatever this says.
            .with_legacy_session_mode(true)
            // Stateless answers that are one message go back as plain JSON, not a one-event SSE
            // stream: less work per call for the same meaning.
            .with_json_response(true)
            .with_max_request_body_bytes(
                usize::try_from(config.config.proxy.max_body_bytes).unwrap_or(usize::MAX),
            )
            .with_cancellation_token(shutdown.clone());
        mcp = match hosts {
            Some(hosts) => mcp.with_allowed_hosts(hosts),
            None => mcp.disable_allowed_hosts(),
        };
        let sessions = Arc::new(LocalSessionManager::default());
        let factory_core = core.clone();
        let service = StreamableHttpService::new(
            move || {
                Ok(ToolHandler {
                    core: factory_core.clone(),
                })
            },
            sessions.clone(),
            mcp,
        );
        ToolRouter {
            core,
            service,
            sessions,
            tokens: Arc::new(Sessions::new(keys)),
            shutdown,
            door,
        }
    }

    /// Keeps the table in step with the store (so followers notify within moments of a change)
    /// and forgets owners of sessions rmcp has ended. Runs until the task is dropped.
    pub async fn run(self) {
        let mut changes = self.core.store.subscribe();
        let mut catalog = self.core.federation.subscribe();
        let mut sweep = tokio::time::interval(OWNER_SWEEP);
        self.core.federation.sync(&self.core.store);
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    changes.borrow_and_update();
                    self.core.federation.sync(&self.core.store);
                    self.core.refresh();
                }
                changed = catalog.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    catalog.borrow_and_update();
                    self.core.refresh();
                }
                _ = sweep.tick() => {
                    self.tokens.sweep(&self.sessions).await;
                    self.core.federation.end_client(None);
                }
                _ = self.shutdown.cancelled() => break,
            }
        }
        self.core.federation.stop();
    }

    /// Ends every session and stream (graceful shutdown would otherwise wait on open SSE).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// One HTTP request to `/mcp`, from any route to it: CORS as on the data plane
    /// (`proxy.cors`) around the router.
    pub async fn serve(&self, request: Request) -> Response {
        if request.method() == Method::OPTIONS {
            return self.door.preflight(&request);
        }
        let origin = request.headers().get(http::header::ORIGIN).cloned();
        let mut response = self.route(request).await;
        self.door.add_cors(origin, &mut response);
        response
    }

    /// Origin and authentication here, the session token swapped for rmcp's session (revived
    /// if the gateway restarted); MCP in rmcp.
    async fn route(&self, mut request: Request) -> Response {
        let caller = match self.door.admit(request.headers(), PATH).await {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
        let session = match request.headers().contains_key(&MCP_SESSION_ID) {
            false => None,
            true => match self
                .tokens
                .resolve(&mut request, &caller, &self.service, &self.sessions)
                .await
            {
                Some(resolved) => Some(resolved.token),
                // A token that does not open, or another user's: the same 404 as an unknown one.
                None => {
                    return jsonrpc_error(
                        StatusCode::NOT_FOUND,
                        code::NOT_FOUND,
                        "Session not found: initialize a new session",
                        None,
                    );
                }
            },
        };
        let method = request.method().clone();
        let rmcp_session = request
            .headers()
            .get(&MCP_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        request.extensions_mut().insert(caller.clone());
        let response = REQUEST_CALLER
            .scope(caller.clone(), self.service.handle(request))
            .await;
        let (mut head, body) = response.into_parts();
        self.swap_session_header(&mut head.headers, &caller, session.as_deref());
        if let Some(token) = &session {
            let ended = (method == Method::DELETE && head.status.is_success())
                || head.status == StatusCode::NOT_FOUND;
            if ended {
                self.tokens.ended(token);
                if let Some(id) = rmcp_session {
                    self.core
                        .federation
                        .end_client(Some(ClientKey::Session(id)));
                }
            }
        }
        if method == Method::DELETE && head.status.is_success() {
            // rmcp answers 202; clients of the 1.x Python SDK treat that as an error.
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            return response;
        }
        if is_event_stream(&head.headers) {
            // Tell buffering proxies in front of us (nginx) to pass events as they are sent.
            head.headers
                .insert(X_ACCEL_BUFFERING.clone(), HeaderValue::from_static("no"));
        }
        Response::from_parts(head, Body::new(body))
    }

    /// rmcp's session id in an answer becomes the client's token: the one it came with, or a
    /// new one for a new session.
    fn swap_session_header(
        &self,
        headers: &mut http::HeaderMap,
        caller: &Caller,
        token: Option<&str>,
    ) {
        let Some(rmcp_id) = headers.get(&MCP_SESSION_ID).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let token = match token {
            Some(token) => HeaderValue::from_str(token).ok(),
            None => self.tokens.mint(caller, rmcp_id),
        };
        match token {
            Some(token) => headers.insert(MCP_SESSION_ID.clone(), token),
            None => headers.remove(&MCP_SESSION_ID),
        };
    }
}

/// The `Host` values rmcp accepts (DNS-rebinding protection): loopback names, the address the
/// gateway listens on and the host of `server.public_url`, any port. `None` (no check) when the
/// gateway listens on every interface: clients then reach it by names it cannot know (container
/// and cluster DNS), and the listen rules guarantee bearer-token auth there, which a rebinding
/// page cannot present.
fn allowed_hosts(config: &LoadedConfig) -> Option<Vec<String>> {
    let listen = config.config.server.listen.ip();
    if listen.is_unspecified() {
        return None;
    }
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.push(match listen {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_string(),
    });
    if let Some(host) = config
        .public_url()
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| {
            uri.host()
                .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
        })
    {
        hosts.push(host);
    }
    hosts.sort();
    hosts.dedup();
    Some(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, public_url: Option<&str>) -> LoadedConfig {
        let mut loaded = LoadedConfig {
            config: Default::default(),
            resources: Vec::new(),
            base_dir: std::path::PathBuf::from("."),
            origin: "test".into(),
            file: None,
        };
        loaded.config.server.listen = listen.parse().expect("addr");
        loaded.config.server.public_url = public_url.map(str::to_string);
        loaded
    }

    #[test]
    fn hosts_follow_listen_and_public_url() {
        let local = allowed_hosts(&config("127.0.0.1:8000", None)).expect("checked");
        assert_eq!(local, vec!["127.0.0.1", "::1", "localhost"]);
        let public = allowed_hosts(&config(
            "127.0.0.2:8000",
            Some("https://GW.example.com:8443"),
        ))
        .expect("checked");
        assert!(public.contains(&"gw.example.com".to_string()), "{public:?}");
        assert!(public.contains(&"127.0.0.2".to_string()), "{public:?}");
        assert_eq!(allowed_hosts(&config("0.0.0.0:8000", None)), None);
    }
}
