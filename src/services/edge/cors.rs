//! CORS on the MCP endpoints (`proxy.cors`): grants on answers and preflights, for the data plane
//! and the tool router alike.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use super::door::Door;

impl Door {
    /// With `proxy.cors` on, lets an allowed browser origin read an MCP endpoint's answer and the
    /// headers a client needs from it.
    pub fn add_cors(&self, origin: Option<HeaderValue>, response: &mut Response) {
        if let Some(origin) = origin
            && self.cors_grant(origin.as_bytes())
        {
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate"),
            );
        }
    }

    /// Whether an answer to `origin` carries the CORS grants (`proxy.cors` on, origin allowed).
    pub fn cors_grant(&self, origin: &[u8]) -> bool {
        self.cors
            && std::str::from_utf8(origin).is_ok_and(|o| {
                o.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t') && self.origins.allows(o)
            })
    }

    /// The answer to a CORS preflight (`OPTIONS`) on an MCP endpoint: 403 for an origin that is
    /// not allowed, else 204, with the CORS grants when `proxy.cors` is on.
    pub fn preflight(&self, request: &Request) -> Response {
        self.preflight_for(request.headers())
    }

    /// [`Door::preflight`] from the request's headers (only `Origin` and
    /// `Access-Control-Request-Headers` are read).
    pub fn preflight_for(&self, headers: &http::HeaderMap) -> Response {
        let origin = headers.get(header::ORIGIN).cloned();
        if let Some(refused) = self.refuse_origin(origin.as_ref()) {
            return refused;
        }
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        if self.cors {
            let h = response.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
            );
            let asked = headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or(HeaderValue::from_static(
                    "content-type, authorization, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id",
                ));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        self.add_cors(origin, &mut response);
        response
    }
}
