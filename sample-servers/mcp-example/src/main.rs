//! `mcp-example`: a small MCP server used to test mcp-gateway end to end.
//!
//! It speaks Streamable HTTP at `/mcp` through the official Rust SDK (`rmcp`), serving both
//! protocol eras on the same URL: the 2025 revisions with `initialize` and `Mcp-Session-Id`
//! sessions, and the stateless 2026-07-28 revision (`server/discover`, no sessions). Its tools
//! (see [`tools`]) exist to exercise a proxy: `slow` streams progress notifications, `whoami`
//! tells replicas apart, `env` shows the environment a runtime gave the container.
//!
//! With `--stdio` (or `MCP_STDIO=1`) it speaks newline-delimited JSON-RPC on stdin/stdout
//! instead, the way most MCP servers do, and logs to stderr; same tools, one client (the
//! process's parent, or mcp-gateway attached to the container). It exits when stdin closes.
//!
//! Configuration is by environment only, because it runs as PID 1 in a `FROM scratch` image:
//! `BIND` (default `0.0.0.0`), `PORT` (default 8000), `MCP_INSTANCE_ID` (see `whoami`),
//! `MCP_SESSION_IDLE_SECS` (default 300: idle 2025-era sessions then answer 404) and
//! `MCP_STATELESS=1` (a 2026-07-28-only server: no sessions, and every request must carry the
//! revision's `_meta`, so a 2025 client that only knows `initialize` cannot use it).

mod log;
mod tools;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};

use crate::tools::ExampleServer;

/// Where the MCP endpoint is mounted; the gateway's adapters point at this path.
const MCP_PATH: &str = "/mcp";
/// How long in-flight connections (open SSE streams) get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let identity = tools::Identity::detect();
    let stdio = std::env::args().skip(1).any(|arg| arg == "--stdio")
        || std::env::var("MCP_STDIO").is_ok_and(|v| v == "1");
    if stdio {
        return serve_stdio(identity).await;
    }
    let addr = listen_addr()?;

    // Cancelling this token ends every rmcp session and stream, which lets axum's graceful
    // shutdown finish instead of waiting on long-lived SSE connections.
    let stateless = std::env::var("MCP_STATELESS").is_ok_and(|v| v == "1");
    let config = StreamableHttpServerConfig::default()
        // Sessions for the 2025 era (`initialize` + `Mcp-Session-Id`). Requests negotiating
        // 2026-07-28 are always served statelessly by rmcp, whatever this says, so both eras
        // work on the one URL. MCP_STATELESS=1 turns the 2025 era off.
        .with_legacy_session_mode(!stateless)
        .with_json_response(stateless)
        .with_stateless_protocol_metadata_required(stateless)
        // rmcp rejects (403) any Host other than localhost/127.0.0.1/::1 as DNS-rebinding
        // protection for servers on a developer's machine. This server only ever runs behind
        // mcp-gateway inside a container or pod and is reached by container IP, pod IPs such as
        // 127.0.0.5 or a published port, so any Host must be accepted; the gateway is the
        // component that faces browsers and validates Host/Origin.
        .disable_allowed_hosts();
    let shutdown = config.cancellation_token.clone();

    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(session_idle()?);

    let service = StreamableHttpService::new(
        move || Ok(ExampleServer::new(identity.clone())),
        Arc::new(sessions),
        config,
    );
    let app = axum::Router::new().nest_service(MCP_PATH, service);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}; set BIND/PORT to a free address"))?;
    log::line(&format!("mcp-example listening on {addr} path {MCP_PATH}"));

    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            wait_for_signal().await;
            log::line("mcp-example shutting down");
            shutdown.cancel();
        }
    });

    let server =
        // No Nagle: answers must not wait for the client's delayed ACK.
        axum::serve(listener.tap_io(|tcp| { let _ = tcp.set_nodelay(true); }), app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tokio::select! {
        result = server => result.context("HTTP server failed")?,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => log::line("mcp-example: grace period over, closing remaining connections"),
    }
    Ok(())
}

/// Serves MCP on stdin/stdout until stdin closes (or SIGTERM).
async fn serve_stdio(identity: Arc<tools::Identity>) -> anyhow::Result<()> {
    use rmcp::ServiceExt as _;
    log::to_stderr();
    log::line("mcp-example serving MCP on stdio");
    let service = ExampleServer::new(identity)
        .serve(rmcp::transport::stdio())
        .await
        .context("the stdio client did not initialize")?;
    tokio::select! {
        result = service.waiting() => { result.context("stdio service failed")?; }
        () = wait_for_signal() => log::line("mcp-example shutting down"),
    }
    Ok(())
}

/// The socket address from `BIND` and `PORT`.
fn listen_addr() -> anyhow::Result<SocketAddr> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "0.0.0.0".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .with_context(|| format!("PORT={port:?} is not a port number (1-65535)"))?,
        Err(_) => 8000,
    };
    let ip = bind
        .parse::<std::net::IpAddr>()
        .with_context(|| format!("BIND={bind:?} is not an IP address (e.g. 0.0.0.0 or ::)"))?;
    Ok(SocketAddr::new(ip, port))
}

/// Idle timeout of 2025-era sessions; tests lower it to reach the 404 → re-initialise path fast.
fn session_idle() -> anyhow::Result<Duration> {
    match std::env::var("MCP_SESSION_IDLE_SECS") {
        Ok(secs) => secs
            .parse::<u64>()
            .map(Duration::from_secs)
            .with_context(|| format!("MCP_SESSION_IDLE_SECS={secs:?} is not a number of seconds")),
        Err(_) => Ok(Duration::from_secs(300)),
    }
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
}
