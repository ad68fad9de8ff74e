//! Phases: resolve the session token, choose the replica, and build the request it gets.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Uri, header};
use mcp_gateway_runtimes::{Endpoint, WorkloadKind};
use serde_json::Value;

use super::Proxy;
use super::replies::{no_ready_replica, session_rejected};
use crate::domain::counters::UpstreamFailure;
use crate::domain::model::Resource;
use crate::infra::auth::Caller;
use crate::services::edge::headers::{self, Identity, MCP_SESSION_ID};
use crate::services::edge::session::SessionClaims;

/// Where one request goes.
pub(super) struct Target {
    pub instance: u32,
    pub uri: Uri,
}

/// Why a request has no replica to go to.
pub(super) enum NoTarget {
    /// The session's replica is gone, and its sessions with it (the client re-initialises).
    SessionGone,
    NoReadyReplica,
}

impl NoTarget {
    /// The answer, counted on the adapter.
    pub fn reply(self, adapter: &Resource, id: Option<Value>) -> Response {
        match self {
            NoTarget::SessionGone => session_rejected(adapter, id),
            NoTarget::NoReadyReplica => {
                adapter
                    .metrics
                    .upstream_failed(UpstreamFailure::NoReadyReplica);
                no_ready_replica(adapter.name(), id)
            }
        }
    }
}

impl Proxy {
    /// The claims of the request's session token: `Ok(None)` without one, `Err` for a token
    /// that does not open or was minted for another adapter or user (the same 404 for both).
    pub(super) fn open_session(
        &self,
        headers: &HeaderMap,
        adapter: &str,
        caller: &Caller,
    ) -> Result<Option<Arc<SessionClaims>>, ()> {
        self.open_session_token(
            headers.get(&MCP_SESSION_ID).map(HeaderValue::as_bytes),
            adapter,
            caller,
        )
    }

    /// [`Proxy::open_session`] of the token's bytes.
    pub(super) fn open_session_token(
        &self,
        token: Option<&[u8]>,
        adapter: &str,
        caller: &Caller,
    ) -> Result<Option<Arc<SessionClaims>>, ()> {
        let Some(token) = token else {
            return Ok(None);
        };
        std::str::from_utf8(token)
            .ok()
            .and_then(|t| self.keys.open_shared(t))
            .filter(|c| c.adapter == adapter && c.user == caller.user_id)
            .map(Some)
            .ok_or(())
    }

    /// The endpoints of an adapter: its replicas (none for a `url` adapter, which has its URL).
    pub(super) fn endpoints_of(&self, adapter: &Resource) -> Arc<Vec<Endpoint>> {
        static NONE: LazyLock<Arc<Vec<Endpoint>>> = LazyLock::new(Arc::default);
        let found = match &adapter.spec.url {
            Some(_) => None,
            None => self
                .observed
                .endpoints(WorkloadKind::Adapter, adapter.name()),
        };
        found.unwrap_or_else(|| NONE.clone())
    }

    /// The session's replica, or a ready one in turn for a request without a session.
    pub(super) fn choose_target(
        &self,
        adapter: &Resource,
        endpoints: &[Endpoint],
        session: Option<&SessionClaims>,
        query: Option<&str>,
    ) -> Result<Target, NoTarget> {
        match session {
            Some(claims) => session_target(adapter, endpoints, claims, query).ok_or_else(|| {
                self.observed.wake();
                NoTarget::SessionGone
            }),
            None => self
                .pick_ready(adapter, endpoints, None, query)
                .ok_or(NoTarget::NoReadyReplica),
        }
    }

    /// A ready replica in turn, skipping `except`; a `url` adapter's one URL.
    pub(super) fn pick_ready(
        &self,
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
        let endpoint = self.balancer.pick(endpoints, except)?;
        Some(Target {
            instance: endpoint.instance,
            uri: target_uri(adapter, Some(endpoint), query)?,
        })
    }

    /// The upstream request: the client's method, the target's URI, headers made clean (the
    /// caller's identity instead of their credentials, `Forwarded`, the upstream session id).
    pub(super) fn upstream_request(
        &self,
        parts: &mut Parts,
        peer: SocketAddr,
        caller: &Caller,
        target: &Target,
        session: Option<&SessionClaims>,
        body: Body,
    ) -> http::Request<Body> {
        let identity = Identity {
            user_id: &caller.user_id,
            roles: &caller.roles,
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let forwarded = headers::forwarded_element(peer, host, "http");
        let authority = target.uri.authority().map(|a| a.as_str()).unwrap_or("");
        let mut upstream_headers = std::mem::take(&mut parts.headers);
        headers::upstream_request(
            &mut upstream_headers,
            authority,
            &identity,
            &forwarded,
            session.map(|c| c.upstream.as_str()),
        );
        let mut request = http::Request::new(body);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = target.uri.clone();
        *request.headers_mut() = upstream_headers;
        request
    }
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
