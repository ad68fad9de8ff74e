//! RFC 9728 OAuth protected-resource metadata, so MCP clients (VS Code and others) can find the
//! authorization server after a 401: at the root and path-inserted for each MCP endpoint.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::openapi::HttpMethod;

use super::openapi::{any_name_param, json_response, operation, problem};
use super::route::Route;
use super::{ApiError, AppState};
use crate::infra::auth::WELL_KNOWN;
use crate::infra::config::AuthMode;

pub(super) fn routes() -> Vec<Route> {
    let doc = |id: &str, summary: &str| {
        operation(id, summary, "auth")
            .response(
                "200",
                json_response(
                    "RFC 9728 metadata: resource, authorization_servers, scopes_supported, bearer_methods_supported",
                    utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::Object),
                ),
            )
            .response("404", problem("Authentication is off (auth.mode is not jwt)"))
    };
    vec![
        Route {
            method: HttpMethod::Get,
            path: WELL_KNOWN.into(),
            operation: doc(
                "oauthMetadataRoot",
                "Protected-resource metadata of the gateway",
            )
            .build(),
            handler: get(|state: State<AppState>| async move { document(&state, "") }),
        },
        Route {
            method: HttpMethod::Get,
            path: format!("{WELL_KNOWN}/mcp"),
            operation: doc(
                "oauthMetadataRouter",
                "Protected-resource metadata of the tool router (/mcp)",
            )
            .build(),
            handler: get(|state: State<AppState>| async move { document(&state, "/mcp") }),
        },
        Route {
            method: HttpMethod::Get,
            path: format!("{WELL_KNOWN}/adapters/{{name}}/mcp"),
            operation: doc(
                "oauthMetadataAdapter",
                "Protected-resource metadata of one adapter's MCP endpoint",
            )
            .parameter(any_name_param(
                "An adapter's name (any: the metadata names the URL)",
            ))
            .build(),
            handler: get(
                |state: State<AppState>, Path(name): Path<String>| async move {
                    document(&state, &format!("/adapters/{name}/mcp"))
                },
            ),
        },
    ]
}

fn document(state: &AppState, path: &str) -> Result<Json<Value>, ApiError> {
    if state.auth.mode() != AuthMode::Jwt {
        return Err(ApiError::NotFound(
            "OAuth metadata is served when auth.mode = \"jwt\"".into(),
        ));
    }
    let jwt = state.config.config.auth.jwt.as_ref();
    let issuer = jwt.and_then(|j| j.issuer.clone());
    let scopes = jwt.map(|j| j.scopes.clone()).unwrap_or_default();
    Ok(Json(json!({
        "resource": format!("{}{path}", state.config.public_url()),
        "authorization_servers": issuer.into_iter().collect::<Vec<_>>(),
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    })))
}
