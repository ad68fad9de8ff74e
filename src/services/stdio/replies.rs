//! The bridge's own answers: JSON-RPC errors with the right status, acknowledgements.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::domain::model::Resource;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};

use super::sessions::SessionError;

pub(super) fn json_response(message: &Value) -> Response {
    let mut response = Response::new(Body::from(message.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(super) fn accepted() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

pub(super) fn bad_request(code: i64, message: &str, id: Option<Value>) -> Response {
    jsonrpc_error(StatusCode::BAD_REQUEST, code, message, id)
}

pub(super) fn method_not_allowed() -> Response {
    let mut response = jsonrpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        -32600,
        "GET and DELETE need a 2025 session (Mcp-Session-Id)",
        None,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

pub(super) fn no_ready_replica(name: &str, id: Option<Value>) -> Response {
    let mut response = jsonrpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        code::UNAVAILABLE,
        &format!(
            "adapter \"{name}\" has no running stdio replica yet; see GET /adapters/{name}/status"
        ),
        id,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

pub(super) fn session_error(adapter: &Resource, err: SessionError) -> Response {
    adapter.metrics.session_rejected();
    let message = match err {
        SessionError::Unknown => "Session not found: initialize a new session",
        SessionError::Gone => {
            "Session not found: its stdio server process has ended; initialize a new session"
        }
    };
    jsonrpc_error(StatusCode::NOT_FOUND, code::NOT_FOUND, message, None)
}
