//! A small MCP client for tests: the official Rust SDK (rmcp) over Streamable HTTP, so tests
//! talk to servers (and the gateway's proxy) exactly as a real client does.

use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

/// An initialized MCP session. Dropping it ends the session.
pub type Session = RunningService<RoleClient, ()>;

/// How long one step (initialize, one call) may take before the helper gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Connects to the MCP endpoint `url` (e.g. `http://127.0.0.1:49153/mcp`) and initializes.
pub async fn connect(url: &str) -> Result<Session, String> {
    let transport = StreamableHttpClientTransport::from_uri(url.to_string());
    match tokio::time::timeout(STEP_TIMEOUT, ().serve(transport)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(err)) => Err(format!("initialize at {url} failed: {err}")),
        Err(_) => Err(format!(
            "initialize at {url} took longer than {STEP_TIMEOUT:?}"
        )),
    }
}

/// Connects to `url` as a stateless 2026-07-28 client (`server/discover`, no session).
pub async fn connect_stateless(url: &str) -> Result<Session, String> {
    use rmcp::ClientServiceExt;
    use rmcp::model::ProtocolVersion;
    let transport = StreamableHttpClientTransport::from_uri(url.to_string());
    let lifecycle = rmcp::ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    match tokio::time::timeout(STEP_TIMEOUT, ().serve_with_lifecycle(transport, lifecycle)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(err)) => Err(format!("server/discover at {url} failed: {err}")),
        Err(_) => Err(format!(
            "server/discover at {url} took longer than {STEP_TIMEOUT:?}"
        )),
    }
}

/// Calls `tool` with `arguments` (a JSON object, or `null` for none).
pub async fn call(
    session: &Session,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, String> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    match tokio::time::timeout(STEP_TIMEOUT, session.call_tool(params)).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(err)) => Err(format!("tools/call {tool} failed: {err}")),
        Err(_) => Err(format!(
            "tools/call {tool} took longer than {STEP_TIMEOUT:?}"
        )),
    }
}

/// Connects, calls `tool` once and closes: the one-line end-to-end check.
pub async fn call_once(url: &str, tool: &str, arguments: Value) -> Result<CallToolResult, String> {
    let session = connect(url).await?;
    let result = call(&session, tool, arguments).await;
    let _ = session.cancel().await;
    result
}

/// The text of the result's first text block (`""` if there is none).
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .find_map(|block| block.as_text().map(|text| text.text.clone()))
        .unwrap_or_default()
}

/// Whether the server reported a tool error (`isError: true`).
pub fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}
