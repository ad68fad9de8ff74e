//! Phase: read the request body. Small bodies with a declared length are read whole, so the
//! JSON-RPC id can be echoed in errors and a request without a session can be retried on another
//! replica; other POST bodies stream, bounded by `proxy.max_body_bytes`.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use super::Proxy;
use super::replies::too_large;
use crate::services::edge::jsonrpc::{code, jsonrpc_error};

/// The request body as it goes upstream: bytes in hand, or a stream still arriving.
pub(super) struct RequestBody {
    pub buffered: Option<Bytes>,
    pub streamed: Option<Body>,
}

impl RequestBody {
    /// The body for the upstream request (buffered bytes are shared, not copied).
    pub fn outbound(buffered: &Option<Bytes>, streamed: Option<Body>) -> Body {
        match (buffered, streamed) {
            (Some(bytes), _) => Body::from(bytes.clone()),
            (None, Some(body)) => body,
            (None, None) => Body::empty(),
        }
    }
}

impl Proxy {
    /// The body, or the answer refusing it (413 past the limit, 400 when it cannot be read).
    pub(super) async fn read_body(
        &self,
        parts: &Parts,
        incoming: Body,
    ) -> Result<RequestBody, Response> {
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(too_large(self.max_body, None));
        }
        let limit = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        let (buffered, streamed) = match declared {
            Some(_) => match Limited::new(incoming, limit).collect().await {
                Ok(collected) => (Some(collected.to_bytes()), None),
                Err(err) if is_length_limit_error(err.as_ref()) => {
                    return Err(too_large(self.max_body, None));
                }
                Err(err) => {
                    return Err(jsonrpc_error(
                        StatusCode::BAD_REQUEST,
                        code::UPSTREAM,
                        &format!("cannot read the request body: {err}"),
                        None,
                    ));
                }
            },
            None if parts.method != Method::POST => (Some(Bytes::new()), None),
            None => (None, Some(Body::new(Limited::new(incoming, limit)))),
        };
        Ok(RequestBody { buffered, streamed })
    }
}

/// Whether `err` (or an error under it) is a body over its length limit.
pub(super) fn is_length_limit_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}
