//! Errors of the MCP endpoints as MCP clients expect them: an HTTP status plus a JSON-RPC error body.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// A JSON-RPC error response with `status`; `id` is the request's id when known.
pub fn jsonrpc_error(status: StatusCode, code: i64, message: &str, id: Option<Value>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": {"code": code, "message": message},
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The `id` of a JSON-RPC request body, if it has one.
pub fn request_id(body: &[u8]) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<Value>,
    }
    serde_json::from_slice::<IdOnly>(body).ok()?.id
}

/// JSON-RPC error codes used by the gateway (implementation-defined range).
pub mod code {
    pub const NOT_FOUND: i64 = -32001;
    pub const UNAVAILABLE: i64 = -32002;
    pub const FORBIDDEN: i64 = -32003;
    pub const UPSTREAM: i64 = -32004;
    pub const TOO_LARGE: i64 = -32005;
    pub const UNAUTHENTICATED: i64 = -32006;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_when_present() {
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","id":7,"method":"x"}"#),
            Some(json!(7))
        );
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","id":"a","method":"x"}"#),
            Some(json!("a"))
        );
        assert_eq!(request_id(br#"{"jsonrpc":"2.0","method":"notify"}"#), None);
        assert_eq!(request_id(b"[1,2]"), None);
        assert_eq!(request_id(b"garbage"), None);
    }
}
