//! The one route table: it builds the axum router and generates `/openapi.json`, so the document
//! cannot drift from what is served.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::MethodRouter;
use utoipa::openapi::HttpMethod;
use utoipa::openapi::path::Operation;

use super::{ApiError, AppState, MAX_API_BODY};
use crate::domain::counters::ApiMetrics;
use crate::domain::model::ResourceKind;
use crate::services::proxy;

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
    let mut routes = super::health::routes();
    for kind in ResourceKind::ALL {
        routes.extend(super::resources::routes(kind));
    }
    routes.extend(super::mcp::data_plane_routes());
    routes.extend(super::mcp::router_routes());
    routes.extend(super::oauth::routes());
    routes.push(super::metrics::route());
    routes.push(super::openapi::route());
    routes
}

/// Counters for the answers of every route but the data plane's (whose requests are counted
/// per adapter, by the proxy).
pub fn api_metrics() -> ApiMetrics {
    ApiMetrics::new(
        routes()
            .into_iter()
            .map(|route| route.path)
            .filter(|path| path != proxy::ROUTE),
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
            state.metrics.api().clone(),
            super::metrics::count_api_request,
        ))
        .with_state(state)
}
