//! Header hygiene between MCP clients and upstream servers: pure functions, tested alone.
//!
//! Requests: the upstream gets its own `Host`, the caller's identity as `X-Mcp-UserId` and
//! `X-Mcp-Roles` (never the caller's token, cookies or self-declared identity headers), a
//! `Forwarded` element written by us, and every `Mcp-*` / `MCP-Protocol-Version` header untouched.
//! Responses: content and MCP headers pass; cookies and hop-by-hop headers do not.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub static X_MCP_USERID: HeaderName = HeaderName::from_static("x-mcp-userid");
pub static X_MCP_ROLES: HeaderName = HeaderName::from_static("x-mcp-roles");
pub static MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub static X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers the upstream must not see: credentials, identity claims only the gateway may
/// make, browser context, forwarding claims only the gateway may make, and encodings that would
/// make the upstream buffer SSE behind a compressor.
const REQUEST_DROP: &[&str] = &[
    "host",
    "authorization",
    "cookie",
    "origin",
    "x-mcp-userid",
    "x-mcp-roles",
    "x-dev-userid",
    "x-dev-roles",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "accept-encoding",
    "mcp-session-id",
];

const RESPONSE_DROP: &[&str] = &["set-cookie", "set-cookie2", "mcp-session-id"];

fn named_in_connection(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()))
}

fn is_hop_by_hop(headers: &HeaderMap, name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
        || (headers.contains_key(header::CONNECTION) && named_in_connection(headers, name))
}

/// Who is calling, as the upstream is told.
pub struct Identity<'a> {
    pub user_id: &'a str,
    pub roles: &'a [String],
}

/// Builds the upstream request headers from the client's.
pub fn upstream_request(
    client: &HeaderMap,
    upstream_authority: &str,
    identity: &Identity<'_>,
    forwarded: &str,
    upstream_session: Option<&str>,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 5);
    for (name, value) in client {
        if REQUEST_DROP.contains(&name.as_str()) || is_hop_by_hop(client, name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Ok(host) = HeaderValue::from_str(upstream_authority) {
        out.insert(header::HOST, host);
    }
    if let Ok(user) = HeaderValue::from_str(identity.user_id) {
        out.insert(X_MCP_USERID.clone(), user);
    }
    if let Ok(roles) = HeaderValue::from_str(&identity.roles.join(",")) {
        out.insert(X_MCP_ROLES.clone(), roles);
    }
    if let Ok(forwarded) = HeaderValue::from_str(forwarded) {
        out.insert(header::FORWARDED, forwarded);
    }
    if let Some(session) = upstream_session.and_then(|s| HeaderValue::from_str(s).ok()) {
        out.insert(MCP_SESSION_ID.clone(), session);
    }
    out
}

/// Filters upstream response headers in place for the client. The caller sets the gateway's own
/// `Mcp-Session-Id` afterwards.
pub fn downstream_response(headers: &mut HeaderMap) {
    // Headers the upstream's Connection header names are hop-by-hop too (rare: collect only then).
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .keys()
            .filter(|name| named_in_connection(headers, name))
            .cloned()
            .collect();
        for name in named {
            headers.remove(&name);
        }
    }
    for name in RESPONSE_DROP.iter().chain(HOP_BY_HOP) {
        headers.remove(*name);
    }
    if is_event_stream(headers) {
        // Every event must reach the client as it is sent: tell caches and buffering proxies
        // (nginx honours X-Accel-Buffering) in front of us not to hold it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(X_ACCEL_BUFFERING.clone(), HeaderValue::from_static("no"));
    }
}

/// Whether a response is an SSE stream.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

/// An RFC 7239 `Forwarded` element for a client at `peer` that asked for `host` over `proto`.
pub fn forwarded_element(peer: std::net::SocketAddr, host: Option<&str>, proto: &str) -> String {
    let for_node = match peer {
        std::net::SocketAddr::V4(v4) => format!("\"{v4}\""),
        std::net::SocketAddr::V6(v6) => format!("\"[{}]:{}\"", v6.ip(), v6.port()),
    };
    match host.filter(|h| h.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"')) {
        Some(host) => format!("for={for_node};host=\"{host}\";proto={proto}"),
        None => format!("for={for_node};proto={proto}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn request_hygiene() {
        let client = map(&[
            ("host", "gateway.example.com"),
            ("authorization", "Bearer secret"),
            ("cookie", "a=b"),
            ("origin", "http://localhost:3000"),
            ("x-mcp-userid", "mallory"),
            ("x-mcp-roles", "mcp.admin"),
            ("x-dev-userid", "mallory"),
            ("forwarded", "for=1.2.3.4"),
            ("connection", "keep-alive, x-custom-hop"),
            ("x-custom-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("accept-encoding", "gzip"),
            ("mcp-session-id", "gateway-token"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add"),
            ("mcp-param-city", "Paris"),
            ("last-event-id", "7"),
        ]);
        let roles = vec!["a".to_string(), "b".to_string()];
        let out = upstream_request(
            &client,
            "127.0.0.1:49153",
            &Identity {
                user_id: "alice",
                roles: &roles,
            },
            "for=\"127.0.0.1:5555\";proto=http",
            Some("upstream-sid"),
        );
        assert_eq!(out["host"], "127.0.0.1:49153");
        assert_eq!(out["x-mcp-userid"], "alice");
        assert_eq!(out["x-mcp-roles"], "a,b");
        assert_eq!(out["forwarded"], "for=\"127.0.0.1:5555\";proto=http");
        assert_eq!(out["mcp-session-id"], "upstream-sid");
        for kept in [
            "content-type",
            "accept",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
            "mcp-param-city",
            "last-event-id",
        ] {
            assert_eq!(out[kept], client[kept], "{kept} passes untouched");
        }
        for dropped in [
            "authorization",
            "cookie",
            "origin",
            "x-dev-userid",
            "connection",
            "x-custom-hop",
            "keep-alive",
            "accept-encoding",
        ] {
            assert!(
                !out.contains_key(dropped),
                "{dropped} must not reach the upstream"
            );
        }
        assert_eq!(out.get_all("x-mcp-userid").iter().count(), 1);
    }

    #[test]
    fn response_hygiene() {
        let mut headers = map(&[
            ("content-type", "text/event-stream"),
            ("set-cookie", "s=1"),
            ("mcp-session-id", "upstream"),
            ("mcp-protocol-version", "2025-11-25"),
            ("transfer-encoding", "chunked"),
            ("x-request-id", "r1"),
        ]);
        downstream_response(&mut headers);
        assert!(!headers.contains_key("set-cookie"));
        assert!(!headers.contains_key("mcp-session-id"));
        assert!(!headers.contains_key("transfer-encoding"));
        assert_eq!(headers["mcp-protocol-version"], "2025-11-25");
        assert_eq!(headers["x-request-id"], "r1");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["x-accel-buffering"], "no");

        let mut json = map(&[("content-type", "application/json")]);
        downstream_response(&mut json);
        assert!(!json.contains_key("x-accel-buffering"));
    }

    #[test]
    fn forwarded_elements() {
        let v4: std::net::SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        assert_eq!(
            forwarded_element(v4, Some("gw:8000"), "http"),
            "for=\"127.0.0.1:5000\";host=\"gw:8000\";proto=http"
        );
        let v6: std::net::SocketAddr = "[::1]:5000".parse().expect("addr");
        assert_eq!(
            forwarded_element(v6, None, "https"),
            "for=\"[::1]:5000\";proto=https"
        );
        assert_eq!(
            forwarded_element(v4, Some("bad\"host"), "http"),
            "for=\"127.0.0.1:5000\";proto=http"
        );
    }
}
