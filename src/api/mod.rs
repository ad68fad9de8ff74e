//! The HTTP surface: one route table that both builds the axum router and generates
//! `/openapi.json`, so the document cannot drift from what is served.

mod error;
mod health;
pub mod openapi;
mod resources;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::MethodRouter;
use utoipa::openapi::HttpMethod;
use utoipa::openapi::path::Operation;

pub use error::{ApiError, Problem};

use crate::app::{AppState, MAX_API_BODY};
use crate::model::ResourceKind;

/// One served operation and its OpenAPI description.
pub struct Route {
    pub method: HttpMethod,
    /// axum and OpenAPI share the `{param}` syntax.
    pub path: String,
    pub operation: Operation,
    pub handler: MethodRouter<AppState>,
}

/// Every route the gateway serves.
pub fn routes() -> Vec<Route> {
    let mut routes = health::routes();
    for kind in ResourceKind::ALL {
        routes.extend(resources::routes(kind));
    }
    routes.extend(crate::proxy::routes());
    routes.extend(crate::router::routes());
    routes.extend(crate::auth::metadata::routes());
    routes.push(openapi::route());
    routes
}

/// The axum router for all routes.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes() {
        router = router.route(&route.path, route.handler);
    }
    router
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .with_state(state)
}
