//! The data plane: `/adapters/{name}/mcp`, a streaming Streamable-HTTP reverse proxy.
//!
//! Per request: origin and caller checks, then a replica — the one named by the session token, or
//! a ready one in turn for requests without a session (every 2026-07-28 request, and 2025-era
//! `initialize`) — then the request goes upstream with clean headers, and the response comes back
//! frame by frame. An upstream `Mcp-Session-Id` is swapped for a sealed token ([`session`]), so
//! affinity needs no session store and survives gateway restarts.
//!
//! The hot path reads only memory: the store's in-memory catalog and the reconciler's endpoints.

pub(crate) mod errors;
pub mod headers;
mod origin;
pub mod session;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::Response;
use axum::routing::MethodFilter;
use axum::routing::on;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::{BodyExt, Limited};
use mcp_gateway_runtimes::{Endpoint, WorkloadKind};
use utoipa::openapi::HttpMethod;

use crate::api::Route;
use crate::api::openapi::{operation, path_param};
use crate::app::AppState;
use crate::auth::{AuthError, can_read};
use crate::config::ProxyConfig;
use crate::http_client::HttpClient;
use crate::metrics::UpstreamFailure;
use crate::model::{Resource, ResourceKind};
use errors::{code, jsonrpc_error, request_id};
use headers::{Identity, MCP_SESSION_ID};
pub use origin::OriginPolicy;
use session::{SessionClaims, SessionKeys, valid_session_id};
use upstream::{SendError, Upstreams};

/// Proxy settings and state shared by all requests (no per-session state).
pub struct Proxy {
    pub keys: SessionKeys,
    pub origins: OriginPolicy,
    pub max_body: u64,
    pub idle: Duration,
    pub cors: bool,
    /// Spreads new sessions and stateless requests over ready replicas.
    next: AtomicUsize,
    upstreams: Arc<Upstreams>,
}

impl Proxy {
    /// `tls` carries requests to `https` upstreams; plain-HTTP ones use the proxy's own
    /// connections ([`upstream`]).
    pub fn new(config: &ProxyConfig, keys: SessionKeys, public_url: &str, tls: HttpClient) -> Self {
        Self {
            keys,
            origins: OriginPolicy::new(public_url, &config.allowed_origins),
            max_body: config.max_body_bytes,
            idle: Duration::from_secs(config.idle_timeout_secs),
            cors: config.cors,
            next: AtomicUsize::new(0),
            upstreams: Upstreams::new(Duration::from_millis(config.connect_timeout_ms), tls),
        }
    }
}

/// The data plane's route template.
pub const ROUTE: &str = "/adapters/{name}/mcp";

/// The routes of the data plane, documented in /openapi.json.
pub fn routes() -> Vec<Route> {
    let path = ROUTE.to_string();
    let describe = |method: HttpMethod, id: &str, summary: &str| Route {
        path: path.clone(),
        operation: operation(id, summary, "data plane")
            .parameter(path_param("name", "The adapter's name"))
            .response(
                "200",
                utoipa::openapi::Response::new(
                    "The upstream's answer, streamed (JSON or text/event-stream)",
                ),
            )
            .response(
                "401",
                utoipa::openapi::Response::new("No valid credentials"),
            )
            .response(
                "403",
                utoipa::openapi::Response::new(
                    "Origin not allowed, or the caller may not read the adapter",
                ),
            )
            .response(
                "404",
                utoipa::openapi::Response::new(
                    "No such adapter, or the session is unknown: re-initialise",
                ),
            )
            .response(
                "413",
                utoipa::openapi::Response::new("Request body over proxy.max_body_bytes"),
            )
            .response(
                "502",
                utoipa::openapi::Response::new("The upstream refused or reset the connection"),
            )
            .response(
                "503",
                utoipa::openapi::Response::new("No ready replica (Retry-After)"),
            )
            .build(),
        handler: {
            let filter = match method {
                HttpMethod::Post => MethodFilter::POST,
                HttpMethod::Get => MethodFilter::GET,
                HttpMethod::Delete => MethodFilter::DELETE,
                _ => MethodFilter::OPTIONS,
            };
            on(filter, handle)
        },
        method,
    };
    vec![
        describe(
            HttpMethod::Post,
            "mcpPost",
            "MCP Streamable HTTP: send a JSON-RPC message",
        ),
        describe(
            HttpMethod::Get,
            "mcpGet",
            "MCP Streamable HTTP: open the server-to-client stream (2025 sessions)",
        ),
        describe(
            HttpMethod::Delete,
            "mcpDelete",
            "MCP Streamable HTTP: end the session",
        ),
        describe(
            HttpMethod::Options,
            "mcpOptions",
            "CORS preflight (when proxy.cors is on)",
        ),
    ]
}

/// Where one request goes.
struct Target {
    instance: u32,
    uri: Uri,
}

async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    serve(&state, peer, &name, request).await
}

/// The adapter name in a data-plane path (`/adapters/{name}/mcp`), when it needs no decoding;
/// [`crate::front`] sends such requests here without the API router.
pub(crate) fn data_plane_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/adapters/")?.strip_suffix("/mcp")?;
    (!name.is_empty() && !name.contains(['/', '%'])).then_some(name)
}

/// One data-plane request, from any route to it.
pub(crate) async fn serve(
    state: &AppState,
    peer: SocketAddr,
    name: &str,
    request: Request,
) -> Response {
    if request.method() == Method::OPTIONS {
        return cors_preflight(state, &request);
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = proxy(state, peer, name, request).await;
    add_cors(state, origin, &mut response);
    response
}

/// With `proxy.cors` on, lets an allowed browser origin read an MCP endpoint's answer and the
/// headers a client needs from it. Used by the data plane and the tool router alike.
pub(crate) fn add_cors(state: &AppState, origin: Option<HeaderValue>, response: &mut Response) {
    if state.proxy.cors
        && let Some(origin) = origin
        && origin.to_str().is_ok_and(|o| state.proxy.origins.allows(o))
    {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate"),
        );
    }
}

/// The answer to a CORS preflight (`OPTIONS`) on an MCP endpoint: 403 for an origin that is
/// not allowed, else 204, with the CORS grants when `proxy.cors` is on.
pub(crate) fn cors_preflight(state: &AppState, request: &Request) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    if let Some(refused) = refuse_origin(state, origin.as_ref()) {
        return refused;
    }
    let mut response = preflight(state, request);
    add_cors(state, origin, &mut response);
    response
}

/// One data-plane request, counted in the adapter's metrics when the adapter exists (a request
/// naming an unknown adapter leaves no trace there: clients cannot make up series).
async fn proxy(state: &AppState, peer: SocketAddr, name: &str, request: Request) -> Response {
    let started = Instant::now();
    let Some(adapter) = state.store.get(ResourceKind::Adapter, name) else {
        return match admit(state, request.headers(), request.uri().path()).await {
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
    let response = forward(state, peer, &adapter, request).await;
    adapter
        .metrics
        .answered(&method, response.status(), started.elapsed());
    response
}

/// A request for an existing adapter: the caller's checks, then upstream and back. Every way it
/// can fail without an upstream answer is counted on the adapter.
async fn forward(
    state: &AppState,
    peer: SocketAddr,
    adapter: &Arc<Resource>,
    request: Request,
) -> Response {
    let name = adapter.name();
    let metrics = &adapter.metrics;
    let caller = match admit(state, request.headers(), request.uri().path()).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    if !can_read(&caller, adapter) {
        return jsonrpc_error(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            &format!("you may not use adapter \"{name}\""),
            None,
        );
    }

    let (mut parts, incoming) = request.into_parts();

    // Small bodies with a declared length are read whole: the JSON-RPC id can then be echoed in
    // errors and a request without a session can be retried on another replica. Others stream.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.proxy.max_body) {
        return too_large(state.proxy.max_body, None);
    }
    let limit = usize::try_from(state.proxy.max_body).unwrap_or(usize::MAX);
    let (buffered, mut streamed): (Option<Bytes>, Option<Body>) = match declared {
        Some(_) => match Limited::new(incoming, limit).collect().await {
            Ok(collected) => (Some(collected.to_bytes()), None),
            Err(err) if is_length_limit_error(err.as_ref()) => {
                return too_large(state.proxy.max_body, None);
            }
            Err(err) => {
                return jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    code::UPSTREAM,
                    &format!("cannot read the request body: {err}"),
                    None,
                );
            }
        },
        None if parts.method != Method::POST => (Some(Bytes::new()), None),
        None => (None, Some(Body::new(Limited::new(incoming, limit)))),
    };
    let id = || buffered.as_deref().and_then(request_id);

    let session = match parts.headers.get(&MCP_SESSION_ID) {
        None => None,
        Some(token) => match token
            .to_str()
            .ok()
            .and_then(|t| state.proxy.keys.open(t))
            .filter(|c| c.adapter == name && c.user == caller.user_id)
        {
            Some(claims) => Some(claims),
            None => {
                metrics.session_rejected();
                return session_not_found(id());
            }
        },
    };

    let endpoints = endpoints_of(state, adapter);
    let mut target = match &session {
        Some(claims) => match session_target(adapter, &endpoints, claims, parts.uri.query()) {
            Some(target) => target,
            None => {
                state.observed.wake();
                metrics.session_rejected();
                return session_not_found(id());
            }
        },
        None => match pick_ready(state, adapter, &endpoints, None, parts.uri.query()) {
            Some(target) => target,
            None => {
                metrics.upstream_failed(UpstreamFailure::NoReadyReplica);
                return no_ready_replica(name, id());
            }
        },
    };

    let identity = Identity {
        user_id: &caller.user_id,
        roles: &caller.roles,
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let forwarded = headers::forwarded_element(peer, host, "http");
    let upstream_session = session.as_ref().map(|c| c.upstream.as_str());
    let authority = target.uri.authority().map(|a| a.as_str()).unwrap_or("");
    let mut upstream_headers = std::mem::take(&mut parts.headers);
    headers::upstream_request(
        &mut upstream_headers,
        authority,
        &identity,
        &forwarded,
        upstream_session,
    );
    let body = match (&buffered, streamed.take()) {
        (Some(bytes), _) => Body::from(bytes.clone()),
        (None, Some(body)) => body,
        (None, None) => Body::empty(),
    };
    let mut upstream_request = http::Request::new(body);
    *upstream_request.method_mut() = parts.method.clone();
    *upstream_request.uri_mut() = target.uri.clone();
    *upstream_request.headers_mut() = upstream_headers;

    let mut attempts = 0;
    let upstream = loop {
        attempts += 1;
        match state
            .proxy
            .upstreams
            .send(upstream_request, state.proxy.idle, metrics.open_stream())
            .await
        {
            Ok(response) => break response,
            Err(SendError::Timeout) => {
                metrics.upstream_failed(UpstreamFailure::Timeout);
                return jsonrpc_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    code::UPSTREAM,
                    &format!(
                        "adapter \"{name}\" did not answer within {} s (proxy.idle_timeout_secs)",
                        state.proxy.idle.as_secs()
                    ),
                    id(),
                );
            }
            Err(SendError::TooLarge) => return too_large(state.proxy.max_body, id()),
            Err(SendError::Connect { reason, unsent }) => {
                tracing::warn!(adapter = name, replica = target.instance, %reason, "cannot connect upstream");
                metrics.upstream_failed(UpstreamFailure::Connect);
                state.observed.wake();
                if session.is_some() {
                    // The session's replica is gone; its sessions with it.
                    metrics.session_rejected();
                    return session_not_found(id());
                }
                // A request that never left can go to another ready replica (once).
                if attempts == 1
                    && let Some(unsent) = unsent
                    && let Some(other) = pick_ready(
                        state,
                        adapter,
                        &endpoints,
                        Some(target.instance),
                        parts.uri.query(),
                    )
                {
                    target = other;
                    upstream_request = *unsent;
                    if let Some(host) = target
                        .uri
                        .authority()
                        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                    {
                        upstream_request.headers_mut().insert(header::HOST, host);
                    }
                    *upstream_request.uri_mut() = target.uri.clone();
                    continue;
                }
                return upstream_failed(
                    name,
                    target.instance,
                    &format!("cannot connect: {reason}"),
                    id(),
                );
            }
            Err(SendError::Exchange(reason)) => {
                tracing::warn!(adapter = name, replica = target.instance, %reason, "upstream failed");
                metrics.upstream_failed(UpstreamFailure::Exchange);
                return upstream_failed(name, target.instance, &reason, id());
            }
        }
    };

    let (mut head, upstream_body) = upstream.into_parts();
    let minted = match head.headers.get(&MCP_SESSION_ID) {
        None => None,
        Some(upstream_id) if valid_session_id(upstream_id.as_bytes()) => {
            let claims = SessionClaims {
                adapter: name.to_string(),
                user: caller.user_id.clone(),
                replica: target.instance,
                upstream: String::from_utf8_lossy(upstream_id.as_bytes()).into_owned(),
                issued_at: unix_now(),
            };
            let token = state
                .proxy
                .keys
                .seal(&claims, nonce())
                .and_then(|token| HeaderValue::from_str(&token).ok());
            // A new session; an upstream that repeats its id on later answers gets them
            // re-sealed, which is not another session.
            if token.is_some() && session.is_none() {
                metrics.session_minted();
            }
            token
        }
        Some(_) => {
            metrics.upstream_failed(UpstreamFailure::Exchange);
            return jsonrpc_error(
                StatusCode::BAD_GATEWAY,
                code::UPSTREAM,
                &format!("adapter \"{name}\" sent a session id that is not visible ASCII"),
                id(),
            );
        }
    };
    headers::downstream_response(&mut head.headers);
    if let Some(token) = minted {
        head.headers.insert(MCP_SESSION_ID.clone(), token);
    }
    if parts.method == Method::DELETE && head.status.is_success() {
        // Clients of the 1.x Python SDK treat 202 as an error; the session is over either way.
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        return response;
    }
    Response::from_parts(head, upstream_body)
}

fn upstream_failed(
    name: &str,
    replica: u32,
    reason: &str,
    id: Option<serde_json::Value>,
) -> Response {
    jsonrpc_error(
        StatusCode::BAD_GATEWAY,
        code::UPSTREAM,
        &format!("adapter \"{name}\" (replica {replica}) failed: {reason}"),
        id,
    )
}

/// The door of every MCP endpoint (the proxy and the router): a browser `Origin` must be allowed
/// (DNS-rebinding protection), then the caller must authenticate; otherwise the JSON-RPC error
/// response to send, with the `WWW-Authenticate` challenge for `path` on a 401.
pub(crate) async fn admit(
    state: &AppState,
    headers: &http::HeaderMap,
    path: &str,
) -> Result<crate::auth::Caller, Response> {
    if let Some(refused) = refuse_origin(state, headers.get(header::ORIGIN)) {
        return Err(refused);
    }
    match state.auth.authenticate(headers).await {
        Ok(caller) => Ok(caller),
        Err(AuthError::Unauthenticated { reason }) => {
            tracing::info!(path, %reason, "unauthenticated MCP request");
            let mut response = jsonrpc_error(
                StatusCode::UNAUTHORIZED,
                code::UNAUTHENTICATED,
                "invalid token",
                None,
            );
            if let Ok(challenge) = HeaderValue::from_str(&state.auth.challenge(path)) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
            }
            Err(response)
        }
    }
}

fn refuse_origin(state: &AppState, origin: Option<&HeaderValue>) -> Option<Response> {
    let origin = origin?;
    if origin.to_str().is_ok_and(|o| state.proxy.origins.allows(o)) {
        return None;
    }
    Some(jsonrpc_error(
        StatusCode::FORBIDDEN,
        code::FORBIDDEN,
        "this Origin is not allowed to call the gateway (proxy.allowed_origins)",
        None,
    ))
}

/// The endpoints of an adapter: its replicas, or its `url` as replica 0.
fn endpoints_of(state: &AppState, adapter: &Resource) -> Arc<Vec<Endpoint>> {
    static NONE: std::sync::LazyLock<Arc<Vec<Endpoint>>> = std::sync::LazyLock::new(Arc::default);
    let found = match &adapter.spec.url {
        Some(_) => None,
        None => state
            .observed
            .endpoints(WorkloadKind::Adapter, adapter.name()),
    };
    found.unwrap_or_else(|| NONE.clone())
}

fn target_uri(adapter: &Resource, endpoint: Option<&Endpoint>, query: Option<&str>) -> Option<Uri> {
    let mut uri = match (&adapter.spec.url, endpoint) {
        (Some(url), _) => url.clone(),
        (None, Some(endpoint)) => format!("{}{}", endpoint.base_url, adapter.spec.endpoint_path()),
        (None, None) => return None,
    };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str(query);
    }
    uri.parse().ok()
}

/// The session's replica, if it still exists. Readiness is not required: a replica that fails
/// its readiness probe stops getting *new* sessions (as Kubernetes does), but its own sessions
/// live in its process; a replica that is really gone refuses the connection, which answers 404.
fn session_target(
    adapter: &Resource,
    endpoints: &[Endpoint],
    claims: &SessionClaims,
    query: Option<&str>,
) -> Option<Target> {
    if adapter.spec.url.is_some() {
        return (claims.replica == 0)
            .then(|| target_uri(adapter, None, query).map(|uri| Target { instance: 0, uri }))?;
    }
    let endpoint = endpoints.iter().find(|e| e.instance == claims.replica)?;
    Some(Target {
        instance: endpoint.instance,
        uri: target_uri(adapter, Some(endpoint), query)?,
    })
}

/// A ready replica in turn, skipping `except`.
fn pick_ready(
    state: &AppState,
    adapter: &Resource,
    endpoints: &[Endpoint],
    except: Option<u32>,
    query: Option<&str>,
) -> Option<Target> {
    if adapter.spec.url.is_some() {
        return match except {
            Some(_) => None,
            None => target_uri(adapter, None, query).map(|uri| Target { instance: 0, uri }),
        };
    }
    let eligible = |e: &&Endpoint| e.ready && Some(e.instance) != except;
    let count = endpoints.iter().filter(eligible).count();
    if count == 0 {
        return None;
    }
    let n = state.proxy.next.fetch_add(1, Ordering::Relaxed) % count;
    let endpoint = endpoints.iter().filter(eligible).nth(n)?;
    Some(Target {
        instance: endpoint.instance,
        uri: target_uri(adapter, Some(endpoint), query)?,
    })
}

fn preflight(state: &AppState, request: &Request) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    if state.proxy.cors {
        let h = response.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        let asked = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(
                "content-type, authorization, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id",
            ));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

fn session_not_found(id: Option<serde_json::Value>) -> Response {
    jsonrpc_error(
        StatusCode::NOT_FOUND,
        code::NOT_FOUND,
        "Session not found: initialize a new session",
        id,
    )
}

fn no_ready_replica(name: &str, id: Option<serde_json::Value>) -> Response {
    let mut response = jsonrpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        code::UNAVAILABLE,
        &format!("adapter \"{name}\" has no ready replica yet; see GET /adapters/{name}/status"),
        id,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

fn too_large(limit: u64, id: Option<serde_json::Value>) -> Response {
    jsonrpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::TOO_LARGE,
        &format!("the request body is larger than {limit} bytes (proxy.max_body_bytes)"),
        id,
    )
}

pub(crate) fn is_length_limit_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn nonce() -> [u8; 12] {
    let mut nonce = [0u8; 12];
    if getrandom::fill(&mut nonce).is_err() {
        // Never reuse a nonce under one key: fall back to a counter mixed with the clock.
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u64;
        nonce[..8].copy_from_slice(&n.to_be_bytes());
        nonce[8..].copy_from_slice(&(unix_now() as u32).to_be_bytes());
    }
    nonce
}
