//! MCP client requests to one adapter through the [`AdapterPort`], in the era the adapter
//! speaks: 2026-07-28 (stateless: `server/discover`, routing headers and `_meta` on every
//! request) or a 2025 revision (`initialize`, then the session the data plane hands back).
//!
//! Pure request building and answer reading; which session to use is the caller's business.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use super::sse::{Messages, ReadError};
use crate::infra::auth::Caller;
use crate::services::edge::AdapterPort;
use crate::services::edge::headers::MCP_SESSION_ID;

/// The stateless revision.
pub const STATELESS: &str = "2026-07-28";
/// The newest session revision the gateway asks a 2025-era server for.
pub const SESSIONS: &str = "2025-11-25";
const ACCEPT: &str = "application/json, text/event-stream";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// How an adapter speaks MCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: every request stands alone.
    Stateless,
    /// A 2025 revision (the one the server answered `initialize` with).
    Sessions { version: String },
}

/// The gateway as an MCP client.
pub fn client_info() -> Value {
    json!({"name": "mcp-gateway", "title": "mcp-gateway federation", "version": env!("CARGO_PKG_VERSION")})
}

/// Why an exchange gave no usable answer.
#[derive(Debug)]
pub enum WireError {
    /// The answer's HTTP status was not a success (404 on a session: it is gone).
    Status(StatusCode, String),
    /// No answer within the time allowed.
    Timeout,
    /// The answer could not be read.
    Read(ReadError),
    /// A JSON-RPC error answer: `code`, `message`, `data`.
    Rpc(Value),
    /// The stream ended without the answer.
    NoAnswer,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Status(status, body) => write!(f, "answered {status}: {body}"),
            WireError::Timeout => f.write_str("no answer in time"),
            WireError::Read(err) => write!(f, "{err}"),
            WireError::Rpc(error) => write!(
                f,
                "JSON-RPC error {}: {}",
                error["code"],
                error["message"].as_str().unwrap_or("")
            ),
            WireError::NoAnswer => f.write_str("the answer stream ended without a result"),
        }
    }
}

/// One adapter, seen from the gateway's MCP client.
pub struct Wire<'a> {
    pub port: &'a dyn AdapterPort,
    pub adapter: &'a str,
    pub caller: &'a Caller,
    pub peer: SocketAddr,
}

/// An answer whose status was a success: its session header and its messages.
pub struct Reply {
    pub session: Option<String>,
    pub messages: Messages,
}

impl Wire<'_> {
    /// POSTs one JSON-RPC message in `era` (with `session` for the 2025 era).
    pub async fn post(
        &self,
        era: &Era,
        session: Option<&str>,
        message: &Value,
    ) -> Result<Reply, WireError> {
        self.post_with(era, session, message, Vec::new()).await
    }

    /// [`Wire::post`] with `extra` headers (a stateless call's `Mcp-Param-*`).
    pub async fn post_with(
        &self,
        era: &Era,
        session: Option<&str>,
        message: &Value,
        extra: Vec<(http::HeaderName, HeaderValue)>,
    ) -> Result<Reply, WireError> {
        let body = serde_json::to_vec(message).unwrap_or_default();
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = format!("/adapters/{}/mcp", self.adapter)
            .parse()
            .unwrap_or_default();
        let headers = request.headers_mut();
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let version = match era {
            Era::Stateless => STATELESS,
            Era::Sessions { version } => version,
        };
        if let Ok(value) = HeaderValue::from_str(version) {
            headers.insert("mcp-protocol-version", value);
        }
        if *era == Era::Stateless {
            for (name, value) in routing_headers(message).into_iter().chain(extra) {
                headers.insert(name, value);
            }
        }
        if let Some(session) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
            headers.insert(MCP_SESSION_ID.clone(), session);
        }
        self.send(request).await
    }

    /// GET: a 2025 session's stream of server messages.
    pub async fn listen_session(&self, version: &str, session: &str) -> Result<Reply, WireError> {
        let mut request = Request::new(Body::empty());
        *request.uri_mut() = format!("/adapters/{}/mcp", self.adapter)
            .parse()
            .unwrap_or_default();
        let headers = request.headers_mut();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        if let Ok(value) = HeaderValue::from_str(version) {
            headers.insert("mcp-protocol-version", value);
        }
        if let Ok(session) = HeaderValue::from_str(session) {
            headers.insert(MCP_SESSION_ID.clone(), session);
        }
        self.send(request).await
    }

    /// DELETE: ends a 2025 session (best effort).
    pub async fn end_session(&self, version: &str, session: &str) {
        let mut request = Request::new(Body::empty());
        *request.method_mut() = Method::DELETE;
        *request.uri_mut() = format!("/adapters/{}/mcp", self.adapter)
            .parse()
            .unwrap_or_default();
        if let Ok(value) = HeaderValue::from_str(version) {
            request.headers_mut().insert("mcp-protocol-version", value);
        }
        if let Ok(session) = HeaderValue::from_str(session) {
            request
                .headers_mut()
                .insert(MCP_SESSION_ID.clone(), session);
        }
        let _ = self.send(request).await;
    }

    async fn send(&self, request: Request) -> Result<Reply, WireError> {
        let response = self
            .port
            .exchange(self.caller, self.peer, self.adapter, request)
            .await;
        let status = response.status();
        let session = response
            .headers()
            .get(&MCP_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut messages = Messages::new(response.into_body(), &content_type);
        if !status.is_success() {
            // The data plane's own refusals (and most servers') carry a JSON-RPC error: quote it.
            let said = match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                Ok(Ok(Some(message))) => message["error"]["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| message.to_string()),
                _ => String::new(),
            };
            return Err(WireError::Status(status, said));
        }
        Ok(Reply { session, messages })
    }

    /// A request and its one result: the messages before it are skipped (listing and
    /// handshakes need no progress). JSON-RPC errors come back as [`WireError::Rpc`].
    pub async fn request(
        &self,
        era: &Era,
        session: Option<&str>,
        message: &Value,
        timeout: Duration,
    ) -> Result<(Option<String>, Value), WireError> {
        let exchange = async {
            let mut reply = self.post(era, session, message).await?;
            loop {
                match reply.messages.next().await.map_err(WireError::Read)? {
                    None => return Err(WireError::NoAnswer),
                    Some(answer) if answer.get("id") == message.get("id") => {
                        return match answer.get("error") {
                            Some(error) => Err(WireError::Rpc(error.clone())),
                            None => Ok((
                                reply.session,
                                answer.get("result").cloned().unwrap_or(Value::Null),
                            )),
                        };
                    }
                    Some(_) => continue,
                }
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| WireError::Timeout)?
    }
}

/// A JSON-RPC request `method` with `params`, shaped for `era` (the 2026 `_meta` keys set, or
/// removed for a 2025 server, whatever the client sent).
pub fn message(id: &Value, method: &str, mut params: Map<String, Value>, era: &Era) -> Value {
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.retain(|key, _| !key.starts_with("io.modelcontextprotocol/"));
        if *era == Era::Stateless {
            meta.insert(META_VERSION.into(), json!(STATELESS));
            meta.insert(META_CLIENT_INFO.into(), client_info());
            meta.insert(META_CAPABILITIES.into(), json!({}));
        }
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A notification in `era`.
pub fn notification(method: &str, params: Option<Value>) -> Value {
    match params {
        Some(params) => json!({"jsonrpc": "2.0", "method": method, "params": params}),
        None => json!({"jsonrpc": "2.0", "method": method}),
    }
}

/// `Mcp-Method`, `Mcp-Name` and the `Mcp-Param-*` headers a 2026-07-28 request carries.
fn routing_headers(message: &Value) -> Vec<(http::HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    let Some(method) = message["method"].as_str() else {
        return out;
    };
    if let Ok(value) = HeaderValue::from_str(method) {
        out.push((http::HeaderName::from_static("mcp-method"), value));
    }
    let name = match method {
        "tools/call" | "prompts/get" => message["params"]["name"].as_str(),
        "resources/read" => message["params"]["uri"].as_str(),
        _ => None,
    };
    if let Some(value) = name.and_then(|n| HeaderValue::from_str(n).ok()) {
        out.push((http::HeaderName::from_static("mcp-name"), value));
    }
    out
}

/// `Mcp-Param-*` headers for the arguments the tool's `inputSchema` marks with `x-mcp-header`
/// (top-level properties with a plain value; a value that cannot be a header is left out).
pub fn param_headers(
    input_schema: &Map<String, Value>,
    arguments: &Map<String, Value>,
) -> Vec<(http::HeaderName, HeaderValue)> {
    let Some(Value::Object(properties)) = input_schema.get("properties") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (property, schema) in properties {
        let Some(header_name) = schema.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let value = match arguments.get(property) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => continue,
        };
        let name = http::HeaderName::from_bytes(format!("mcp-param-{header_name}").as_bytes());
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(&value)) {
            out.push((name, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stateless_messages_carry_their_meta_and_headers() {
        let mut params = Map::new();
        params.insert("name".into(), json!("add"));
        params.insert(
            "_meta".into(),
            json!({"progressToken": 7, "io.modelcontextprotocol/protocolVersion": "2025-06-18",
                   "traceparent": "00-abc"}),
        );
        let stateless = message(&json!(1), "tools/call", params.clone(), &Era::Stateless);
        let meta = &stateless["params"]["_meta"];
        assert_eq!(meta[META_VERSION], STATELESS);
        assert_eq!(meta["progressToken"], 7);
        assert_eq!(meta["traceparent"], "00-abc");
        assert_eq!(meta[META_CLIENT_INFO]["name"], "mcp-gateway");
        let headers = routing_headers(&stateless);
        assert_eq!(headers[0].1, "tools/call");
        assert_eq!(headers[1].1, "add");

        let old = Era::Sessions {
            version: "2025-06-18".into(),
        };
        let session = message(&json!(2), "tools/call", params, &old);
        let meta = session["params"]["_meta"].as_object().expect("meta");
        assert!(
            meta.keys()
                .all(|k| !k.starts_with("io.modelcontextprotocol/"))
        );
        assert_eq!(meta["progressToken"], 7);
        let bare = message(&json!(3), "tools/list", Map::new(), &old);
        assert!(bare["params"].get("_meta").is_none());
    }

    #[test]
    fn marked_arguments_become_param_headers() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "note": {"type": "string"},
            "bad": {"type": "string", "x-mcp-header": "Bad"}}});
        let arguments = json!({"region": "eu-west", "count": 3, "note": "x", "bad": "a\nb"});
        let headers = param_headers(
            schema.as_object().expect("object"),
            arguments.as_object().expect("object"),
        );
        let names: Vec<_> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("")))
            .collect();
        assert!(
            names.contains(&("mcp-param-region", "eu-west")),
            "{names:?}"
        );
        assert!(names.contains(&("mcp-param-count", "3")), "{names:?}");
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
