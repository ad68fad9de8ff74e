//! The bridge as an [`AdapterPort`]: the gateway's own MCP clients (the tool router's
//! federation) reach stdio adapters the way a client does, minus the front door.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;

use super::StdioBridge;
use crate::domain::model::ResourceKind;
use crate::infra::auth::Caller;
use crate::services::edge::AdapterPort;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};

#[async_trait::async_trait]
impl AdapterPort for StdioBridge {
    async fn exchange(
        &self,
        caller: &Caller,
        _peer: SocketAddr,
        name: &str,
        request: Request,
    ) -> Response {
        match self.store.get(ResourceKind::Adapter, name) {
            Some(adapter) => self.handle_as(&adapter, caller, request).await,
            None => jsonrpc_error(
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
                &format!("adapter \"{name}\" does not exist"),
                None,
            ),
        }
    }
}
