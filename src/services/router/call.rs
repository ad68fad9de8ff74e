//! `tools/call` on the wire to a tool server: pick where to send it, POST the arguments, and turn
//! whatever comes back (or does not) into a `CallToolResult`.
//!
//! The tool server gets the arguments as its JSON body, the caller's identity as `X-Mcp-UserId` /
//! `X-Mcp-Roles` (built by [`crate::services::edge::headers`], like the data plane), its own `Host`, and
//! never the caller's token or cookies. Every failure is a tool error (`isError: true`) in words,
//! because a protocol error would hide the reason from the user.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use http_body_util::{BodyExt, Limited};
use mcp_gateway_runtimes::WorkloadKind;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::Value;

use super::Core;
use super::table::ToolEntry;
use crate::domain::counters::CallOutcome;
use crate::infra::auth::Caller;
use crate::infra::http_client::{self, HttpClient, OutBody};
use crate::services::edge::headers::{self, Identity};

/// The largest tool-server answer read; a bigger one is a tool error rather than unbounded
/// memory in the gateway.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// How much of a failed answer's body is quoted in the tool error.
const EXCERPT_CHARS: usize = 300;

/// Where one call goes.
struct Target {
    /// The replica index, or `None` for a `url` tool.
    instance: Option<u32>,
    uri: Uri,
}

/// Calls the tool server of `entry` with `arguments` on behalf of `caller`. `peer` is the client's
/// socket address (for `Forwarded`). Never fails: every outcome is a `CallToolResult`, told
/// apart for `/metrics` by the [`CallOutcome`] beside it.
pub async fn invoke(
    core: &Core,
    entry: &ToolEntry,
    caller: &Caller,
    peer: Option<SocketAddr>,
    arguments: &JsonObject,
) -> (CallToolResult, CallOutcome) {
    let name = entry.name();
    let no_answer = |message: String| (tool_error(message), CallOutcome::UpstreamFailure);
    let body = match serde_json::to_vec(arguments) {
        Ok(body) => Bytes::from(body),
        Err(err) => return no_answer(format!("cannot encode the arguments: {err}")),
    };
    let Some(mut target) = pick_target(core, entry, None) else {
        core.observed.wake();
        return no_answer(format!(
            "tool \"{name}\" has no ready replica yet; try again shortly (see GET /tools/{name}/status)"
        ));
    };
    let identity = Identity {
        user_id: &caller.user_id,
        roles: &caller.roles,
    };
    let forwarded = peer
        .map(|peer| headers::forwarded_element(peer, None, "http"))
        .unwrap_or_default();

    let mut retried = false;
    loop {
        let request = build_request(&target.uri, &identity, &forwarded, body.clone());
        let request = match request {
            Ok(request) => request,
            Err(err) => {
                return no_answer(format!(
                    "cannot build the request to tool \"{name}\": {err}"
                ));
            }
        };
        // A `url` tool is reached through the upstream address policy; replicas are the
        // gateway's own.
        let client = match target.instance {
            Some(_) => &core.http,
            None => &core.remote,
        };
        let failure = match tokio::time::timeout(core.call_timeout, exchange(client, request)).await
        {
            Ok(Ok((status, body))) => return answered(entry, status, &body),
            Ok(Err(Failure::Connect(reason))) => {
                tracing::warn!(tool = name, replica = ?target.instance, %reason, "tool server unreachable");
                // A refused connection delivered nothing, so another replica may safely get it.
                if let Some(instance) = target.instance {
                    core.observed.wake();
                    if !retried && let Some(other) = pick_target(core, entry, Some(instance)) {
                        retried = true;
                        target = other;
                        continue;
                    }
                }
                Failure::Connect(reason)
            }
            Ok(Err(failure)) => failure,
            Err(_) => Failure::Timeout,
        };
        return no_answer(failure.describe(name, core.call_timeout));
    }
}

/// The result of a tool server's answer, and how it counts.
fn answered(entry: &ToolEntry, status: StatusCode, body: &[u8]) -> (CallToolResult, CallOutcome) {
    let outcome = if status.is_success() {
        CallOutcome::Ok
    } else {
        CallOutcome::ToolError
    };
    (
        tool_result(status, body, entry.has_output_schema()),
        outcome,
    )
}

/// Why a tool server gave no answer.
enum Failure {
    Connect(String),
    TooLarge,
    Timeout,
    Other(String),
}

impl Failure {
    /// The tool error's words for `tool`.
    fn describe(self, tool: &str, timeout: std::time::Duration) -> String {
        match self {
            Failure::Connect(reason) => {
                format!("tool \"{tool}\" is unreachable: connection failed ({reason})")
            }
            Failure::TooLarge => {
                format!("tool \"{tool}\" answered with more than {MAX_RESPONSE_BYTES} bytes")
            }
            Failure::Timeout => format!(
                "tool \"{tool}\" timed out: no answer within {} s (router.call_timeout_secs)",
                timeout.as_secs()
            ),
            Failure::Other(reason) => format!("tool \"{tool}\" failed: {reason}"),
        }
    }
}

async fn exchange(
    client: &HttpClient,
    request: http::Request<OutBody>,
) -> Result<(StatusCode, Bytes), Failure> {
    let response = client.request(request).await.map_err(|err| {
        let reason = http_client::describe_client_error(&err);
        if err.is_connect() {
            Failure::Connect(reason.trim_start_matches("cannot connect: ").to_string())
        } else {
            Failure::Other(reason)
        }
    })?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|err| {
            if err.is::<http_body_util::LengthLimitError>() {
                Failure::TooLarge
            } else {
                Failure::Other(format!("reading the answer failed: {err}"))
            }
        })?;
    Ok((status, body.to_bytes()))
}

fn build_request(
    uri: &Uri,
    identity: &Identity<'_>,
    forwarded: &str,
    body: Bytes,
) -> Result<http::Request<OutBody>, http::Error> {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    // Start from no client headers at all: a tool server is plain HTTP, not MCP, and must see
    // only what the gateway vouches for.
    let mut headers = HeaderMap::new();
    headers::upstream_request(&mut headers, authority, identity, forwarded, None);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let mut request = http::Request::post(uri.clone()).body(http_client::full(body))?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The tool's `url`, or a ready replica in turn (skipping `except`).
fn pick_target(core: &Core, entry: &ToolEntry, except: Option<u32>) -> Option<Target> {
    let spec = &entry.resource.spec;
    if let Some(url) = &spec.url {
        return url.parse().ok().map(|uri| Target {
            instance: None,
            uri,
        });
    }
    let path = spec.endpoint_path();
    let endpoints = core.observed.endpoints(WorkloadKind::Tool, entry.name())?;
    let endpoint = core.balancer.pick(&endpoints, except)?;
    format!("{}{path}", endpoint.base_url)
        .parse()
        .ok()
        .map(|uri| Target {
            instance: Some(endpoint.instance),
            uri,
        })
}

/// A tool server's answer as a result: 2xx → its body as text (and as `structuredContent` when
/// it is a JSON object and the tool declares an `outputSchema`); otherwise a tool error with the
/// status and the start of the body.
pub fn tool_result(status: StatusCode, body: &[u8], structured: bool) -> CallToolResult {
    let text = String::from_utf8_lossy(body).into_owned();
    if !status.is_success() {
        let excerpt = excerpt(text.trim());
        let status_text = match status.canonical_reason() {
            Some(reason) => format!("{} {reason}", status.as_u16()),
            None => status.as_u16().to_string(),
        };
        return tool_error(if excerpt.is_empty() {
            format!("the tool server answered {status_text}")
        } else {
            format!("the tool server answered {status_text}: {excerpt}")
        });
    }
    let structured_content = structured
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten()
        .filter(Value::is_object);
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = structured_content;
    result
}

/// A tool error (`isError: true`) saying `message`.
pub fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(result: &CallToolResult) -> Value {
        serde_json::to_value(result).expect("serialises")
    }

    #[test]
    fn success_is_text_and_structured_only_with_an_output_schema() {
        let body = br#"{"temperature":72.0}"#;
        let plain = json(&tool_result(StatusCode::OK, body, false));
        assert_eq!(plain["content"][0]["type"], "text");
        assert_eq!(plain["content"][0]["text"], r#"{"temperature":72.0}"#);
        assert!(plain.get("structuredContent").is_none());
        assert_ne!(plain["isError"], true);
        let structured = json(&tool_result(StatusCode::OK, body, true));
        assert_eq!(structured["structuredContent"]["temperature"], 72.0);
        // Only objects become structuredContent.
        let array = json(&tool_result(StatusCode::OK, b"[1,2]", true));
        assert!(array.get("structuredContent").is_none());
    }

    #[test]
    fn failures_carry_status_and_excerpt() {
        let bad = json(&tool_result(
            StatusCode::BAD_REQUEST,
            br#"{"detail":"unit must be fahrenheit or celsius"}"#,
            false,
        ));
        assert_eq!(bad["isError"], true);
        let text = bad["content"][0]["text"].as_str().expect("text");
        assert!(text.contains("400 Bad Request"), "{text}");
        assert!(text.contains("unit must be"), "{text}");
        let long = "x".repeat(5000);
        let cut = json(&tool_result(
            StatusCode::BAD_GATEWAY,
            long.as_bytes(),
            false,
        ));
        let text = cut["content"][0]["text"].as_str().expect("text");
        assert!(text.len() < 400, "{}", text.len());
        let empty = json(&tool_result(StatusCode::INTERNAL_SERVER_ERROR, b"", false));
        assert_eq!(
            empty["content"][0]["text"],
            "the tool server answered 500 Internal Server Error"
        );
    }
}
