//! The example server's MCP tools: `add`, `echo`, `slow`, `whoami` and `env`.
//!
//! Each tool is chosen to test one thing a proxy must get right; none touches the network.
//! Bad input that parses is reported as a tool error (`isError: true`), as the spec asks;
//! arguments that don't match the schema are rejected by rmcp with JSON-RPC -32602.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{
        CallToolResult, ContentBlock, InitializeRequestParams, InitializeResult,
        ProgressNotificationParam, RequestMetaObject,
    },
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::log;

/// Upper bounds for `slow`, so a test typo can't tie a server up for hours.
const MAX_STEPS: u32 = 100;
const MAX_DELAY_MS: u64 = 10_000;

/// Who this process is, fixed at start so `whoami` can tell replicas apart.
#[derive(Debug, Clone)]
pub struct Identity {
    hostname: String,
    instance: String,
    pid: u32,
}

impl Identity {
    /// Reads the hostname and picks the instance id (`MCP_INSTANCE_ID` or a random one).
    pub fn detect() -> Arc<Self> {
        // `HOSTNAME` first: container runtimes and Kubernetes set it to the container or pod
        // name, while a runtime that starts the server as a plain process may share the
        // machine's /etc/hostname with its siblings.
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        let instance = std::env::var("MCP_INSTANCE_ID")
            .ok()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(random_id);
        Arc::new(Self {
            hostname,
            instance,
            pid: std::process::id(),
        })
    }
}

/// A 16-hex-digit id that differs between processes; std's `RandomState` is seeded from the
/// OS, which is random enough to tell replicas apart without another dependency.
fn random_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// First addend.
    pub a: f64,
    /// Second addend.
    pub b: f64,
}

/// Arguments of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// Text to send back unchanged.
    pub message: String,
}

/// Arguments of `slow`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlowArgs {
    /// Number of progress steps (0–100).
    #[serde(default = "default_steps")]
    #[schemars(range(max = 100))]
    pub steps: u32,
    /// Milliseconds to wait between steps (0–10000).
    #[serde(default = "default_delay_ms")]
    #[schemars(range(max = 10000))]
    pub delay_ms: u64,
}

fn default_steps() -> u32 {
    5
}

fn default_delay_ms() -> u64 {
    200
}

/// Arguments of `env`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EnvArgs {
    /// Name of the environment variable to read.
    pub name: String,
}

/// One MCP session's server; rmcp builds one per 2025-era session or 2026 request.
#[derive(Debug, Clone)]
pub struct ExampleServer {
    identity: Arc<Identity>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl ExampleServer {
    pub fn new(identity: Arc<Identity>) -> Self {
        Self {
            identity,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Add two numbers and return the sum.")]
    async fn add(
        &self,
        Parameters(args): Parameters<AddArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        log::line("tool call: add");
        let sum = args.a + args.b;
        let mut result = CallToolResult::success(vec![ContentBlock::text(format_number(sum))]);
        result.structured_content = Some(json!({ "sum": json_number(sum) }));
        Ok(result)
    }

    #[tool(description = "Return the message unchanged.")]
    async fn echo(
        &self,
        Parameters(args): Parameters<EchoArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        log::line("tool call: echo");
        Ok(CallToolResult::success(vec![ContentBlock::text(
            args.message,
        )]))
    }

    #[tool(
        description = "Report progress `steps` times, `delayMs` apart, then finish. Sends notifications/progress when the request carries a progress token."
    )]
    async fn slow(
        &self,
        Parameters(args): Parameters<SlowArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        cancelled: tokio_util::sync::CancellationToken,
    ) -> Result<CallToolResult, ErrorData> {
        log::line("tool call: slow");
        if args.steps > MAX_STEPS || args.delay_ms > MAX_DELAY_MS {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "steps must be at most {MAX_STEPS} and delayMs at most {MAX_DELAY_MS} (got steps={}, delayMs={})",
                args.steps, args.delay_ms
            ))]));
        }
        let token = meta.get_progress_token();
        for step in 1..=args.steps {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(args.delay_ms)) => {}
                () = cancelled.cancelled() => {
                    log::line("tool call: slow cancelled");
                    return Err(ErrorData::internal_error("request cancelled", None));
                }
            }
            if let Some(token) = &token {
                let progress = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(args.steps))
                    .with_message(format!("step {step} of {}", args.steps));
                // A client that went away can't receive progress; the result is what matters.
                let _ = peer.notify_progress(progress).await;
            }
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "done after {} steps",
            args.steps
        ))]))
    }

    #[tool(description = "Return this replica's hostname, instance id and process id as JSON.")]
    async fn whoami(&self) -> Result<CallToolResult, ErrorData> {
        log::line("tool call: whoami");
        Ok(CallToolResult::structured(json!({
            "hostname": self.identity.hostname,
            "instance": self.identity.instance,
            "pid": self.identity.pid,
        })))
    }

    #[tool(
        description = "Return the value of an environment variable, or an error if it is not set."
    )]
    async fn env(
        &self,
        Parameters(args): Parameters<EnvArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        log::line("tool call: env");
        Ok(match std::env::var_os(&args.name) {
            Some(value) => CallToolResult::success(vec![ContentBlock::text(
                value.to_string_lossy().into_owned(),
            )]),
            None => CallToolResult::error(vec![ContentBlock::text(format!(
                "environment variable {} is not set",
                args.name
            ))]),
        })
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "mcp-example",
    instructions = "Sample server for testing mcp-gateway: add, echo, slow (progress), whoami, env."
)]
impl ServerHandler for ExampleServer {
    /// rmcp's own handshake, logged: tests count how often a (shared) process was initialized.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        log::line(&format!("initialize from {}", request.client_info.name));
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }
}

/// `5` rather than `5.0` for integral sums; other values as Rust prints them.
fn format_number(value: f64) -> String {
    // f64's Display already omits ".0" for integral values.
    value.to_string()
}

/// A JSON integer for integral values in the exactly representable range, a float otherwise.
fn json_number(value: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() <= EXACT {
        // Exact: the value is integral and within ±2^53.
        let integer = value as i64;
        json!(integer)
    } else {
        json!(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_sums_print_without_decimals() {
        assert_eq!(format_number(2.0 + 3.0), "5");
        assert_eq!(format_number(-4.0), "-4");
        assert_eq!(format_number(0.5 + 1.0), "1.5");
        assert_eq!(json_number(5.0), json!(5));
        assert_eq!(json_number(1.5), json!(1.5));
    }

    #[test]
    fn slow_defaults_apply() {
        let args: SlowArgs = serde_json::from_value(json!({})).expect("empty args parse");
        assert_eq!((args.steps, args.delay_ms), (5, 200));
        let args: SlowArgs =
            serde_json::from_value(json!({"steps": 2, "delayMs": 10})).expect("camelCase parses");
        assert_eq!((args.steps, args.delay_ms), (2, 10));
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 16);
    }
}
