//! The one route table: it builds the axum router and generates `/openapi.json`, so the document
//! cannot drift from what is served.

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::HttpMethod;
use utoipa::openapi::schema::{Object, Type};

use super::openapi::{document, json_response, operation};
pub use super::route::Route;
use super::{ApiError, AppState, MAX_API_BODY};
use crate::domain::counters::ApiMetrics;
use crate::domain::model::ResourceKind;
use crate::services::proxy;

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
    routes.extend(super::console::routes());
    routes.push(openapi_route());
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

/// `/openapi.json`: the document of this very table.
fn openapi_route() -> Route {
    Route {
        method: HttpMethod::Get,
        path: "/openapi.json".into(),
        operation: operation("getOpenApi", "This OpenAPI document", "meta")
            .response(
                "200",
                json_response("The document", Object::with_type(Type::Object)),
            )
            .build(),
        handler: get(|| async { Json(document(&routes())) }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_reference_resolves() {
        let routes = routes();
        let doc = serde_json::to_value(document(&routes)).expect("serialises");
        for route in &routes {
            let method = serde_json::to_value(&route.method)
                .expect("method serialises")
                .as_str()
                .expect("method is a string")
                .to_string();
            assert!(
                doc["paths"][&route.path][&method].is_object(),
                "{method} {} is not in the document",
                route.path
            );
        }
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let text = doc.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').expect("closing quote")];
            assert!(schemas.contains_key(name), "dangling reference to {name}");
        }
        for name in [
            "Resource",
            "ResourceSpec",
            "ToolDefinition",
            "StatusView",
            "Problem",
        ] {
            assert!(schemas.contains_key(name), "schema {name} missing");
        }
    }
}
