//! Phase: the upstream's answer back to the client. An upstream `Mcp-Session-Id` becomes a
//! sealed token naming the replica; headers are cleaned; the body streams through untouched.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use serde_json::Value;

use super::Proxy;
use crate::domain::clock::unix_now;
use crate::domain::counters::UpstreamFailure;
use crate::domain::model::Resource;
use crate::infra::auth::Caller;
use crate::services::edge::headers::{self, MCP_SESSION_ID};
use crate::services::edge::jsonrpc::{code, jsonrpc_error};
use crate::services::edge::session::{SessionClaims, nonce, valid_session_id};

impl Proxy {
    /// The client's response. `fresh`: the request had no session, so a session id in the answer
    /// opens a new one.
    #[allow(clippy::too_many_arguments)] // the phase's inputs, each used once; a struct would only rename them
    pub(super) fn answer(
        &self,
        adapter: &Resource,
        caller: &Caller,
        method: &Method,
        fresh: bool,
        replica: u32,
        upstream: Response,
        id: impl Fn() -> Option<Value>,
    ) -> Response {
        let (mut head, body) = upstream.into_parts();
        let minted = match head.headers.get(&MCP_SESSION_ID) {
            None => None,
            Some(upstream_id) if valid_session_id(upstream_id.as_bytes()) => {
                let upstream_id = String::from_utf8_lossy(upstream_id.as_bytes()).into_owned();
                self.mint(adapter, caller, replica, upstream_id, fresh)
            }
            Some(_) => return bad_session_id(adapter, id()),
        };
        headers::downstream_response(&mut head.headers);
        if let Some(token) = minted {
            head.headers.insert(MCP_SESSION_ID.clone(), token);
        }
        if let Some(ended) = session_ended(method, head.status) {
            return ended;
        }
        Response::from_parts(head, body)
    }

    /// The sealed token for the upstream's session id on `replica`. A new session is counted;
    /// an upstream that repeats its id on later answers gets them re-sealed, which is not
    /// another session.
    pub(super) fn mint(
        &self,
        adapter: &Resource,
        caller: &Caller,
        replica: u32,
        upstream: String,
        fresh: bool,
    ) -> Option<HeaderValue> {
        let claims = SessionClaims {
            adapter: adapter.name().to_string(),
            user: caller.user_id.clone(),
            replica,
            upstream,
            issued_at: unix_now(),
        };
        let token = self
            .keys
            .seal(&claims, nonce())
            .and_then(|token| HeaderValue::from_str(&token).ok());
        if token.is_none() {
            tracing::warn!(
                adapter = adapter.name(),
                user_id_bytes = caller.user_id.len(),
                "no session token: the user id and the upstream's session id are too long to seal; \
                 the client gets no session id"
            );
        }
        if token.is_some() && fresh {
            adapter.metrics.session_minted();
        }
        token
    }
}

/// The answer when an upstream's session id is not one (counted as a failed exchange).
pub(super) fn bad_session_id(adapter: &Resource, id: Option<Value>) -> Response {
    adapter.metrics.upstream_failed(UpstreamFailure::Exchange);
    jsonrpc_error(
        StatusCode::BAD_GATEWAY,
        code::UPSTREAM,
        &format!(
            "adapter \"{}\" sent a session id that is not visible ASCII",
            adapter.name()
        ),
        id,
    )
}

/// The client's answer to a `DELETE` the upstream accepted: `204`, whatever the upstream's success
/// was (clients of the 1.x Python SDK treat 202 as an error; the session is over either way).
/// `None` for any other request or answer.
pub(super) fn session_ended(method: &Method, status: StatusCode) -> Option<Response> {
    (*method == Method::DELETE && status.is_success()).then(|| {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        response
    })
}
