//! The MCP endpoints' routes: the data plane (`/adapters/{name}/mcp`) and the tool router
//! (`/mcp`), documented in /openapi.json and handed to their services.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::{Content, HttpMethod, ResponseBuilder};

use super::AppState;
use super::openapi::{
    any_name_param, bare, header_param, json_body, json_rpc_problem, name_param, operation,
};
use super::route::Route;
use crate::services::proxy::ROUTE;
use crate::services::router::PATH;

async fn data_plane(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    state.data_plane(peer, &name, request).await
}

async fn tool_router(State(state): State<AppState>, request: Request) -> Response {
    state.router.serve(request).await
}

/// `MCP-Protocol-Version`, `Mcp-Method` and the like are MCP's business; what OpenAPI can say
/// about the endpoints is here.
const MCP_HEADERS: &str = "Send Accept: application/json, text/event-stream (406 otherwise). A \
    2025-era session starts with initialize and carries its Mcp-Session-Id on every later request; \
    2026-07-28 requests are stateless and carry MCP-Protocol-Version, Mcp-Method and Mcp-Name.";

/// The routes of the data plane, documented in /openapi.json.
pub(super) fn data_plane_routes() -> Vec<Route> {
    let path = ROUTE.to_string();
    let describe = |method: HttpMethod, id: &str, summary: &str| {
        let mut doc = operation(id, summary, "data plane").description(Some(format!(
            "Streamable HTTP to one replica of the adapter's MCP server: the request goes \
             upstream as is, and the upstream's answer comes back as is, streamed (its status \
             too). {MCP_HEADERS}"
        )));
        doc = match method {
            HttpMethod::Options => doc
                .description(Some(
                    "CORS preflight, answered by the gateway whatever the name (the grants when \
                     proxy.cors is on).",
                ))
                .parameter(any_name_param("An adapter's name"))
                .response("204", bare("Preflight answered"))
                .response("403", json_rpc_problem("This Origin is not allowed")),
            _ => {
                doc = doc.parameter(name_param("The adapter's name"));
                if method == HttpMethod::Post {
                    doc = doc.request_body(Some(
                        RequestBodyBuilder::new()
                            .content(
                                "application/json",
                                Content::new(Some(
                                    ObjectBuilder::new()
                                        .description(Some(
                                            "A JSON-RPC message (or batch), passed upstream as is",
                                        ))
                                        .build(),
                                )),
                            )
                            .build(),
                    ));
                }
                // Any status may also be the upstream's own answer, passed on as it is, so
                // these name what the gateway means by them without fixing a body.
                let from_gateway = |what: &str| {
                    bare(&format!(
                        "{what} (the gateway's JSON-RPC error, see JsonRpcError); or the \
                         upstream's own answer with this status"
                    ))
                };
                doc.response(
                    "default",
                    bare("The upstream's answer, streamed: its status, JSON or text/event-stream"),
                )
                .response("400", from_gateway("The request body could not be read"))
                .response("401", from_gateway("No valid credentials"))
                .response(
                    "403",
                    from_gateway("Origin not allowed, or the caller may not use the adapter"),
                )
                .response(
                    "404",
                    from_gateway(
                        "No such adapter, or the session is unknown or another user's: initialize again",
                    ),
                )
                .response(
                    "413",
                    from_gateway("Request body over proxy.max_body_bytes"),
                )
                .response(
                    "502",
                    from_gateway("The upstream refused, reset or could not be reached"),
                )
                .response("503", from_gateway("No ready replica (Retry-After)"))
                .response("504", from_gateway("The upstream did not answer in time"))
            }
        };
        Route {
            path: path.clone(),
            operation: doc.build(),
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
        }
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
        describe(HttpMethod::Options, "mcpOptions", "CORS preflight"),
    ]
}

/// The router's routes, documented in /openapi.json.
pub(super) fn router_routes() -> Vec<Route> {
    let describe = |method: HttpMethod, filter: MethodFilter, id: &str, summary: &str| {
        let session = || {
            header_param(
                "Mcp-Session-Id",
                "The session initialize returned (2025-era sessions)",
            )
        };
        let doc = operation(id, summary, "tool router").description(Some(format!(
            "The tool router: an MCP server (Streamable HTTP, protocol revisions 2025-03-26 to \
             2026-07-28) whose tools are the registered tools the caller may use. Errors from \
             the MCP layer are plain text; the gateway's own (credentials, origin, another \
             user's session) are JSON-RPC. {MCP_HEADERS}"
        )));
        let doc = match method {
            HttpMethod::Post => doc
                .request_body(Some(json_body("InitializeRequest")))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description(
                            "The JSON-RPC answer, as JSON or as a text/event-stream that ends \
                             with it; an initialize answer carries the new Mcp-Session-Id",
                        )
                        .content(
                            "application/json",
                            Content::new(Some(Object::with_type(Type::Object))),
                        )
                        .content("text/event-stream", Content::new(None::<Object>))
                        .header(
                            "Mcp-Session-Id",
                            HeaderBuilder::new()
                                .schema(Some(Object::with_type(Type::String)))
                                .description(Some("The session opened by initialize"))
                                .build(),
                        )
                        .link(
                            "EndSession",
                            LinkBuilder::new()
                                .operation_id("routerDelete")
                                .parameter("Mcp-Session-Id", "$response.header.Mcp-Session-Id")
                                .description("End the session initialize opened")
                                .build(),
                        )
                        .build(),
                )
                .response("202", bare("A notification or response was accepted"))
                .response(
                    "400",
                    bare(
                        "Not valid MCP: a message other than initialize without a session id, \
                         bad JSON-RPC, or MCP headers that do not match the body",
                    ),
                ),
            HttpMethod::Get => doc
                .parameter(session())
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The session's server-to-client stream")
                        .content("text/event-stream", Content::new(None::<Object>))
                        .build(),
                )
                .response("400", bare("No Mcp-Session-Id")),
            HttpMethod::Delete => doc
                .parameter(session())
                .response("204", bare("The session is ended (or was unknown)"))
                .response("400", bare("No Mcp-Session-Id")),
            _ => doc
                .description(Some(
                    "CORS preflight, answered by the gateway (the grants when proxy.cors is on).",
                ))
                .response("204", bare("Preflight answered"))
                .response("403", json_rpc_problem("This Origin is not allowed")),
        };
        let doc = if method == HttpMethod::Options {
            doc
        } else {
            let doc = doc
                .response("401", json_rpc_problem("No valid credentials"))
                .response(
                    "403",
                    bare(
                        "Origin not allowed (a JSON-RPC error from the gateway) or Host not \
                         allowed (plain text from the MCP layer)",
                    ),
                )
                .response(
                    "404",
                    bare("Unknown, ended or another user's session: initialize again"),
                )
                .response(
                    "406",
                    bare("Accept does not list application/json and text/event-stream"),
                );
            match method {
                HttpMethod::Post => doc
                    .response("413", bare("Request body over proxy.max_body_bytes"))
                    .response(
                        "415",
                        bare(
                            "Not sent as Content-Type: application/json, or the body is not a \
                             JSON-RPC message",
                        ),
                    ),
                _ => doc.response(
                    "405",
                    bare("GET or DELETE in the stateless 2026-07-28 revision"),
                ),
            }
        };
        Route {
            method,
            path: PATH.to_string(),
            operation: doc.build(),
            handler: on(filter, tool_router),
        }
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
            "CORS preflight",
        ),
    ]
}
