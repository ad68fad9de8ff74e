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
use crate::metrics::ApiMetrics;
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
    routes.push(crate::metrics::route());
    routes.push(openapi::route());
    routes
}

/// Counters for the answers of every route but the data plane's (whose requests are counted
/// per adapter, by the proxy).
pub fn metrics() -> ApiMetrics {
    ApiMetrics::new(
        routes()
            .into_iter()
            .map(|route| route.path)
            .filter(|path| path != crate::proxy::ROUTE),
    )
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
        .layer(axum::middleware::from_fn_with_state(
            state.api_metrics.clone(),
            crate::metrics::count_api_request,
        ))
        .with_state(state)
}
