//! The bridge as an [`AdapterPort`]: the gateway's own MCP clients (the tool router's
//! federation) reach stdio adapters the way a client does, minus the front door.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;

use std::sync::Arc;

use http::Method;

use super::{StdioBridge, method_not_allowed};
use crate::domain::model::Resource;
use crate::domain::model::ResourceKind;
use crate::infra::auth::Caller;
use crate::infra::auth::can_read;
use crate::services::edge::AdapterPort;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};

impl StdioBridge {
    /// A request of an admitted `caller` (from the front door, or from the gateway's own clients).
    pub(super) async fn handle_as(
        &self,
        adapter: &Arc<Resource>,
        caller: &Caller,
        request: Request,
    ) -> Response {
        if !can_read(caller, adapter) {
            return jsonrpc_error(
                StatusCode::FORBIDDEN,
                code::FORBIDDEN,
                &format!("you may not use adapter \"{}\"", adapter.name()),
                None,
            );
        }
        match *request.method() {
            Method::POST => self.post(adapter, caller, request).await,
            Method::GET => self.get(adapter, caller, request.headers()).await,
            Method::DELETE => self.delete(adapter, caller, request.headers()),
            _ => method_not_allowed(),
        }
    }
}

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
