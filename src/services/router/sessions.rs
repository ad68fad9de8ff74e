//! The router's 2025-era sessions, store-less like the data plane's.
//!
//! rmcp keeps a session's state in memory; the client never sees rmcp's id. It gets a sealed
//! token instead ([`SessionKeys`]: AES-GCM, the same keys as the data plane's) naming the user,
//! rmcp's session and the gateway process that opened it. On each request the token is opened
//! (a token that does not open, or was minted for another user, is a 404: the client
//! re-initialises) and swapped for rmcp's id.
//!
//! A token from another process (this gateway before a restart, or another gateway sharing the
//! store and keys) names a session this process never had: the gateway opens a new one on the
//! client's behalf, with the protocol revision the client speaks, and the client carries on
//! under the same token, with no second `initialize`. A session that ended in this process
//! (DELETE, or idled out inside rmcp) stays ended: 404, as the spec says.
//!
//! Tokens never name another endpoint: the data plane's name an adapter, these the router
//! ([`MARK`]), and each endpoint refuses the other's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde_json::json;

use super::handler::{REQUEST_CALLER, ToolHandler};
use crate::domain::clock::unix_now;
use crate::infra::auth::Caller;
use crate::services::edge::headers::MCP_SESSION_ID;
use crate::services::edge::session::{SessionClaims, SessionKeys, nonce};

/// Ended sessions of other processes remembered before the oldest are forgotten.
const MAX_REMEMBERED: usize = 100_000;

/// Where a token's session is.
enum Live {
    /// rmcp has it, under this id.
    Yes(String),
    /// It ended in this process.
    Ended,
    /// It was opened by another process, and not yet revived here.
    Elsewhere,
}

/// What router tokens carry where data-plane tokens carry an adapter name (which cannot
/// contain `/`).
pub(super) const MARK: &str = "/mcp";
/// The revision assumed for a client that sends no `MCP-Protocol-Version` (2025-03-26 clients
/// need not).
const DEFAULT_REVISION: &str = "2025-03-26";

/// Tokens, and the rmcp sessions of tokens from other processes.
pub(super) struct Sessions {
    keys: Arc<SessionKeys>,
    /// Names this process in the tokens it mints (random per start).
    process: u32,
    /// Tokens of other processes → rmcp's session id here (`None`: it ended here).
    revived: Mutex<HashMap<String, Option<String>>>,
    /// One revival at a time, so concurrent requests of one token share the new session.
    reviving: tokio::sync::Mutex<()>,
}

/// A request's session, resolved: the client's token and rmcp's id for it.
pub(super) struct Resolved {
    pub token: String,
}

impl Sessions {
    pub fn new(keys: Arc<SessionKeys>) -> Self {
        let mut process = [0u8; 4];
        let process = match getrandom::fill(&mut process) {
            Ok(()) => u32::from_be_bytes(process),
            Err(_) => unix_now() as u32,
        };
        Self {
            keys,
            process,
            revived: Mutex::new(HashMap::new()),
            reviving: tokio::sync::Mutex::new(()),
        }
    }

    fn revived(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<String>>> {
        self.revived.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client's token for a session rmcp opened with id `rmcp_id`.
    pub fn mint(&self, caller: &Caller, rmcp_id: &str) -> Option<HeaderValue> {
        let claims = SessionClaims {
            adapter: MARK.to_string(),
            user: caller.user_id.clone(),
            replica: self.process,
            upstream: rmcp_id.to_string(),
            issued_at: unix_now(),
        };
        let token = self.keys.seal(&claims, nonce())?;
        HeaderValue::from_str(&token).ok()
    }

    /// Swaps the request's token for rmcp's live session id, reviving the session when rmcp no
    /// longer has it. `None`: not a session of this caller's (answer 404).
    pub async fn resolve(
        &self,
        request: &mut Request,
        caller: &Caller,
        service: &StreamableHttpService<ToolHandler, LocalSessionManager>,
        manager: &LocalSessionManager,
    ) -> Option<Resolved> {
        let token = request
            .headers()
            .get(&MCP_SESSION_ID)?
            .to_str()
            .ok()?
            .to_string();
        let claims = self
            .keys
            .open(&token)
            .filter(|c| c.adapter == MARK && c.user == caller.user_id)?;
        let live = match self.live(&token, &claims, manager).await {
            Live::Yes(id) => id,
            Live::Ended => return None,
            Live::Elsewhere => {
                let _one = self.reviving.lock().await;
                // Another request of this token may have revived it meanwhile.
                match self.live(&token, &claims, manager).await {
                    Live::Yes(id) => id,
                    Live::Ended => return None,
                    Live::Elsewhere => {
                        let revived = revive(service, request.headers(), caller).await?;
                        tracing::info!(user = %caller.user_id, "tool-router session resumed");
                        self.revived().insert(token.clone(), Some(revived.clone()));
                        revived
                    }
                }
            }
        };
        let value = HeaderValue::from_str(&live).ok()?;
        request.headers_mut().insert(MCP_SESSION_ID.clone(), value);
        Some(Resolved { token })
    }

    /// Where the token's session is.
    async fn live(
        &self,
        token: &str,
        claims: &SessionClaims,
        manager: &LocalSessionManager,
    ) -> Live {
        let id = match claims.replica == self.process {
            true => Some(claims.upstream.clone()),
            false => match self.revived().get(token) {
                None => return Live::Elsewhere,
                Some(revived) => revived.clone(),
            },
        };
        let Some(id) = id else {
            return Live::Ended;
        };
        match manager
            .has_session(&id.clone().into())
            .await
            .unwrap_or(false)
        {
            true => Live::Yes(id),
            false => Live::Ended,
        }
    }

    /// The session of `token` ended (DELETE, or rmcp no longer knows it): it is not revived
    /// again by this process.
    pub fn ended(&self, token: &str) {
        if let Some(revived) = self.revived().get_mut(token) {
            *revived = None;
        }
    }

    /// Marks revived sessions rmcp has ended (idle expiry) as ended, and forgets ended ones
    /// beyond a bound (the oldest tokens expire from clients' use long before).
    pub async fn sweep(&self, manager: &LocalSessionManager) {
        let entries: Vec<(String, String)> = self
            .revived()
            .iter()
            .filter_map(|(token, id)| Some((token.clone(), id.clone()?)))
            .collect();
        for (token, id) in entries {
            if !manager.has_session(&id.into()).await.unwrap_or(false) {
                self.ended(&token);
            }
        }
        let mut revived = self.revived();
        if revived.len() > MAX_REMEMBERED {
            revived.retain(|_, id| id.is_some());
        }
    }
}

/// Opens a new rmcp session for `caller` as a client would (`initialize`, then
/// `notifications/initialized`), with the revision of the request being resumed; rmcp's new
/// session id.
async fn revive(
    service: &StreamableHttpService<ToolHandler, LocalSessionManager>,
    original: &HeaderMap,
    caller: &Caller,
) -> Option<String> {
    let revision = original
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(DEFAULT_REVISION)
        .to_string();
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": revision,
        "capabilities": {},
        "clientInfo": {"name": "mcp-gateway (resumed session)", "version": env!("CARGO_PKG_VERSION")}}});
    let answer = send(service, original, caller, None, &revision, initialize).await?;
    if answer.status() != StatusCode::OK {
        tracing::warn!(status = %answer.status(), "cannot resume a tool-router session");
        return None;
    }
    let id = answer
        .headers()
        .get(&MCP_SESSION_ID)?
        .to_str()
        .ok()?
        .to_string();
    drop(answer);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let done = send(service, original, caller, Some(&id), &revision, initialized).await?;
    done.status().is_success().then_some(id)
}

/// One POST to rmcp on `caller`'s behalf, with the original request's `Host`.
async fn send(
    service: &StreamableHttpService<ToolHandler, LocalSessionManager>,
    original: &HeaderMap,
    caller: &Caller,
    session: Option<&str>,
    revision: &str,
    body: serde_json::Value,
) -> Option<http::Response<axum::body::Body>> {
    let mut request = http::Request::builder()
        .method(Method::POST)
        .uri(super::PATH)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "application/json")
        .header("mcp-protocol-version", revision);
    if let Some(host) = original.get(header::HOST) {
        request = request.header(header::HOST, host);
    }
    if let Some(session) = session {
        request = request.header(&MCP_SESSION_ID, session);
    }
    let mut request = request.body(Body::from(body.to_string())).ok()?;
    request.extensions_mut().insert(caller.clone());
    let response = REQUEST_CALLER
        .scope(caller.clone(), service.handle(request))
        .await;
    let (head, body) = response.into_parts();
    Some(http::Response::from_parts(head, Body::new(body)))
}
