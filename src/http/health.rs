//! Liveness and readiness.

use axum::routing::get;
use http::StatusCode;
use utoipa::openapi::HttpMethod;

use super::openapi::{operation, problem, text_response};
use super::route::Route;
use super::{ApiError, AppState};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route {
            method: HttpMethod::Get,
            path: "/healthz".into(),
            operation: operation("healthz", "Liveness: the process serves HTTP", "meta")
                .response("200", text_response("ok"))
                .build(),
            handler: get(|| async { "ok" }),
        },
        Route {
            method: HttpMethod::Get,
            path: "/readyz".into(),
            operation: operation(
                "readyz",
                "Readiness: the store answers and the runtime is reachable",
                "meta",
            )
            .response("200", text_response("ready"))
            .response("503", problem("The store or the runtime does not answer"))
            .build(),
            handler: get(readyz),
        },
    ]
}

async fn readyz(
    state: axum::extract::State<AppState>,
) -> Result<(StatusCode, &'static str), ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.ping())
        .await
        .map_err(|err| ApiError::Internal(err.to_string()))?
        .map_err(|err| ApiError::Unavailable(format!("the store does not answer: {err}")))?;
    state.runtime.ping().await.map_err(|err| {
        ApiError::Unavailable(format!(
            "the {} runtime is not reachable: {err}",
            state.runtime.name()
        ))
    })?;
    Ok((StatusCode::OK, "ready"))
}
