//! The data plane: `/adapters/{name}/mcp`, a streaming Streamable-HTTP reverse proxy.
//!
//! Per request, in named phases (each in its own module, small enough to test alone):
//! admission ([`Door`]: origin and caller) and permission; [`body`]: read the body (small ones
//! whole, others streamed); [`target`]: resolve the session token and choose the replica (the
//! session's own, or a ready one in turn for requests without a session: every 2026-07-28
//! request, and 2025-era `initialize`); build the upstream request with clean headers; [`send`]:
//! send it, retrying once on another replica when it never left; [`answer`]: swap an upstream
//! `Mcp-Session-Id` for a sealed token ([`crate::services::edge::session`]) and shape the response, which comes back
//! frame by frame. Affinity needs no session store and survives gateway restarts.
//!
//! The hot path reads only memory: the store's in-memory catalog and the reconciler's endpoints.
//! Handles: the store, the reconciler's [`Observed`] endpoints, the [`Door`] and the shared
//! [`Balancer`]; nothing of the HTTP layer above.

mod answer;
mod body;
mod replies;
mod send;
mod target;
mod upstream;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, header};

use crate::domain::model::{Resource, ResourceKind};
use crate::infra::address::AddressPolicy;
use crate::infra::auth::{Caller, can_read};
use crate::infra::config::ProxyConfig;
use crate::infra::http_client::HttpClient;
use crate::infra::reconciler::Observed;
use crate::infra::store::Store;
use crate::services::edge::jsonrpc::{code, jsonrpc_error, request_id};
use crate::services::edge::session::SessionKeys;
use crate::services::edge::{AdapterPort, Balancer, Door};
use body::RequestBody;
use upstream::Upstreams;
pub use upstream::enter_event_loop;
pub use wire::{Relayed, WireRequest, content_length};

/// The data plane's route template.
pub const ROUTE: &str = "/adapters/{name}/mcp";

/// What the proxy reads and dials through, besides its settings.
pub struct Handles {
    pub door: Arc<Door>,
    pub store: Arc<Store>,
    pub observed: Arc<Observed>,
    pub balancer: Arc<Balancer>,
    /// The upstream address policy every connection to a `url` adapter must pass.
    pub policy: Arc<AddressPolicy>,
    /// The client for `https` `url` adapters (built with the same policy).
    pub tls: HttpClient,
}

/// Proxy settings and state shared by all requests (no per-session state).
pub struct Proxy {
    door: Arc<Door>,
    store: Arc<Store>,
    observed: Arc<Observed>,
    balancer: Arc<Balancer>,
    keys: Arc<SessionKeys>,
    max_body: u64,
    idle: Duration,
    /// Connections to the replicas the runtime deployed.
    replicas: Arc<Upstreams>,
    /// Connections to `url` adapters, through the upstream address policy.
    remote: Arc<Upstreams>,
}

impl Proxy {
    pub fn new(config: &ProxyConfig, keys: Arc<SessionKeys>, handles: Handles) -> Self {
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
        let tls = handles.tls;
        Self {
            door: handles.door,
            store: handles.store,
            observed: handles.observed,
            balancer: handles.balancer,
            keys,
            max_body: config.max_body_bytes,
            idle: Duration::from_secs(config.idle_timeout_secs),
            replicas: Upstreams::new(connect_timeout, tls.clone(), None),
            remote: Upstreams::new(connect_timeout, tls, Some(handles.policy)),
        }
    }

    /// One data-plane request, from any route to it (CORS around the proxying).
    pub async fn serve(&self, peer: SocketAddr, name: &str, request: Request) -> Response {
        if request.method() == Method::OPTIONS {
            return self.door.preflight(&request);
        }
        let origin = request.headers().get(header::ORIGIN).cloned();
        let mut response = self.proxy(peer, name, request).await;
        self.door.add_cors(origin, &mut response);
        response
    }

    /// One data-plane request, counted in the adapter's metrics when the adapter exists (a
    /// request naming an unknown adapter leaves no trace there: clients cannot make up series).
    async fn proxy(&self, peer: SocketAddr, name: &str, request: Request) -> Response {
        let started = Instant::now();
        let Some(adapter) = self.store.get(ResourceKind::Adapter, name) else {
            return match self
                .door
                .admit(request.headers(), request.uri().path())
                .await
            {
                Err(refused) => refused,
                Ok(_) => jsonrpc_error(
                    StatusCode::NOT_FOUND,
                    code::NOT_FOUND,
                    &format!("adapter \"{name}\" does not exist"),
                    None,
                ),
            };
        };
        let method = request.method().clone();
        let response = self.forward(peer, &adapter, request).await;
        adapter
            .metrics
            .answered(&method, response.status(), started.elapsed());
        response
    }

    /// A request for an existing adapter, phase by phase. Every way it can fail without an
    /// upstream answer is counted on the adapter.
    async fn forward(
        &self,
        peer: SocketAddr,
        adapter: &Arc<Resource>,
        request: Request,
    ) -> Response {
        let caller = match self
            .admit(adapter, request.headers(), request.uri().path())
            .await
        {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
        self.forward_as(peer, adapter, &caller, request).await
    }

    /// [`Proxy::forward`] after admission: `caller` may use `adapter`.
    async fn forward_as(
        &self,
        peer: SocketAddr,
        adapter: &Arc<Resource>,
        caller: &Caller,
        request: Request,
    ) -> Response {
        let (mut parts, incoming) = request.into_parts();
        let RequestBody { buffered, streamed } = match self.read_body(&parts, incoming).await {
            Ok(body) => body,
            Err(refused) => return refused,
        };
        let id = || buffered.as_deref().and_then(request_id);
        let session = match self.open_session(&parts.headers, adapter.name(), caller) {
            Ok(session) => session,
            Err(()) => return replies::session_rejected(adapter, id()),
        };
        let endpoints = self.endpoints_of(adapter);
        let target =
            match self.choose_target(adapter, &endpoints, session.as_deref(), parts.uri.query()) {
                Ok(target) => target,
                Err(refusal) => return refusal.reply(adapter, id()),
            };
        let body = RequestBody::outbound(&buffered, streamed);
        let outbound =
            self.upstream_request(&mut parts, peer, caller, &target, session.as_deref(), body);
        let sending = send::Sending {
            adapter,
            endpoints: &endpoints,
            query: parts.uri.query(),
            in_session: session.is_some(),
        };
        let (upstream, target) = match self.send(&sending, outbound, target).await {
            Ok(answered) => answered,
            Err(failure) => return self.send_failed(adapter, failure, id()),
        };
        let fresh = session.is_none();
        self.answer(
            adapter,
            caller,
            &parts.method,
            fresh,
            target.instance,
            upstream,
            id,
        )
    }

    /// Admission (origin, authentication), then the caller must be allowed to use the adapter.
    async fn admit(
        &self,
        adapter: &Resource,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Caller, Response> {
        let caller = self.door.admit(headers, path).await?;
        if !can_read(&caller, adapter) {
            return Err(jsonrpc_error(
                StatusCode::FORBIDDEN,
                code::FORBIDDEN,
                &format!("you may not use adapter \"{}\"", adapter.name()),
                None,
            ));
        }
        Ok(caller)
    }
}

#[async_trait::async_trait]
impl AdapterPort for Proxy {
    async fn exchange(
        &self,
        caller: &Caller,
        peer: SocketAddr,
        name: &str,
        request: Request,
    ) -> Response {
        let Some(adapter) = self.store.get(ResourceKind::Adapter, name) else {
            return jsonrpc_error(
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
                &format!("adapter \"{name}\" does not exist"),
                None,
            );
        };
        if !can_read(caller, &adapter) {
            return jsonrpc_error(
                StatusCode::FORBIDDEN,
                code::FORBIDDEN,
                &format!("you may not use adapter \"{name}\""),
                None,
            );
        }
        // Not counted as data-plane requests: federation's listings and pings are the gateway's
        // own; the calls it relays are counted as tool calls of the adapter on `/mcp`.
        self.forward_as(peer, &adapter, caller, request).await
    }
}

/// The adapter name in a data-plane path (`/adapters/{name}/mcp`), when it needs no decoding;
/// the HTTP layer's front door sends such requests here without the API router.
pub fn data_plane_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/adapters/")?.strip_suffix("/mcp")?;
    (!name.is_empty() && !name.contains(['/', '%'])).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::data_plane_name;

    #[test]
    fn only_plain_data_plane_paths_take_the_short_way() {
        assert_eq!(data_plane_name("/adapters/weather/mcp"), Some("weather"));
        for other in [
            "/adapters/weather",
            "/adapters//mcp",
            "/adapters/a/b/mcp",
            "/adapters/w%65ather/mcp",
            "/adapters/weather/mcp/",
            "/adapters/weather/status",
            "/tools/weather/mcp",
            "/mcp",
        ] {
            assert_eq!(data_plane_name(other), None, "{other}");
        }
    }
}
