//! Phase: send the request upstream. A request that never left (the connection was refused)
//! goes once to another ready replica; every failure, and every such retry, is counted on the
//! adapter.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use mcp_gateway_runtimes::Endpoint;
use serde_json::Value;

use super::Proxy;
use super::replies::{session_rejected, too_large, upstream_failed};
use super::target::Target;
use super::upstream::SendError;
use crate::domain::counters::UpstreamFailure;
use crate::domain::model::Resource;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};

/// What the send phase needs to know of the request beyond the request itself.
pub(super) struct Sending<'a> {
    pub adapter: &'a Resource,
    pub endpoints: &'a [Endpoint],
    pub query: Option<&'a str>,
    /// A request in a session must reach the session's replica or none.
    pub in_session: bool,
}

/// Why no upstream answered.
pub(super) enum Failure {
    Timeout,
    TooLarge,
    /// The session's replica refused the connection: the session is gone.
    SessionGone,
    Unreachable {
        instance: u32,
        reason: String,
    },
    Exchange {
        instance: u32,
        reason: String,
    },
}

impl Proxy {
    /// The upstream's response head and the replica that gave it.
    pub(super) async fn send(
        &self,
        sending: &Sending<'_>,
        mut request: http::Request<Body>,
        mut target: Target,
    ) -> Result<(Response, Target), Failure> {
        let name = sending.adapter.name();
        let metrics = &sending.adapter.metrics;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let upstreams = match sending.adapter.spec.url {
                Some(_) => &self.remote,
                None => &self.replicas,
            };
            let sent = upstreams
                .send(request, self.idle, metrics.open_stream())
                .await;
            let (reason, unsent) = match sent {
                Ok(response) => return Ok((response, target)),
                Err(SendError::Timeout) => {
                    metrics.upstream_failed(UpstreamFailure::Timeout);
                    return Err(Failure::Timeout);
                }
                Err(SendError::TooLarge) => return Err(Failure::TooLarge),
                Err(SendError::Exchange(reason)) => {
                    tracing::warn!(adapter = name, replica = target.instance, %reason, "upstream failed");
                    metrics.upstream_failed(UpstreamFailure::Exchange);
                    let instance = target.instance;
                    return Err(Failure::Exchange { instance, reason });
                }
                Err(SendError::Connect { reason, unsent }) => (reason, unsent),
            };
            tracing::warn!(adapter = name, replica = target.instance, %reason, "cannot connect upstream");
            metrics.upstream_failed(UpstreamFailure::Connect);
            self.observed.wake();
            if sending.in_session {
                return Err(Failure::SessionGone);
            }
            // A request that never left can go to another ready replica (once).
            let retry = (attempts == 1)
                .then_some(unsent)
                .flatten()
                .and_then(|unsent| {
                    let other = self.pick_ready(
                        sending.adapter,
                        sending.endpoints,
                        Some(target.instance),
                        sending.query,
                    )?;
                    Some((unsent, other))
                });
            let Some((unsent, other)) = retry else {
                let instance = target.instance;
                let reason = format!("cannot connect: {reason}");
                return Err(Failure::Unreachable { instance, reason });
            };
            metrics.retried();
            target = other;
            request = readdress(*unsent, &target);
        }
    }

    /// The answer for a request no upstream answered.
    pub(super) fn send_failed(
        &self,
        adapter: &Resource,
        failure: Failure,
        id: Option<Value>,
    ) -> Response {
        let name = adapter.name();
        match failure {
            Failure::Timeout => jsonrpc_error(
                StatusCode::GATEWAY_TIMEOUT,
                code::UPSTREAM,
                &format!(
                    "adapter \"{name}\" did not answer within {} s (proxy.idle_timeout_secs)",
                    self.idle.as_secs()
                ),
                id,
            ),
            Failure::TooLarge => too_large(self.max_body, id),
            Failure::SessionGone => session_rejected(adapter, id),
            Failure::Unreachable { instance, reason } | Failure::Exchange { instance, reason } => {
                upstream_failed(name, instance, &reason, id)
            }
        }
    }
}

/// An unsent request pointed at another replica (its URI and `Host`).
fn readdress(mut request: http::Request<Body>, target: &Target) -> http::Request<Body> {
    if let Some(host) = target
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        request.headers_mut().insert(header::HOST, host);
    }
    *request.uri_mut() = target.uri.clone();
    request
}
