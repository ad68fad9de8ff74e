//! The data plane's own error answers (JSON-RPC bodies, the right status, the request's id).

use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::domain::model::Resource;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};

/// 404 for a session that is not (or no longer) one, counted on the adapter: the client
/// re-initialises, as the MCP spec says.
pub(super) fn session_rejected(adapter: &Resource, id: Option<Value>) -> Response {
    adapter.metrics.session_rejected();
    jsonrpc_error(
        StatusCode::NOT_FOUND,
        code::NOT_FOUND,
        "Session not found: initialize a new session",
        id,
    )
}

pub(super) fn no_ready_replica(name: &str, id: Option<Value>) -> Response {
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

pub(super) fn upstream_failed(
    name: &str,
    replica: u32,
    reason: &str,
    id: Option<Value>,
) -> Response {
    jsonrpc_error(
        StatusCode::BAD_GATEWAY,
        code::UPSTREAM,
        &format!("adapter \"{name}\" (replica {replica}) failed: {reason}"),
        id,
    )
}

pub(super) fn too_large(limit: u64, id: Option<Value>) -> Response {
    jsonrpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::TOO_LARGE,
        &format!("the request body is larger than {limit} bytes (proxy.max_body_bytes)"),
        id,
    )
}
