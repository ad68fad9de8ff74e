//! One served operation: its method, path, handler and OpenAPI description, side by side.

use axum::routing::MethodRouter;
use utoipa::openapi::HttpMethod;
use utoipa::openapi::path::Operation;

use super::AppState;

/// One served operation and its OpenAPI description.
pub struct Route {
    pub method: HttpMethod,
    /// axum and OpenAPI share the `{param}` syntax.
    pub path: String,
    pub operation: Operation,
    pub handler: MethodRouter<AppState>,
}
