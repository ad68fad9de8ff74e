//! `tool-example`: the sample "weather" tool, a plain HTTP server (not MCP) that mcp-gateway
//! registers as a tool, deploys and proxies in its tests.
//!
//! Routes: `POST /score` (see [`score`]) and `GET /healthz`. Configured by environment only,
//! because it runs as PID 1 in a `FROM scratch` image: `BIND` (default `0.0.0.0`) and `PORT`
//! (default 8000). Every request is logged to stdout, flushed, so container logs show it.

mod score;

use std::{io::Write as _, net::SocketAddr};

use axum::serve::ListenerExt as _;
use axum::{
    Json, Router,
    body::Bytes,
    extract::Request,
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = match listen_addr() {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("tool-example: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "tool-example: cannot listen on {addr}: {error}; set BIND/PORT to a free address"
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    log_line(&format!("tool-example listening on {addr}"));
    // No Nagle: answers must not wait for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, app())
        .with_graceful_shutdown(wait_for_signal())
        .await;
    match served {
        Ok(()) => {
            log_line("tool-example stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tool-example: HTTP server failed: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The HTTP routes, with one log line per request.
fn app() -> Router {
    Router::new()
        .route("/score", post(score_handler))
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn(log_request))
}

/// `POST /score`: the body is read as bytes so that malformed JSON gets our own 400 `detail`
/// rather than axum's plain-text rejection.
async fn score_handler(body: Bytes) -> Response {
    match score::score_body(&body) {
        Ok(forecast) => Json(forecast).into_response(),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "detail": error.detail() })),
        )
            .into_response(),
    }
}

async fn log_request(request: Request, next: Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    log_line(&format!("{line} {}", response.status().as_u16()));
    response
}

/// Writes one line to stdout and flushes; a closed stdout is ignored on purpose.
fn log_line(message: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{message}");
    let _ = out.flush();
}

/// The socket address from `BIND` and `PORT`, or a message saying which one is wrong.
fn listen_addr() -> Result<SocketAddr, String> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "0.0.0.0".to_owned());
    let ip = bind
        .parse::<std::net::IpAddr>()
        .map_err(|_| format!("BIND={bind:?} is not an IP address (e.g. 0.0.0.0 or ::)"))?;
    let port = match std::env::var("PORT") {
        Ok(port) => port
            .parse::<u16>()
            .map_err(|_| format!("PORT={port:?} is not a port number (1-65535)"))?,
        Err(_) => 8000,
    };
    Ok(SocketAddr::new(ip, port))
}

/// Resolves on SIGTERM (what `docker stop` and the kubelet send) or ctrl-c.
async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    log_line("tool-example shutting down");
}
