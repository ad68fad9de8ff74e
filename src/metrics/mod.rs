//! `GET /metrics`: the gateway's traffic and state in the Prometheus text format.
//!
//! - Recording: each adapter and tool carries its own atomic counters ([`ResourceMetrics`], in
//!   [`live`]), which the proxy and the router bump on the resource they already hold for the
//!   request; the API router's answers are counted by a middleware over a fixed table of route
//!   templates ([`api`]). Nothing on the data plane's path takes a lock, hashes a label or
//!   allocates for metrics.
//! - Scraping: [`exposition`] reads the counters of the resources in the store's catalog, the
//!   reconciler's observed endpoints, deploy states and runtime calls ([`runtime`]) and the API
//!   table, and writes the text. Only existing
//!   resources have series; labels come from fixed tables or resource names, never from user
//!   ids, session ids or raw paths.
//! - Access: series name adapters and tools, so by default only the admin role may read them
//!   (401 without credentials, 403 without the role; with `auth.mode = "none"` every caller is
//!   the admin). `metrics.public = true` opens the endpoint to scrapers without a token.
//!
//! This module reads the store, the reconciler's view and the auth rules; it changes none of
//! them.

mod api;
mod exposition;
mod histogram;
mod live;
mod runtime;

use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};
use utoipa::openapi::{Content, HttpMethod, ResponseBuilder};

pub use api::{ApiMetrics, count as count_api_request};
pub use live::{CallOutcome, OpenStream, ResourceMetrics, UpstreamFailure};
pub use runtime::{RuntimeMetrics, RuntimeOp};

use crate::api::openapi::{operation, problem};
use crate::api::{ApiError, Route};
use crate::app::AppState;
use crate::auth::Caller;
use crate::model::ResourceKind;

/// Where the metrics are served.
pub const PATH: &str = "/metrics";
/// The Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) fn route() -> Route {
    Route {
        method: HttpMethod::Get,
        path: PATH.into(),
        operation: operation(
            "getMetrics",
            "Prometheus metrics: data plane, tool router, control plane and state",
            "meta",
        )
        .description(Some(
            "Prometheus text format 0.0.4. Needs the admin role unless metrics.public = true \
             (series name adapters and tools).",
        ))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The series, in the Prometheus text format")
                .content(
                    "text/plain; version=0.0.4",
                    Content::new(Some(utoipa::openapi::schema::Object::with_type(
                        utoipa::openapi::schema::Type::String,
                    ))),
                )
                .build(),
        )
        .response(
            "401",
            problem("No valid credentials (metrics.public is false)"),
        )
        .response(
            "403",
            problem("The caller lacks the admin role (metrics.public is false)"),
        )
        .build(),
        handler: get(scrape),
    }
}

async fn scrape(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    if !state.config.config.metrics.public {
        let (mut parts, _) = request.into_parts();
        let caller = Caller::from_request_parts(&mut parts, &state).await?;
        if !caller.is_admin {
            return Err(ApiError::Forbidden(
                "reading /metrics needs the admin role (its series name every adapter and tool); \
                 to let a scraper read it without a token, set metrics.public = true in the \
                 gateway's config"
                    .into(),
            ));
        }
    }
    let adapters = state.store.list(ResourceKind::Adapter);
    let tools = state.store.list(ResourceKind::Tool);
    let endpoints = |resource: &crate::model::Resource| {
        state
            .observed
            .endpoints(resource.kind.workload_kind(), resource.name())
    };
    let workloads = state.observed.states();
    let text = exposition::render(&exposition::Scrape {
        adapters: &adapters,
        tools: &tools,
        endpoints: &endpoints,
        api: &state.api_metrics,
        runtime: &state.observed.runtime,
        workloads: &workloads,
    })
    .map_err(ApiError::Internal)?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}
