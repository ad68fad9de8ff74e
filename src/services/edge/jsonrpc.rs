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

/// The `id` of a JSON-RPC request body, if it is a request object with an id JSON-RPC allows
/// (a string or a number): what an error response echoes. Anything else (a batch, a notification,
/// an id of another type, a body that is not JSON) has none, and the error says `null`, as
/// JSON-RPC 2.0 asks when the id cannot be read. Only the id is kept; the rest is skipped.
pub fn request_id(body: &[u8]) -> Option<Value> {
    struct IdOf;
    impl<'de> serde::de::Visitor<'de> for IdOf {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON-RPC request object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut id = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "id" {
                    // The last one wins, as for any JSON object read whole.
                    id = Some(map.next_value::<Value>()?);
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(id)
        }
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let id = serde::Deserializer::deserialize_map(&mut reader, IdOf).ok()?;
    reader.end().ok()?;
    id.filter(|id| id.is_string() || id.is_number())
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
        assert_eq!(request_id(br#"{"id":7} trailing"#), None);
        assert_eq!(request_id(br#"{"id":1,"id":2}"#), Some(json!(2)));
        assert_eq!(
            request_id(br#"{"a":{"id":3},"id":"\u00e9"}"#),
            Some(json!("é"))
        );
    }

    #[test]
    fn only_ids_json_rpc_allows_are_echoed() {
        // Found by the property tests: a one-request batch gave the whole request as its "id",
        // and ids of other types were echoed into error responses.
        assert_eq!(
            request_id(br#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#),
            None
        );
        assert_eq!(request_id(b"[7]"), None);
        for id in ["null", "true", "[1]", r#"{"a":1}"#] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"x"}}"#);
            assert_eq!(request_id(body.as_bytes()), None, "{id}");
        }
        assert_eq!(request_id(br#"{"id":-1.5}"#), Some(json!(-1.5)));
    }
}
