//! Raw MCP over HTTP for tests that must see exactly what crosses the wire: statuses, headers,
//! session tokens. (tests/common/mcp.rs is the official rmcp client for everything else.)

use reqwest::StatusCode;
use serde_json::{Value, json};

pub const ACCEPT: &str = "application/json, text/event-stream";

/// A raw JSON-RPC exchange: status, headers and every JSON-RPC message in the body (JSON or SSE).
pub struct Exchange {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub messages: Vec<Value>,
}

impl Exchange {
    pub fn session(&self) -> Option<String> {
        self.headers
            .get("mcp-session-id")
            .map(|v| v.to_str().expect("ascii").to_string())
    }

    /// The message answering request `id`.
    pub fn response(&self, id: i64) -> &Value {
        self.messages
            .iter()
            .find(|m| m["id"] == json!(id))
            .unwrap_or_else(|| panic!("no response with id {id} in {:?}", self.messages))
    }
}

pub fn parse_messages(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("text/event-stream") {
        body.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .filter(|data| !data.is_empty())
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect()
    } else {
        serde_json::from_str(body)
            .map(|v| vec![v])
            .unwrap_or_default()
    }
}

pub async fn rpc(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: Value,
) -> Exchange {
    let mut request = http
        .post(url)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.json(&body).send().await.expect("send");
    read(response).await.expect("body")
}

/// The status, headers and every JSON-RPC message of `response`.
pub async fn read(response: reqwest::Response) -> Result<Exchange, reqwest::Error> {
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await?;
    Ok(Exchange {
        status,
        headers,
        messages: parse_messages(&content_type, &text),
    })
}

pub fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"}}})
}

/// initialize + notifications/initialized; returns the gateway's session token.
pub async fn open_session(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> String {
    let init = rpc(http, url, None, headers, initialize_body()).await;
    assert_eq!(init.status, StatusCode::OK, "{:?}", init.messages);
    let token = init.session().expect("a session token");
    let note = rpc(
        http,
        url,
        Some(&token),
        headers,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(note.status, StatusCode::ACCEPTED);
    token
}

pub async fn call_add(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    id: i64,
) -> Exchange {
    rpc(
        http,
        url,
        Some(token),
        headers,
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}),
    )
    .await
}

pub fn result_text(message: &Value) -> String {
    message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result in {message}"))
        .to_string()
}

/// `tools/call` of `tool` with `arguments` in session `token`.
pub async fn call_tool(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    tool: &str,
    arguments: Value,
    id: i64,
) -> Exchange {
    rpc(
        http,
        url,
        Some(token),
        &[],
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": arguments}}),
    )
    .await
}

/// The revision of stateless requests (no session, everything in each request).
pub const STATELESS: &str = "2026-07-28";

/// A stateless (2026-07-28) `tools/call` of `tool`: no session, the routing headers and the
/// per-request `_meta` the revision asks for. Returns the status and the answer's messages.
pub async fn stateless_call(
    http: &reqwest::Client,
    url: &str,
    tool: &str,
    arguments: Value,
    id: i64,
) -> Result<Exchange, reqwest::Error> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
    "name": tool, "arguments": arguments,
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    }}});
    let response = http
        .post(url)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", STATELESS)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
        .send()
        .await?;
    read(response).await
}
