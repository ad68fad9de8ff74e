//! **HTTP**, the fourth layer: the gateway's HTTP surface over the services.
//!
//! - [`AppState`] and the request extractors ([`crate::infra::auth::Caller`], [`JsonObject`]).
//! - [`routes`]: the one route table, which both builds the axum router and generates
//!   `/openapi.json` ([`openapi`]), so the document cannot drift from what is served.
//! - [`error`]: [`ApiError`], every service's error mapped to a status in one place, rendered as
//!   RFC 9457 problem documents.
//! - [`listen`]: accepts connections; [`wire`] reads the data plane's plain `POST`s itself and
//!   hands everything else to hyper and [`front`], the first stop of every other request (the
//!   data plane's short way past the API router).
//! - The routes themselves: [`resources`] (the control plane; [`logs`] streams followed
//!   logs), [`mcp`] (the data plane and the tool router), [`health`], [`metrics`], [`oauth`],
//!   [`console`] (the web console's embedded assets, `/ui`).
//!
//! Uses the services and everything below; the app layer above wires it.

pub mod console;
pub mod error;
pub mod front;
mod health;
pub mod listen;
mod logs;
mod mcp;
mod metrics;
mod oauth;
pub mod openapi;
mod resources;
pub mod route;
pub mod routes;
mod wire;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use http::request::Parts;
use mcp_gateway_runtimes::Runtime;
use serde_json::{Map, Value};

pub use error::{ApiError, Problem};

use crate::domain::validate::Context;
use crate::infra::address::AddressPolicy;
use crate::infra::auth::{AuthError, Authenticator, Caller};
use crate::infra::config::LoadedConfig;
use crate::infra::store::Store;
use crate::services::edge::AdapterPort;
use crate::services::metrics::Exposition;
use crate::services::proxy::Proxy;
use crate::services::router::ToolRouter;
use crate::services::status::Status;
use crate::services::stdio::StdioBridge;

/// Largest control-plane request body.
pub const MAX_API_BODY: usize = 1 << 20;

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

/// The services and the few pieces of infrastructure the handlers use directly.
pub struct Shared {
    pub config: LoadedConfig,
    pub store: Arc<Store>,
    pub runtime: Arc<dyn Runtime>,
    pub auth: Arc<Authenticator>,
    /// The upstream address policy, checked on `url`s when resources are written.
    pub policy: Arc<AddressPolicy>,
    /// The data plane, `/adapters/{name}/mcp`.
    pub proxy: Arc<Proxy>,
    /// The data plane of stdio adapters.
    pub stdio: Arc<StdioBridge>,
    /// The tool router, `/mcp`.
    pub router: ToolRouter,
    pub status: Status,
    /// `/metrics`, with the API router's answer counters.
    pub metrics: Exposition,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The data plane as the gateway's own MCP clients reach it (federation): the stdio bridge or
/// the proxy, as each adapter's transport says.
pub struct DataPlane {
    pub proxy: Arc<Proxy>,
    pub stdio: Arc<StdioBridge>,
}

#[async_trait::async_trait]
impl AdapterPort for DataPlane {
    async fn exchange(
        &self,
        caller: &Caller,
        peer: std::net::SocketAddr,
        adapter: &str,
        request: Request,
    ) -> axum::response::Response {
        match self.stdio.serves(adapter) {
            true => self.stdio.exchange(caller, peer, adapter, request).await,
            false => self.proxy.exchange(caller, peer, adapter, request).await,
        }
    }
}

impl Shared {
    /// A data-plane request, to the stdio bridge or the proxy as the adapter's transport says.
    pub async fn data_plane(
        &self,
        peer: std::net::SocketAddr,
        name: &str,
        request: Request,
    ) -> axum::response::Response {
        if self.stdio.serves(name) {
            self.stdio.serve(peer, name, request).await
        } else {
            self.proxy.serve(peer, name, request).await
        }
    }

    pub fn validation_context(&self) -> Context {
        Context {
            deploys_images: self.runtime.deploys_images(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.auth.authenticate(&parts.headers).await.map_err(
            |AuthError::Unauthenticated { reason }| {
                tracing::info!(path = %parts.uri.path(), %reason, "unauthenticated request");
                ApiError::Unauthenticated {
                    challenge: state.auth.challenge(parts.uri.path()),
                }
            },
        )
    }
}

/// A JSON object request body, with errors as problem documents: 415 without a JSON content
/// type, 413 past [`MAX_API_BODY`], 400 for invalid JSON or a non-object.
pub struct JsonObject(pub Map<String, Value>);

impl<S> FromRequest<S> for JsonObject
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!("the body is larger than {MAX_API_BODY} bytes"))
            } else {
                ApiError::BadRequest(format!("cannot read the body: {rejection}"))
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            )),
            Err(err) => Err(ApiError::BadRequest(format!(
                "the body is not valid JSON: {err}"
            ))),
        }
    }
}
