//! The in-process way to an adapter's MCP endpoint, for the gateway's own MCP clients (the tool
//! router's federation): the same data-plane path a client's request takes (session tokens,
//! replica choice, header hygiene, the upstream address policy, stdio bridges), minus the
//! front door, because the caller is already authenticated by whoever asks.
//!
//! The data plane implements it; the router holds it as a trait object, so neither service
//! imports the other.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::response::Response;

use crate::infra::auth::Caller;

/// Sends MCP requests to an adapter as an already-admitted caller.
#[async_trait::async_trait]
pub trait AdapterPort: Send + Sync + 'static {
    /// One request to `/adapters/{adapter}/mcp` on behalf of `caller` (who must be allowed to
    /// read the adapter: the port checks it again), from `peer`. The answer streams as it comes.
    async fn exchange(
        &self,
        caller: &Caller,
        peer: SocketAddr,
        adapter: &str,
        request: Request,
    ) -> Response;
}
