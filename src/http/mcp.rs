//! The MCP endpoints' routes: the data plane (`/adapters/{name}/mcp`) and the tool router
//! (`/mcp`), documented in /openapi.json and handed to their services.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use utoipa::openapi::HttpMethod;

use super::AppState;
use super::openapi::{operation, path_param};
use super::route::Route;
use crate::services::proxy::ROUTE;
use crate::services::router::PATH;

async fn data_plane(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    state.proxy.serve(peer, &name, request).await
}

async fn tool_router(State(state): State<AppState>, request: Request) -> Response {
    state.router.serve(request).await
}

/// The routes of the data plane, documented in /openapi.json.
pub(super) fn data_plane_routes() -> Vec<Route> {
    let path = ROUTE.to_string();
    let describe = |method: HttpMethod, id: &str, summary: &str| Route {
        path: path.clone(),
        operation: operation(id, summary, "data plane")
            .parameter(path_param("name", "The adapter's name"))
            .response(
                "200",
                utoipa::openapi::Response::new(
                    "The upstream's answer, streamed (JSON or text/event-stream)",
                ),
            )
            .response(
                "401",
                utoipa::openapi::Response::new("No valid credentials"),
            )
            .response(
                "403",
                utoipa::openapi::Response::new(
                    "Origin not allowed, or the caller may not read the adapter",
                ),
            )
            .response(
                "404",
                utoipa::openapi::Response::new(
                    "No such adapter, or the session is unknown: re-initialise",
                ),
            )
            .response(
                "413",
                utoipa::openapi::Response::new("Request body over proxy.max_body_bytes"),
            )
            .response(
                "502",
                utoipa::openapi::Response::new("The upstream refused or reset the connection"),
            )
            .response(
                "503",
                utoipa::openapi::Response::new("No ready replica (Retry-After)"),
            )
            .build(),
        handler: {
            let filter = match method {
                HttpMethod::Post => MethodFilter::POST,
                HttpMethod::Get => MethodFilter::GET,
                HttpMethod::Delete => MethodFilter::DELETE,
                _ => MethodFilter::OPTIONS,
            };
            on(filter, data_plane)
        },
        method,
    };
    vec![
        describe(
            HttpMethod::Post,
            "mcpPost",
            "MCP Streamable HTTP: send a JSON-RPC message",
        ),
        describe(
            HttpMethod::Get,
            "mcpGet",
            "MCP Streamable HTTP: open the server-to-client stream (2025 sessions)",
        ),
        describe(
            HttpMethod::Delete,
            "mcpDelete",
            "MCP Streamable HTTP: end the session",
        ),
        describe(
            HttpMethod::Options,
            "mcpOptions",
            "CORS preflight (when proxy.cors is on)",
        ),
    ]
}

/// The router's routes, documented in /openapi.json.
pub(super) fn router_routes() -> Vec<Route> {
    let describe = |method: HttpMethod, filter: MethodFilter, id: &str, summary: &str| Route {
        method,
        path: PATH.to_string(),
        operation: operation(id, summary, "tool router")
            .description(Some(
                "The tool router: an MCP server (Streamable HTTP, protocol revisions 2025-03-26 to \
                 2026-07-28) whose tools are the registered tools the caller may use.",
            ))
            .response(
                "200",
                utoipa::openapi::Response::new(
                    "A JSON-RPC answer (application/json) or stream (text/event-stream)",
                ),
            )
            .response(
                "202",
                utoipa::openapi::Response::new("A notification or response was accepted"),
            )
            .response(
                "204",
                utoipa::openapi::Response::new("The session ended (DELETE)"),
            )
            .response(
                "400",
                utoipa::openapi::Response::new(
                    "Not valid MCP: bad JSON-RPC, a missing session id, or MCP headers that do not \
                     match the body (-32020)",
                ),
            )
            .response(
                "401",
                utoipa::openapi::Response::new("No valid credentials"),
            )
            .response(
                "403",
                utoipa::openapi::Response::new("Origin or Host not allowed"),
            )
            .response(
                "404",
                utoipa::openapi::Response::new("Unknown or expired session: initialize again"),
            )
            .response(
                "405",
                utoipa::openapi::Response::new(
                    "GET or DELETE in the stateless 2026-07-28 revision",
                ),
            )
            .response(
                "413",
                utoipa::openapi::Response::new("Request body over proxy.max_body_bytes"),
            )
            .build(),
        handler: on(filter, tool_router),
    };
    vec![
        describe(
            HttpMethod::Post,
            MethodFilter::POST,
            "routerPost",
            "Tool router: send a JSON-RPC message (tools/list, tools/call, subscriptions/listen, ...)",
        ),
        describe(
            HttpMethod::Get,
            MethodFilter::GET,
            "routerGet",
            "Tool router: open the server-to-client stream of a 2025 session",
        ),
        describe(
            HttpMethod::Delete,
            MethodFilter::DELETE,
            "routerDelete",
            "Tool router: end a 2025 session",
        ),
        describe(
            HttpMethod::Options,
            MethodFilter::OPTIONS,
            "routerOptions",
            "CORS preflight (when proxy.cors is on)",
        ),
    ]
}
