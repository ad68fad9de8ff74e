//! The one route table: it builds the axum router and generates `/openapi.json`, so the document
//! cannot drift from what is served.

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
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
        handler: get(|state: State<AppState>| async move {
            Json(document(&routes(), state.validation_context()))
        }),
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
        let doc = document(
            &routes,
            crate::domain::validate::Context {
                deploys_images: true,
            },
        );
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
            "AdapterCreate",
            "AdapterUpdate",
            "ToolCreate",
            "ToolUpdate",
            "JsonRpcError",
            "InitializeRequest",
        ] {
            assert!(schemas.contains_key(name), "schema {name} missing");
        }
        // Every link names an operation of the document, and each create links its name to
        // every operation that takes one.
        let operation_ids: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|path| path.as_object().expect("operations").values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        for collection in ["adapters", "tools"] {
            let links = doc["paths"][format!("/{collection}")]["post"]["responses"]["201"]["links"]
                .as_object()
                .expect("links");
            let targets: Vec<&str> = links
                .values()
                .filter_map(|link| link["operationId"].as_str())
                .collect();
            assert_eq!(targets.len(), 5, "{collection}: {targets:?}");
            for target in targets {
                assert!(operation_ids.contains(&target), "link to {target}");
            }
        }
        // The stored resource's name follows the rule the request body states.
        assert_eq!(
            doc["components"]["schemas"]["ResourceSpec"]["properties"]["name"]["pattern"],
            crate::domain::validate::NAME_PATTERN
        );
        assert_eq!(
            doc["components"]["schemas"]["AdapterCreate"]["properties"]["name"]["pattern"],
            crate::domain::validate::NAME_PATTERN
        );
    }
}
