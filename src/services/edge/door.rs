//! Admission to an MCP endpoint: the one door in front of the data plane and the tool router.

use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::jsonrpc::{code, jsonrpc_error};
use super::origin::OriginPolicy;
use crate::infra::auth::{AuthError, Authenticator, Caller};

/// The request headers [`Door::admit`] reads (the origin check and every authentication mode):
/// a caller that has the request only as parsed bytes hands over these.
pub const ADMISSION_HEADERS: [&str; 4] = ["origin", "authorization", "x-dev-userid", "x-dev-roles"];

/// Who may come in: the origin policy, the authenticator and whether CORS grants are given.
pub struct Door {
    pub(super) origins: OriginPolicy,
    auth: Arc<Authenticator>,
    pub(super) cors: bool,
}

impl Door {
    pub fn new(origins: OriginPolicy, auth: Arc<Authenticator>, cors: bool) -> Self {
        Self {
            origins,
            auth,
            cors,
        }
    }

    /// A browser `Origin` must be allowed (DNS-rebinding protection), then the caller must
    /// authenticate; otherwise the JSON-RPC error response to send, with the `WWW-Authenticate`
    /// challenge for `path` on a 401.
    pub async fn admit(&self, headers: &HeaderMap, path: &str) -> Result<Caller, Response> {
        if let Some(refused) = self.refuse_origin(headers.get(header::ORIGIN)) {
            return Err(refused);
        }
        match self.auth.authenticate(headers).await {
            Ok(caller) => Ok(caller),
            Err(AuthError::Unauthenticated { reason }) => {
                tracing::info!(path, %reason, "unauthenticated MCP request");
                let mut response = jsonrpc_error(
                    StatusCode::UNAUTHORIZED,
                    code::UNAUTHENTICATED,
                    "invalid token",
                    None,
                );
                if let Ok(challenge) = HeaderValue::from_str(&self.auth.challenge(path)) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, challenge);
                }
                Err(response)
            }
        }
    }

    /// The 403 for a browser origin that is not allowed; `None` when there is no `Origin` or it
    /// is allowed.
    pub fn refuse_origin(&self, origin: Option<&HeaderValue>) -> Option<Response> {
        let origin = origin?;
        if origin.to_str().is_ok_and(|o| self.origins.allows(o)) {
            return None;
        }
        Some(jsonrpc_error(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "this Origin is not allowed to call the gateway (proxy.allowed_origins)",
            None,
        ))
    }
}
