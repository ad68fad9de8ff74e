//! What the stdio bridge knows of MCP messages, as small pure functions on JSON values: which
//! era a request belongs to, the answers made from a server's `initialize` result
//! (`initialize` for 2025 clients, `server/discover` for 2026-07-28 ones), the translation of a
//! 2026-07-28 request to a 2025 server and of its result back, and the rewriting of ids and
//! progress tokens. Everything else in a message passes as it is.

use serde_json::{Value, json};

/// The stateless revision.
pub const STATELESS: &str = "2026-07-28";
/// What the gateway asks a stdio server for at `initialize` (it answers with its own when it
/// does not speak this one).
pub const ASKED_REVISION: &str = "2025-11-25";
/// The revisions the gateway serves its clients, newest first.
pub const SERVED_REVISIONS: &[&str] = &[STATELESS, "2025-11-25", "2025-06-18", "2025-03-26"];

/// `_meta` keys of 2026-07-28 requests that carry what `initialize` carried before; a 2025
/// server was told all of it once, at the gateway's `initialize`.
const STATELESS_META: &[&str] = &[
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/logLevel",
];
const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";

/// The methods whose results are lists, which carry `ttlMs` and `cacheScope` in 2026-07-28.
const LIST_METHODS: &[&str] = &[
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
];

/// One JSON-RPC message, by shape.
#[derive(Debug, PartialEq)]
pub enum Kind<'a> {
    /// A request: `method` and `id`.
    Request { method: &'a str, id: &'a Value },
    /// A notification: `method`, no `id`.
    Notification { method: &'a str },
    /// A response (`result` or `error`) to the id.
    Response { id: &'a Value },
    /// Anything else.
    Invalid,
}

pub fn kind(message: &Value) -> Kind<'_> {
    let method = message.get("method").and_then(Value::as_str);
    let id = message
        .get("id")
        .filter(|id| id.is_string() || id.is_number());
    match (method, id) {
        (Some(method), Some(id)) => Kind::Request { method, id },
        (Some(method), None) if message.get("id").is_none() => Kind::Notification { method },
        (None, Some(id)) if message.get("result").is_some() || message.get("error").is_some() => {
            Kind::Response { id }
        }
        _ => Kind::Invalid,
    }
}

/// Whether a request (not `initialize`) is of the stateless era: its `_meta` names 2026-07-28 or
/// later, or (without that) its `MCP-Protocol-Version` header does.
pub fn is_stateless(message: &Value, header_version: Option<&str>) -> bool {
    if message.get("method").and_then(Value::as_str) == Some("initialize") {
        return false;
    }
    let meta_version = message
        .pointer("/params/_meta")
        .and_then(|meta| meta.get(STATELESS_META[0]))
        .and_then(Value::as_str);
    meta_version
        .or(header_version)
        .is_some_and(|version| version >= STATELESS)
}

/// The `initialize` answer for a 2025 client, from the server's own: the server's result with
/// the revision the client asked for when the server speaks it (it speaks every revision up to
/// its own), else the server's.
pub fn initialize_result(server: &Value, asked: Option<&str>) -> Value {
    let mut result = server.clone();
    let own = server
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or("2025-03-26");
    let version = match asked {
        Some(asked) if asked <= own && SERVED_REVISIONS[1..].contains(&asked) => asked,
        _ => own,
    };
    result["protocolVersion"] = json!(version);
    result
}

/// The `server/discover` answer for a 2026-07-28 client, from the server's `initialize` result.
pub fn discover_result(server: &Value) -> Value {
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": SERVED_REVISIONS,
        "capabilities": server.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": {SERVER_INFO_META: server.get("serverInfo").cloned().unwrap_or_else(|| json!({}))},
    });
    if let Some(instructions) = server.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    result
}

/// A 2026-07-28 request made fit for a 2025 server: the `_meta` keys that stand for
/// `initialize` are dropped (the gateway initialized the server); everything else stays.
pub fn to_session_era(message: &mut Value) {
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    let empty = match params.get_mut("_meta").and_then(Value::as_object_mut) {
        Some(meta) => {
            for key in STATELESS_META {
                meta.remove(*key);
            }
            meta.is_empty()
        }
        None => false,
    };
    if empty {
        params.remove("_meta");
    }
}

/// A 2025 server's result made fit for a 2026-07-28 client: `resultType` (`complete`), and on
/// list results `ttlMs`/`cacheScope` (`0`/`private`: never cached, never shared across
/// authorization contexts), each only when the server gave none.
pub fn to_stateless_result(method: &str, result: &mut Value) {
    let Some(object) = result.as_object_mut() else {
        return;
    };
    object
        .entry("resultType")
        .or_insert_with(|| json!("complete"));
    if LIST_METHODS.contains(&method) {
        object.entry("ttlMs").or_insert_with(|| json!(0));
        object
            .entry("cacheScope")
            .or_insert_with(|| json!("private"));
    }
}

/// The request's progress token (`params._meta.progressToken`), replaced by `token`.
pub fn swap_progress_token(message: &mut Value, token: Value) -> Option<Value> {
    let slot = message
        .get_mut("params")?
        .get_mut("_meta")?
        .as_object_mut()?
        .get_mut("progressToken")?;
    Some(std::mem::replace(slot, token))
}

/// The progress token of a `notifications/progress`, replaced by `token`.
pub fn swap_notified_token(message: &mut Value, token: Value) -> Option<Value> {
    let slot = message.get_mut("params")?.get_mut("progressToken")?;
    Some(std::mem::replace(slot, token))
}

/// A JSON-RPC error response.
pub fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A JSON-RPC result response.
pub fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The `initialize` request the gateway sends a stdio server once per process. It declares no
/// client capabilities: the process is shared, so no one client's roots, sampling or
/// elicitation can stand for all (see the README's sharing rules).
pub fn initialize_request(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": ASKED_REVISION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION")},
        },
    })
}

pub fn initialized_notification() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
