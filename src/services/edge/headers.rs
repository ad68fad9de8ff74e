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

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction. Names are
/// lowercase bytes.
fn is_hop_by_hop_name(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection"
            | b"keep-alive"
            | b"proxy-connection"
            | b"proxy-authenticate"
            | b"proxy-authorization"
            | b"te"
            | b"trailer"
            | b"transfer-encoding"
            | b"upgrade"
    )
}

/// Request headers the upstream must not see: credentials, identity claims only the gateway may
/// make, browser context, forwarding claims only the gateway may make, and encodings that would
/// make the upstream buffer SSE behind a compressor. (`host`, `x-mcp-userid`, `x-mcp-roles`,
/// `forwarded` and `mcp-session-id` are replaced by the gateway's own.)
pub fn is_request_drop_name(name: &[u8]) -> bool {
    matches!(
        name,
        b"authorization"
            | b"cookie"
            | b"origin"
            | b"x-dev-userid"
            | b"x-dev-roles"
            | b"x-forwarded-for"
            | b"x-forwarded-host"
            | b"x-forwarded-proto"
            | b"accept-encoding"
    ) || is_hop_by_hop_name(name)
}

/// Response headers the client must not see (the gateway sets its own `Mcp-Session-Id`).
pub fn is_response_drop_name(name: &[u8]) -> bool {
    matches!(name, b"set-cookie" | b"set-cookie2" | b"mcp-session-id") || is_hop_by_hop_name(name)
}

/// Longer names than this are none that hygiene or the gateway's own headers know
/// (`access-control-expose-headers` is the longest).
pub const LONGEST_KNOWN: usize = 32;

/// A raw header name (as a client or upstream wrote it) in lowercase, for the `is_*_name` tests;
/// `None` when it is longer than any name they know.
pub fn lowered<'b>(name: &str, buf: &'b mut [u8; LONGEST_KNOWN]) -> Option<&'b [u8]> {
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    Some(lower)
}

/// The tokens of `Connection` header values other than `keep-alive`: the headers they name are
/// hop-by-hop too. Usually there are none, and nothing is kept.
pub fn connection_named<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<&'a [u8]> {
    values
        .flat_map(|v| v.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(b"keep-alive"))
        .collect()
}

/// The tokens of the `Connection` header(s). Read as bytes: a list with a name that is not
/// visible ASCII still names the others.
fn connection_tokens<'a>(
    listed: &'a http::header::GetAll<'a, HeaderValue>,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    listed
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
}

/// Removes every header `drop` names, and those the `Connection` header names. One pass over
/// the names present; no allocation unless something goes. The `Connection` list is read once,
/// and not at all per header when it names only `keep-alive` (dropped anyway): the usual case.
fn remove_where(headers: &mut HeaderMap, drop: fn(&[u8]) -> bool) {
    let listed = headers.get_all(header::CONNECTION);
    let names_others = connection_tokens(&listed).any(|t| !t.eq_ignore_ascii_case(b"keep-alive"));
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            drop(name.as_str().as_bytes())
                || (names_others
                    && connection_tokens(&listed)
                        .any(|t| t.eq_ignore_ascii_case(name.as_str().as_bytes())))
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// Sets `name` to `value`, or removes it when `value` is not a valid header value: a client's
/// own header of that name never survives.
fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(_) => {
            headers.remove(name);
        }
    }
}

/// Who is calling, as the upstream is told.
pub struct Identity<'a> {
    pub user_id: &'a str,
    pub roles: &'a [String],
}

/// Turns the client's request headers, in place, into the upstream's.
pub fn upstream_request(
    headers: &mut HeaderMap,
    upstream_authority: &str,
    identity: &Identity<'_>,
    forwarded: &str,
    upstream_session: Option<&str>,
) {
    remove_where(headers, is_request_drop_name);
    set(headers, header::HOST, upstream_authority);
    set(headers, X_MCP_USERID.clone(), identity.user_id);
    match identity.roles {
        [] => {
            headers.insert(X_MCP_ROLES.clone(), HeaderValue::from_static(""));
        }
        [one] => set(headers, X_MCP_ROLES.clone(), one),
        many => set(headers, X_MCP_ROLES.clone(), &many.join(",")),
    }
    set(headers, header::FORWARDED, forwarded);
    match upstream_session {
        Some(session) => set(headers, MCP_SESSION_ID.clone(), session),
        None => {
            headers.remove(&MCP_SESSION_ID);
        }
    }
}

/// Filters upstream response headers in place for the client. The caller sets the gateway's own
/// `Mcp-Session-Id` afterwards.
pub fn downstream_response(headers: &mut HeaderMap) {
    // Judged before anything is dropped, as the wire path does: a `Content-Type` an upstream
    // wrongly names in `Connection` is dropped, but the body is still an event stream.
    let sse = is_event_stream(headers);
    remove_where(headers, is_response_drop_name);
    if sse {
        // Every event must reach the client as it is sent: tell caches and buffering proxies
        // (nginx honours X-Accel-Buffering) in front of us not to hold it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(X_ACCEL_BUFFERING.clone(), HeaderValue::from_static("no"));
    }
}

/// Whether a response is an SSE stream.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    const SSE: &str = "text/event-stream";
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().get(..SSE.len()))
        .is_some_and(|v| v.eq_ignore_ascii_case(SSE))
}

/// An RFC 7239 `Forwarded` element for a client at `peer` that asked for `host` over `proto`.
pub fn forwarded_element(peer: std::net::SocketAddr, host: Option<&str>, proto: &str) -> String {
    let mut out = Vec::with_capacity(96);
    push_forwarded(&mut out, peer, host.map(str::as_bytes), proto);
    // Only ASCII was written: the address, a host of visible ASCII, the protocol.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the `Forwarded` element of [`forwarded_element`] to `out` (the wire path writes it
/// straight into the upstream's head).
pub fn push_forwarded(
    out: &mut Vec<u8>,
    peer: std::net::SocketAddr,
    host: Option<&[u8]>,
    proto: &str,
) {
    use std::io::Write;
    out.extend_from_slice(b"for=\"");
    // Written piecewise: this runs on every proxied request.
    match peer {
        std::net::SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(*octet).as_bytes());
            }
        }
        std::net::SocketAddr::V6(v6) => {
            let _ = write!(out, "[{}]", v6.ip());
        }
    }
    out.push(b':');
    out.extend_from_slice(itoa::Buffer::new().format(peer.port()).as_bytes());
    out.push(b'"');
    // A host name has no quote or backslash; one that has them could not be quoted as it is.
    if let Some(host) = host.filter(|h| {
        h.iter()
            .all(|b| (0x21..=0x7e).contains(b) && *b != b'"' && *b != b'\\')
    }) {
        out.extend_from_slice(b";host=\"");
        out.extend_from_slice(host);
        out.push(b'"');
    }
    out.extend_from_slice(b";proto=");
    out.extend_from_slice(proto.as_bytes());
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
        let mut out = client.clone();
        upstream_request(
            &mut out,
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
    fn client_claims_never_survive_even_when_ours_cannot_be_written() {
        let client = map(&[
            ("mcp-session-id", "gateway-token"),
            ("x-mcp-userid", "mallory"),
            ("x-mcp-roles", "mcp.admin"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        let mut out = client.clone();
        upstream_request(
            &mut out,
            "127.0.0.1:1",
            &Identity {
                user_id: "bad\nid",
                roles: &[],
            },
            "for=\"127.0.0.1:5555\";proto=http",
            None,
        );
        assert!(!out.contains_key("mcp-session-id"), "no session: none sent");
        assert!(
            !out.contains_key("x-mcp-userid"),
            "unwritable id: none sent"
        );
        assert_eq!(out["x-mcp-roles"], "");
        assert!(!out.contains_key("x-forwarded-for"));
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

        // An upstream that names its own `Content-Type` in `Connection` loses the header, but
        // its body is still a stream and is still marked (as on the wire path).
        let mut named = map(&[
            ("connection", "content-type"),
            ("content-type", "text/event-stream"),
        ]);
        downstream_response(&mut named);
        assert!(!named.contains_key("content-type"));
        assert_eq!(named["cache-control"], "no-cache");
        assert_eq!(named["x-accel-buffering"], "no");
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
        let edge: std::net::SocketAddr = "10.0.255.9:65535".parse().expect("addr");
        assert_eq!(
            forwarded_element(edge, None, "http"),
            "for=\"10.0.255.9:65535\";proto=http"
        );
        assert_eq!(
            forwarded_element(v4, Some("bad\"host"), "http"),
            "for=\"127.0.0.1:5000\";proto=http"
        );
        // Found by the property tests: a backslash escaped our closing quote, so the element
        // ran on to the end and `proto` was lost inside the host.
        assert_eq!(
            forwarded_element(v4, Some("bad\\"), "http"),
            "for=\"127.0.0.1:5000\";proto=http"
        );
    }

    #[test]
    fn raw_names_are_lowered_for_the_lists() {
        let mut buf = [0u8; LONGEST_KNOWN];
        for name in [
            "Authorization",
            "COOKIE",
            "Transfer-Encoding",
            "x-forwarded-proto",
            "Proxy-Authorization",
        ] {
            let lower = lowered(name, &mut buf).expect("short");
            assert!(is_request_drop_name(lower), "{name}");
        }
        for name in ["Mcp-Session-Id", "Set-Cookie", "keep-alive"] {
            assert!(
                is_response_drop_name(lowered(name, &mut buf).expect("short")),
                "{name}"
            );
        }
        for name in ["Content-Type", "Mcp-Method"] {
            let lower = lowered(name, &mut buf).expect("short");
            assert!(
                !is_request_drop_name(lower) && !is_response_drop_name(lower),
                "{name}"
            );
        }
        assert_eq!(lowered(&"x".repeat(LONGEST_KNOWN + 1), &mut buf), None);
        let named = connection_named([&b"keep-alive, X-Hop"[..], b" close ,"].into_iter());
        assert_eq!(named, vec![&b"X-Hop"[..], b"close"]);
    }

    #[test]
    fn a_connection_list_is_read_as_bytes() {
        // Found writing the hygiene invariants (tests/invariants): one name that is not visible
        // ASCII made the whole list unreadable as text, and the headers it named went upstream.
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_bytes(b"x-hop, caf\xc3\xa9").expect("value"),
        );
        headers.insert("x-hop", HeaderValue::from_static("1"));
        upstream_request(
            &mut headers,
            "127.0.0.1:1",
            &Identity {
                user_id: "alice",
                roles: &[],
            },
            "for=\"127.0.0.1:5555\";proto=http",
            None,
        );
        assert!(!headers.contains_key("x-hop"));
    }
}
