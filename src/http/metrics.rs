//! `GET /metrics` and the counting of the API router's answers.
//!
//! - Recording: each adapter and tool carries its own atomic counters
//!   ([`crate::domain::counters`]), which the proxy and the router bump on the resource they
//!   already hold for the request; the API router's answers are counted by the middleware here
//!   over a fixed table of route templates. Nothing on the data plane's path takes a lock,
//!   hashes a label or allocates for metrics.
//! - Scraping: [`crate::services::metrics`] writes the text.
//! - Access (decided here): series name adapters and tools, so by default only the admin role
//!   may read them (401 without credentials, 403 without the role; with `auth.mode = "none"`
//!   every caller is the admin). `metrics.public = true` opens the endpoint to scrapers without
//!   a token.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};
use utoipa::openapi::{Content, HttpMethod, ResponseBuilder};

use super::openapi::{operation, problem};
use super::route::Route;
use super::{ApiError, AppState};
use crate::domain::counters::ApiMetrics;
use crate::infra::auth::Caller;
use crate::services::metrics::CONTENT_TYPE;

/// Where the metrics are served.
pub const PATH: &str = "/metrics";
pub(super) fn route() -> Route {
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
    let text = state.metrics.render().map_err(ApiError::Internal)?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// axum middleware: counts the answer of every request the API router handles.
pub(super) async fn count_api_request(
    State(metrics): State<Arc<ApiMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let template = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let response = next.run(request).await;
    metrics.count(
        template.as_ref().map(MatchedPath::as_str),
        &method,
        response.status(),
    );
    response
}
