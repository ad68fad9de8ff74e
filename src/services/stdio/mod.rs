//! The stdio bridge: `/adapters/{name}/mcp` for adapters with `transport: "stdio"`, whose
//! servers speak newline-delimited JSON-RPC on their process's stdin/stdout.
//!
//! Shared sharing (the default): one attached process per replica serves every client
//! ([`upstream::Link`] multiplexes them). The gateway initializes the process once and answers
//! clients from that result: `initialize` for 2025 clients, who get sessions as sealed tokens
//! naming the replica and the process ([`sessions`]); `server/discover` for 2026-07-28 clients,
//! whose stateless requests are translated to the server's 2025 era and their results back
//! ([`wire`]). Requests stream back as SSE ([`stream`]), with progress and server requests for
//! their caller only; other notifications go to every session's GET stream.
//!
//! Handles: the door, the store (the adapter, and the initialize results kept across gateway
//! restarts), the reconciler's endpoints, the runtime (to attach) and the session keys. The HTTP
//! layer sends a data-plane request here when [`StdioBridge::serves`] says so, and to the proxy
//! otherwise.

mod links;
mod per_session;
mod port;
mod replies;
mod sessions;
mod stream;
mod upstream;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use mcp_gateway_runtimes::{Runtime, WorkloadKind};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::domain::model::{Resource, ResourceKind, Sharing};
use crate::infra::auth::Caller;
use crate::infra::reconciler::Observed;
use crate::infra::store::Store;
use crate::services::edge::Door;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};
use crate::services::edge::session::SessionKeys;
use links::Slot;
use replies::{
    accepted, bad_request, json_response, method_not_allowed, no_ready_replica, session_error,
};
use sessions::{SessionError, Sessions};
use stream::EventBody;
use upstream::Link;
use wire::Kind;

/// What the bridge reads and attaches through.
pub struct Handles {
    pub door: Arc<Door>,
    pub store: Arc<Store>,
    pub observed: Arc<Observed>,
    pub runtime: Arc<dyn Runtime>,
    pub keys: Arc<SessionKeys>,
    /// Largest request body (`proxy.max_body_bytes`).
    pub max_body: u64,
    /// `runtime.image_registry`, for per-session replicas.
    pub image_registry: String,
}

/// A request in flight of a 2025 session, so the client's `notifications/cancelled` finds it.
type InFlight = HashMap<(String, String), (Arc<Link>, u64)>;

pub struct StdioBridge {
    door: Arc<Door>,
    store: Arc<Store>,
    observed: Arc<Observed>,
    runtime: Arc<dyn Runtime>,
    sessions: Sessions,
    max_body: u64,
    slots: Mutex<HashMap<(String, u32), Arc<Slot>>>,
    in_flight: Arc<Mutex<InFlight>>,
    turn: AtomicUsize,
    image_registry: String,
    /// Per-session replicas running now.
    live: per_session::Live,
    /// Per-session replicas started ahead of their session (`stdio.warm`).
    warm: per_session::Warm,
}

/// How a request reached a link.
struct Caught {
    link: Arc<Link>,
    /// The 2025 session's token (`None`: a stateless request).
    session: Option<String>,
}

impl StdioBridge {
    /// The bridge, with its reaper of idle per-session replicas (a task: call inside a Tokio
    /// runtime).
    pub fn new(handles: Handles) -> Self {
        let live = per_session::Live::default();
        let warm = per_session::Warm::default();
        per_session::spawn_reaper(per_session::Reaper {
            live: live.clone(),
            warm: warm.clone(),
            store: handles.store.clone(),
            runtime: handles.runtime.clone(),
            observed: handles.observed.clone(),
            image_registry: handles.image_registry.clone(),
        });
        Self {
            warm,
            image_registry: handles.image_registry,
            live,
            door: handles.door,
            store: handles.store,
            observed: handles.observed,
            runtime: handles.runtime,
            sessions: Sessions::new(handles.keys),
            max_body: handles.max_body,
            slots: Mutex::default(),
            in_flight: Arc::default(),
            turn: AtomicUsize::new(0),
        }
    }

    /// Whether `name` is a stdio adapter (then its data plane is this bridge's).
    pub fn serves(&self, name: &str) -> bool {
        self.store
            .get(ResourceKind::Adapter, name)
            .is_some_and(|adapter| adapter.spec.is_stdio())
    }

    /// One data-plane request for a stdio adapter (CORS around it, as the proxy does).
    pub async fn serve(&self, _peer: SocketAddr, name: &str, request: Request) -> Response {
        if request.method() == Method::OPTIONS {
            return self.door.preflight(&request);
        }
        let origin = request.headers().get(header::ORIGIN).cloned();
        let started = Instant::now();
        let method = request.method().clone();
        let mut response = match self.store.get(ResourceKind::Adapter, name) {
            Some(adapter) => {
                let response = self.handle(&adapter, request).await;
                adapter
                    .metrics
                    .answered(&method, response.status(), started.elapsed());
                response
            }
            None => jsonrpc_error(
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
                &format!("adapter \"{name}\" does not exist"),
                None,
            ),
        };
        self.door.add_cors(origin, &mut response);
        response
    }

    async fn handle(&self, adapter: &Arc<Resource>, request: Request) -> Response {
        let caller = match self
            .door
            .admit(request.headers(), request.uri().path())
            .await
        {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
        self.handle_as(adapter, &caller, request).await
    }

    async fn post(&self, adapter: &Arc<Resource>, caller: &Caller, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let limit = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        let bytes = match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return jsonrpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    code::TOO_LARGE,
                    &format!("the request body is over proxy.max_body_bytes ({limit} bytes)"),
                    None,
                );
            }
        };
        let message: Value = match serde_json::from_slice(&bytes) {
            Ok(Value::Object(object)) => Value::Object(object),
            Ok(Value::Array(_)) => {
                return bad_request(
                    -32600,
                    "JSON-RPC batches are not supported (MCP dropped them after 2025-03-26)",
                    None,
                );
            }
            Ok(_) => return bad_request(-32600, "a JSON-RPC message must be an object", None),
            Err(err) => return bad_request(-32700, &format!("Parse error: {err}"), None),
        };
        let headers = &parts.headers;
        let version = header_str(headers, "mcp-protocol-version");
        let id = message.get("id").cloned();
        if let Kind::Request {
            method: "initialize",
            ..
        } = wire::kind(&message)
        {
            if per_session(adapter) {
                return self.start_session(adapter, caller, &message).await;
            }
            return self.initialize(adapter, caller, &message).await;
        }
        if wire::is_stateless(&message, version) {
            if let Some(named) = header_str(headers, "mcp-method")
                && Some(named) != message.get("method").and_then(Value::as_str)
            {
                return bad_request(
                    -32020,
                    "the Mcp-Method header does not match the body's method",
                    id,
                );
            }
            return self.stateless(adapter, caller, message).await;
        }
        let caught = match self.session(adapter, caller, headers).await {
            Ok(caught) => caught,
            Err(refused) => return refused,
        };
        self.relay(caught, message, false)
    }

    /// A 2025 client's `initialize`: answered from the server's, with a new session.
    async fn initialize(&self, adapter: &Resource, caller: &Caller, message: &Value) -> Response {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let (instance, link) = match self.any_link(adapter, Some(id.clone())).await {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let asked = message
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str);
        let result = wire::initialize_result(&link.init, asked);
        let Some(token) =
            self.sessions
                .mint(adapter.name(), &caller.user_id, instance, &link.generation)
        else {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "your user id is too long to carry in a session token",
                Some(id),
            );
        };
        let mut response = json_response(&wire::result(id, result));
        if let Ok(value) = HeaderValue::from_str(&token) {
            response.headers_mut().insert("mcp-session-id", value);
        }
        response
    }

    /// A 2026-07-28 request: `server/discover` from the initialize result; anything else to a
    /// replica, translated.
    async fn stateless(&self, adapter: &Resource, caller: &Caller, mut message: Value) -> Response {
        let id = message.get("id").cloned();
        let found = if per_session(adapter) {
            self.user_link(adapter, caller).await
        } else {
            self.any_link(adapter, id.clone())
                .await
                .map(|(_, link)| link)
        };
        let link = match found {
            Ok(link) => link,
            Err(refused) => return refused,
        };
        match wire::kind(&message) {
            Kind::Request {
                method: "server/discover",
                id,
            } => json_response(&wire::result(id.clone(), wire::discover_result(&link.init))),
            Kind::Request { .. } => {
                wire::to_session_era(&mut message);
                self.relay(
                    Caught {
                        link,
                        session: None,
                    },
                    message,
                    true,
                )
            }
            // Stateless clients cancel by closing the stream and are never asked anything.
            _ => accepted(),
        }
    }

    /// Sends a client message on its way: a request streams back its messages; a notification
    /// or an answer to a server request is passed on and acknowledged.
    fn relay(&self, caught: Caught, message: Value, stateless: bool) -> Response {
        let Caught { link, session } = caught;
        match wire::kind(&message) {
            Kind::Request { method, id } => {
                let method = method.to_string();
                let key = session.map(|token| (token, id.to_string()));
                let (sink, messages) = mpsc::unbounded_channel();
                let upstream_id = link.request(message, sink, !stateless);
                let in_flight = self.in_flight.clone();
                if let Some(key) = &key {
                    lock(&in_flight).insert(key.clone(), (link.clone(), upstream_id));
                }
                let on_end = Box::new(move |_answered: bool| {
                    if let Some(key) = key {
                        lock(&in_flight).remove(&key);
                    }
                });
                EventBody::new(messages, link, upstream_id, method, stateless, on_end).response()
            }
            Kind::Notification {
                method: "notifications/cancelled",
            } => {
                let request_id = message.pointer("/params/requestId").map(Value::to_string);
                if let (Some(token), Some(request_id)) = (session, request_id) {
                    let found = lock(&self.in_flight).remove(&(token, request_id));
                    if let Some((link, upstream_id)) = found {
                        let reason = message.pointer("/params/reason").cloned();
                        link.cancel(upstream_id, reason);
                    }
                }
                accepted()
            }
            // The gateway initialized the server itself.
            Kind::Notification {
                method: "notifications/initialized",
            } => accepted(),
            Kind::Notification { .. } => {
                link.notify(&message);
                accepted()
            }
            Kind::Response { .. } => {
                if link.answer(message) {
                    accepted()
                } else {
                    bad_request(
                        -32600,
                        "no server request with this id waits for an answer",
                        None,
                    )
                }
            }
            Kind::Invalid => bad_request(
                -32600,
                "not a JSON-RPC request, notification or response",
                None,
            ),
        }
    }

    /// A 2025 session's GET: the server's notifications (list changes, logs) as they come.
    async fn get(&self, adapter: &Resource, caller: &Caller, headers: &HeaderMap) -> Response {
        if header_str(headers, "mcp-session-id").is_none() {
            // Stateless clients have no stream to open.
            return method_not_allowed();
        }
        let caught = match self.session(adapter, caller, headers).await {
            Ok(caught) => caught,
            Err(refused) => return refused,
        };
        sessions::notification_stream(&caught.link)
    }

    fn delete(&self, adapter: &Resource, caller: &Caller, headers: &HeaderMap) -> Response {
        let Some(token) = header_str(headers, "mcp-session-id") else {
            return method_not_allowed();
        };
        match self.sessions.open(token, adapter.name(), &caller.user_id) {
            Ok(claims) => {
                self.sessions.end(token);
                if per_session(adapter) {
                    self.end_session(adapter, claims.replica);
                }
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::OK;
                response
            }
            Err(err) => session_error(adapter, err),
        }
    }

    /// The link of a 2025 session's replica, if the session is still alive there.
    async fn session(
        &self,
        adapter: &Resource,
        caller: &Caller,
        headers: &HeaderMap,
    ) -> Result<Caught, Response> {
        let Some(token) = header_str(headers, "mcp-session-id") else {
            return Err(bad_request(
                -32600,
                "Bad Request: an Mcp-Session-Id header is required (initialize first, or send \
                 MCP-Protocol-Version: 2026-07-28 requests)",
                None,
            ));
        };
        let claims = self
            .sessions
            .open(token, adapter.name(), &caller.user_id)
            .map_err(|err| session_error(adapter, err))?;
        let link = if per_session(adapter) {
            self.session_link(adapter, claims.replica).await
        } else {
            self.link(adapter, claims.replica).await
        };
        let link = link.map_err(|err| {
            tracing::info!(adapter = adapter.name(), replica = claims.replica, %err, "session's replica unreachable");
            session_error(adapter, SessionError::Gone)
        })?;
        if link.generation != claims.upstream {
            // The process that session lived in has ended.
            return Err(session_error(adapter, SessionError::Gone));
        }
        Ok(Caught {
            link,
            session: Some(token.to_string()),
        })
    }

    /// A link to a ready replica, in turn.
    async fn any_link(
        &self,
        adapter: &Resource,
        id: Option<Value>,
    ) -> Result<(u32, Arc<Link>), Response> {
        let ready: Vec<u32> = self
            .observed
            .endpoints(WorkloadKind::Adapter, adapter.name())
            .map(|endpoints| {
                endpoints
                    .iter()
                    .filter(|e| e.ready)
                    .map(|e| e.instance)
                    .collect()
            })
            .unwrap_or_default();
        if ready.is_empty() {
            return Err(no_ready_replica(adapter.name(), id));
        }
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let mut last = String::new();
        for step in 0..ready.len() {
            let instance = ready[(start + step) % ready.len()];
            match self.link(adapter, instance).await {
                Ok(link) => return Ok((instance, link)),
                Err(err) => last = err,
            }
        }
        tracing::warn!(adapter = adapter.name(), error = %last, "no stdio replica could be attached");
        Err(jsonrpc_error(
            StatusCode::BAD_GATEWAY,
            code::UPSTREAM,
            &format!(
                "cannot reach the stdio server of \"{}\": {last}",
                adapter.name()
            ),
            id,
        ))
    }
}

/// Whether each session of the adapter gets a process of its own.
fn per_session(adapter: &Resource) -> bool {
    adapter
        .spec
        .stdio
        .as_ref()
        .is_some_and(|stdio| stdio.sharing == Sharing::PerSession)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
