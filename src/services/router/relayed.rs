//! `tools/call` and `prompts/get` on federated names: the request handed to the federation's
//! relay with what it needs from the rmcp request (the caller, whose session it is, progress,
//! cancellation), and the upstream's answer turned back into rmcp's types unchanged.

use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorCode, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, InputRequiredResult, ResultType,
};
use rmcp::service::RequestContext;
use serde_json::{Map, Value, json};

use super::Core;
use super::federation::LOCAL_PEER;
use super::federation::relay::{Failure, Progress, Relayed};
use super::federation::sessions::ClientKey;
use super::federation::wire::{self, Era};
use super::table::{ToolEntry, Upstream};
use crate::domain::counters::CallOutcome;
use crate::infra::auth::Caller;

/// Whose upstream sessions a request uses: its `/mcp` session's, or (stateless) its user's.
fn client_key(caller: &Caller, context: &RequestContext<RoleServer>) -> ClientKey {
    let session = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok());
    match session {
        Some(id) => ClientKey::Session(id.to_string()),
        None => ClientKey::User(caller.user_id.clone()),
    }
}

fn relayed<'a>(
    caller: &'a Caller,
    context: &RequestContext<RoleServer>,
    upstream: &'a Upstream,
    method: &'static str,
    params: Map<String, Value>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
) -> Relayed<'a> {
    let progress = context.meta.get_progress_token().map(|token| Progress {
        peer: context.peer.clone(),
        token,
    });
    Relayed {
        caller,
        peer: super::handler::client_address(&context.extensions).unwrap_or(LOCAL_PEER),
        key: client_key(caller, context),
        adapter: &upstream.adapter,
        era: &upstream.era,
        method,
        params,
        headers,
        progress,
        cancel: context.ct.clone(),
    }
}

/// The params of the upstream request: the caller's (arguments, `inputResponses`,
/// `requestState`, anything else), with the upstream's own `name` and the caller's `_meta`.
fn params(
    request: impl serde::Serialize,
    name: &str,
    context: &RequestContext<RoleServer>,
) -> Map<String, Value> {
    let mut params = match serde_json::to_value(request) {
        Ok(Value::Object(params)) => params,
        _ => Map::new(),
    };
    params.insert("name".into(), json!(name));
    params.remove("_meta");
    if let Ok(Value::Object(meta)) = serde_json::to_value(&context.meta)
        && !meta.is_empty()
    {
        params.insert("_meta".into(), Value::Object(meta));
    }
    params
}

/// Whether an upstream result asks the client for input (2026-07-28 multi-round-trip).
fn input_required(result: &Value) -> Option<InputRequiredResult> {
    (result["resultType"] == "input_required")
        .then(|| serde_json::from_value(result.clone()).ok())
        .flatten()
}

fn failed(upstream: &Upstream, failure: Failure) -> McpError {
    match failure {
        Failure::Rpc(error) => McpError::new(
            ErrorCode(
                error["code"]
                    .as_i64()
                    .and_then(|c| i32::try_from(c).ok())
                    .unwrap_or(-32603),
            ),
            error["message"].as_str().unwrap_or("").to_string(),
            error.get("data").cloned(),
        ),
        Failure::Unavailable(words) => McpError::internal_error(words, None),
        Failure::Cancelled => McpError::internal_error(
            format!(
                "the request to adapter \"{}\" was cancelled",
                upstream.adapter
            ),
            None,
        ),
    }
}

/// A federated `tools/call`: the upstream's result as it is (a tool error stays a tool error; a
/// JSON-RPC error stays that error; an `input_required` result goes back to the caller), and
/// how it counts on the adapter.
pub async fn call_tool(
    core: &Core,
    entry: &ToolEntry,
    upstream: &Upstream,
    caller: &Caller,
    request: CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> (Result<CallToolResponse, McpError>, CallOutcome) {
    let headers = match (&upstream.era, &request.arguments) {
        (Era::Stateless, Some(arguments)) => {
            wire::param_headers(&entry.tool.input_schema, arguments)
        }
        _ => Vec::new(),
    };
    let params = params(&request, &upstream.name, context);
    let relayed = relayed(caller, context, upstream, "tools/call", params, headers);
    let result = match core.federation.relay(relayed).await {
        Ok(result) => result,
        Err(failure) => {
            let outcome = match &failure {
                Failure::Rpc(_) => CallOutcome::ToolError,
                _ => CallOutcome::UpstreamFailure,
            };
            return (Err(failed(upstream, failure)), outcome);
        }
    };
    if let Some(asking) = input_required(&result) {
        return (Ok(asking.into()), CallOutcome::Ok);
    }
    match serde_json::from_value::<CallToolResult>(result) {
        Ok(mut result) => {
            // A 2025 server's result has no resultType; a 2026-07-28 client needs one.
            result.result_type.get_or_insert(ResultType::COMPLETE);
            let outcome = match result.is_error {
                Some(true) => CallOutcome::ToolError,
                _ => CallOutcome::Ok,
            };
            (Ok(result.into()), outcome)
        }
        Err(err) => (
            Err(McpError::internal_error(
                format!(
                    "adapter \"{}\" answered a tools/call result that is not MCP: {err}",
                    upstream.adapter
                ),
                None,
            )),
            CallOutcome::UpstreamFailure,
        ),
    }
}

/// A federated `prompts/get`.
pub async fn get_prompt(
    core: &Core,
    upstream: &Upstream,
    caller: &Caller,
    request: GetPromptRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<GetPromptResponse, McpError> {
    let params = params(&request, &upstream.name, context);
    let relayed = relayed(caller, context, upstream, "prompts/get", params, Vec::new());
    let result = core
        .federation
        .relay(relayed)
        .await
        .map_err(|failure| failed(upstream, failure))?;
    if let Some(asking) = input_required(&result) {
        return Ok(asking.into());
    }
    let mut result: GetPromptResult = serde_json::from_value(result).map_err(|err| {
        McpError::internal_error(
            format!(
                "adapter \"{}\" answered a prompts/get result that is not MCP: {err}",
                upstream.adapter
            ),
            None,
        )
    })?;
    result.result_type.get_or_insert(ResultType::COMPLETE);
    Ok(result.into())
}
