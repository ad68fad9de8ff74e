//! The MCP side of the router: an rmcp [`ServerHandler`] over the in-memory tool table.
//!
//! rmcp owns the protocol (both eras, sessions, SSE, JSON-RPC, header checks); this handler only
//! answers `tools/list` and `tools/call`, follows tool-list changes for 2025-era sessions and
//! 2026-07-28 `subscriptions/listen` streams, and reads who is calling from the HTTP request
//! parts rmcp hands it (the [`Caller`] that [`super::ToolRouter::serve`] put there).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ConnectInfo;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Extensions,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, SubscriptionFilter, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use super::table::Origin;
use super::{Core, notify, relayed};
use crate::domain::counters::CallOutcome;
use crate::domain::validate::schema;
use crate::infra::auth::Caller;

tokio::task_local! {
    /// The caller of the HTTP request rmcp is processing. rmcp asks [`ServerHandler::get_tool`]
    /// for a tool's schema (to check `Mcp-Param-*` headers) without passing the request, so the
    /// caller travels this way to keep hidden tools hidden there too.
    pub(super) static REQUEST_CALLER: Caller;
}

/// One handler per 2025-era session or per stateless request: a handle on the shared core.
#[derive(Clone)]
pub(super) struct ToolHandler {
    pub(super) core: Arc<Core>,
}

/// The caller [`super::ToolRouter::serve`] attached to the HTTP request.
fn caller_of(extensions: &Extensions) -> Result<Caller, McpError> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| {
            // Only reachable if the service were mounted without ToolRouter::serve in front.
            McpError::internal_error("the request carries no authenticated caller", None)
        })
}

pub(super) fn client_address(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ConnectInfo<SocketAddr>>())
        .map(|info| info.0)
}

/// The answer for a tool that does not exist or that the caller may not read: the same words
/// either way, so nobody can probe for hidden tools.
fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(format!("Unknown tool: {name}"), None)
}

impl ServerHandler for ToolHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .build(),
        )
        .with_server_info(
            Implementation::new("mcp-gateway", env!("CARGO_PKG_VERSION"))
                .with_title("mcp-gateway tool router"),
        )
        .with_instructions(
            "Every tool registered with this gateway (POST /tools) that you may use, and the \
             tools and prompts of every adapter you may use, named {adapter}_{name}. The lists \
             change as tools and adapters come and go; listen for notifications/tools/list_changed \
             and notifications/prompts/list_changed.",
        )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = caller_of(&context.extensions)?;
        let table = self.core.table();
        let cursor = request.and_then(|params| params.cursor);
        let (tools, next) = table
            .page(&caller, cursor.as_deref(), self.core.page_size)
            .map_err(|_| {
                McpError::invalid_params(
                    "invalid cursor: pass back the nextCursor of the previous tools/list result, \
                     or no cursor for the first page",
                    None,
                )
            })?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = caller_of(&context.extensions)?;
        let table = self.core.table();
        let Some(entry) = table.visible(&caller, &request.name) else {
            // Not counted anywhere: a made-up tool name must not become a series.
            return Err(unknown_tool(&request.name));
        };
        let started = Instant::now();
        let metrics = &entry.resource.metrics;
        let validator = match &entry.origin {
            Origin::Registered { validator } => validator,
            Origin::Federated(upstream) => {
                let (answer, outcome) =
                    relayed::call_tool(&self.core, entry, upstream, &caller, request, &context)
                        .await;
                metrics.tool_called(outcome, started.elapsed());
                return answer;
            }
        };
        let arguments = request.arguments.unwrap_or_default();
        let checked = match validator.as_ref() {
            Ok(validator) => {
                schema::check(validator, &serde_json::Value::Object(arguments.clone())).map_err(
                    |problems| {
                        format!(
                            "invalid arguments for tool \"{}\": {problems}",
                            entry.name()
                        )
                    },
                )
            }
            Err(reason) => Err(format!(
                "tool \"{}\" cannot be called: its inputSchema {reason}; fix it with PUT /tools/{}",
                entry.name(),
                entry.name()
            )),
        };
        if let Err(message) = checked {
            metrics.tool_called(CallOutcome::InvalidArguments, started.elapsed());
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        let peer = client_address(&context.extensions);
        let (result, outcome) =
            super::call::invoke(&self.core, entry, &caller, peer, &arguments).await;
        metrics.tool_called(outcome, started.elapsed());
        Ok(result.into())
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let caller = caller_of(&context.extensions)?;
        let table = self.core.table();
        let cursor = request.and_then(|params| params.cursor);
        let (prompts, next) = table
            .prompt_page(&caller, cursor.as_deref(), self.core.page_size)
            .map_err(|_| {
                McpError::invalid_params(
                    "invalid cursor: pass back the nextCursor of the previous prompts/list \
                     result, or no cursor for the first page",
                    None,
                )
            })?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let caller = caller_of(&context.extensions)?;
        let table = self.core.table();
        let Some(entry) = table.visible_prompt(&caller, &request.name) else {
            return Err(McpError::invalid_params(
                format!("Unknown prompt: {}", request.name),
                None,
            ));
        };
        let upstream = entry.upstream.clone();
        relayed::get_prompt(&self.core, &upstream, &caller, request, &context).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        REQUEST_CALLER
            .try_with(|caller| {
                self.core
                    .table()
                    .visible(caller, name)
                    .map(|entry| entry.tool.clone())
            })
            .ok()
            .flatten()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // A 2025-era session is ready: follow the tool table for it, so its GET stream gets
        // notifications/tools/list_changed when what this caller sees changes.
        match caller_of(&context.extensions) {
            Ok(caller) => {
                tokio::spawn(notify::follow_session(
                    self.core.clone(),
                    caller,
                    context.peer,
                ));
            }
            Err(err) => {
                tracing::warn!(%err, "initialized session without a caller; no change notifications")
            }
        }
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // rmcp intersects this with what the client asked for.
        Some(
            SubscriptionFilter::builder()
                .tools_list_changed()
                .prompts_list_changed()
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let caller = caller_of(&context.request_context().extensions)?;
        notify::follow_subscription(&self.core, &caller, &context).await;
        Ok(())
    }
}
