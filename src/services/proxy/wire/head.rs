//! Heads written as bytes from parsed heads: the upstream's request head from the client's, and
//! the client's response head from the upstream's. The hygiene is [`crate::services::edge::headers`]'s
//! (the same lists; tested against it), applied while copying instead of to a `HeaderMap`.

use httparse::Header;

use crate::services::edge::headers::{
    Identity, LONGEST_KNOWN, connection_named, is_request_drop_name, is_response_drop_name,
    lowered, push_forwarded,
};

/// Headers the gateway writes itself on the upstream request (any client copy is dropped).
fn set_by_gateway_upstream(lower: &[u8]) -> bool {
    matches!(
        lower,
        b"host"
            | b"x-mcp-userid"
            | b"x-mcp-roles"
            | b"forwarded"
            | b"mcp-session-id"
            | b"content-length"
    )
}

/// Whether a header named in the `Connection` list (`named`) is `name`.
fn is_named(named: &[&[u8]], name: &str) -> bool {
    !named.is_empty()
        && named
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

/// The values of the `Connection` headers among `headers`.
fn connection_values<'h>(headers: &'h [Header<'_>]) -> impl Iterator<Item = &'h [u8]> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| h.value)
}

/// A header value the gateway may write: what `http::HeaderValue` accepts (no control
/// characters but tab).
fn writable(value: &[u8]) -> bool {
    value.iter().all(|&b| (b >= 32 && b != 127) || b == b'\t')
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `content-length: n` and its line end.
fn push_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The status line of a response the gateway writes (the reason is the canonical one, as hyper
/// writes it).
fn push_status_line(out: &mut Vec<u8>, status: http::StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// What the upstream request says besides the client's headers.
pub(super) struct Upstream<'a> {
    pub method: &'a str,
    /// `path?query` of the upstream URL.
    pub path_and_query: &'a str,
    pub authority: &'a str,
    pub identity: Identity<'a>,
    /// The client's address, for the `Forwarded` element (with the client's `Host`).
    pub peer: std::net::SocketAddr,
    pub host: Option<&'a [u8]>,
    pub session: Option<&'a str>,
    /// The body's length (`None`: a bodiless `GET` or `DELETE` that had no `Content-Length`).
    pub content_length: Option<usize>,
}

/// Appends the upstream request head: the client's headers minus what hygiene drops and what the
/// gateway sets, then the gateway's own.
pub(super) fn upstream_head(out: &mut Vec<u8>, client: &[Header<'_>], up: &Upstream<'_>) {
    out.extend_from_slice(up.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(up.path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let named = connection_named(connection_values(client));
    let mut buf = [0u8; LONGEST_KNOWN];
    for header in client {
        let dropped = match lowered(header.name, &mut buf) {
            Some(lower) => is_request_drop_name(lower) || set_by_gateway_upstream(lower),
            None => false,
        };
        if dropped || is_named(&named, header.name) {
            continue;
        }
        push_header(out, header.name, header.value);
    }
    push_header(out, "host", up.authority.as_bytes());
    if writable(up.identity.user_id.as_bytes()) {
        push_header(out, "x-mcp-userid", up.identity.user_id.as_bytes());
    }
    out.extend_from_slice(b"x-mcp-roles: ");
    let roles_at = out.len();
    for (i, role) in up.identity.roles.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(role.as_bytes());
    }
    if !writable(&out[roles_at..]) {
        // Like the HeaderMap path: a value that cannot be written is not sent at all.
        out.truncate(roles_at - b"x-mcp-roles: ".len());
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"forwarded: ");
    push_forwarded(out, up.peer, up.host, "http");
    out.extend_from_slice(b"\r\n");
    if let Some(session) = up.session.filter(|s| writable(s.as_bytes())) {
        push_header(out, "mcp-session-id", session.as_bytes());
    }
    if let Some(length) = up.content_length {
        push_length(out, length as u64);
    }
    out.extend_from_slice(b"\r\n");
}

/// How the client's response body is framed.
pub(super) enum Downstream<'a> {
    /// No body and no length (204, 304).
    None,
    Length(u64),
    /// The upstream's chunked body, passed through: its `Transfer-Encoding` value as it was.
    Chunked(&'a [u8]),
    /// A body the gateway chunks (the upstream's ends at close).
    Rechunked,
}

/// What the client's response head says besides the upstream's headers.
pub(super) struct Client<'a> {
    pub status: http::StatusCode,
    pub framing: Downstream<'a>,
    /// The gateway's sealed session token, replacing the upstream's session id.
    pub session: Option<&'a [u8]>,
    /// The CORS grant for this origin (`proxy.cors` on and the origin allowed).
    pub cors_origin: Option<&'a [u8]>,
    /// The connection closes after this response.
    pub close: bool,
    /// The current `Date` value.
    pub date: &'a [u8],
}

/// Whether the upstream's headers say its body is an SSE stream.
pub(super) fn is_event_stream(upstream: &[Header<'_>]) -> bool {
    const SSE: &[u8] = b"text/event-stream";
    upstream
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .and_then(|h| h.value.trim_ascii_start().get(..SSE.len()))
        .is_some_and(|v| v.eq_ignore_ascii_case(SSE))
}

/// Appends the client's response head: the upstream's headers minus hop-by-hop ones, cookies,
/// its session id, its framing and whatever the gateway sets, then the gateway's own.
pub(super) fn client_head(out: &mut Vec<u8>, upstream: &[Header<'_>], client: &Client<'_>) {
    push_status_line(out, client.status);
    let named = connection_named(connection_values(upstream));
    let sse = is_event_stream(upstream);
    let cors = client.cors_origin.is_some();
    let mut dated = false;
    let mut buf = [0u8; LONGEST_KNOWN];
    for header in upstream {
        let name = header.name;
        let dropped = match lowered(name, &mut buf) {
            Some(lower) => {
                dated |= lower == b"date";
                is_response_drop_name(lower)
                    || lower == b"content-length"
                    || (sse && matches!(lower, b"cache-control" | b"x-accel-buffering"))
                    || (cors
                        && matches!(
                            lower,
                            b"access-control-allow-origin"
                                | b"vary"
                                | b"access-control-expose-headers"
                        ))
            }
            None => false,
        };
        if dropped || is_named(&named, name) {
            continue;
        }
        push_header(out, name, header.value);
    }
    if sse {
        out.extend_from_slice(b"cache-control: no-cache\r\nx-accel-buffering: no\r\n");
    }
    if let Some(token) = client.session {
        push_header(out, "mcp-session-id", token);
    }
    if let Some(origin) = client.cors_origin {
        push_header(out, "access-control-allow-origin", origin);
        out.extend_from_slice(b"vary: Origin\r\naccess-control-expose-headers: Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate\r\n");
    }
    if !dated {
        push_header(out, "date", client.date);
    }
    match client.framing {
        Downstream::None => {}
        Downstream::Length(n) => push_length(out, n),
        Downstream::Chunked(coding) => push_header(out, "transfer-encoding", coding),
        Downstream::Rechunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    if client.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the head of one of the gateway's own answers (an error, a refusal), which `response`
/// holds; its body follows with the length given.
pub(super) fn own_head(
    out: &mut Vec<u8>,
    response: &http::response::Parts,
    length: usize,
    close: bool,
    date: &[u8],
) {
    push_status_line(out, response.status);
    for (name, value) in &response.headers {
        if name != http::header::CONTENT_LENGTH {
            push_header(out, name.as_str(), value.as_bytes());
        }
    }
    if !response.headers.contains_key(http::header::DATE) {
        push_header(out, "date", date);
    }
    // A 204 (the end of a session) has no body and must not say how long it is.
    if response.status != http::StatusCode::NO_CONTENT {
        push_length(out, length as u64);
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::edge::headers;
    use http::{HeaderMap, HeaderName, HeaderValue};

    fn parse_request(bytes: &[u8]) -> HeaderMap {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut slots);
        assert!(request.parse(bytes).expect("parses").is_complete());
        to_map(request.headers)
    }

    fn to_map(parsed: &[Header<'_>]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for h in parsed {
            map.append(
                HeaderName::from_bytes(h.name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(h.value).expect("value"),
            );
        }
        map
    }

    fn sorted(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<_> = map
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        all.sort();
        all
    }

    const CLIENT: &[(&str, &str)] = &[
        ("Host", "gateway.example.com"),
        ("Authorization", "Bearer secret"),
        ("Cookie", "a=b"),
        ("Origin", "http://localhost:3000"),
        ("X-Mcp-UserId", "mallory"),
        ("x-mcp-roles", "mcp.admin"),
        ("X-Dev-UserId", "mallory"),
        ("Forwarded", "for=1.2.3.4"),
        ("Connection", "keep-alive, X-Custom-Hop"),
        ("x-custom-hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Accept-Encoding", "gzip"),
        ("Mcp-Session-Id", "gateway-token"),
        ("Content-Type", "application/json"),
        ("Content-Length", "2"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "add"),
        ("last-event-id", "7"),
    ];

    /// The wire path's upstream head carries exactly the headers the `HeaderMap` path would.
    #[test]
    fn upstream_heads_match_the_header_map_hygiene() {
        let mut raw = b"POST /adapters/a/mcp HTTP/1.1\r\n".to_vec();
        for (k, v) in CLIENT {
            raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut slots);
        parsed.parse(&raw).expect("parses");
        for (roles, user, session) in [
            (
                vec!["a".to_string(), "b".to_string()],
                "alice",
                Some("upstream-sid"),
            ),
            (vec![], "bad\nid", None),
            (vec!["one".to_string()], "bob", Some("bad\rsid")),
        ] {
            let identity = || Identity {
                user_id: user,
                roles: &roles,
            };
            let peer: std::net::SocketAddr = "127.0.0.1:5555".parse().expect("addr");
            let forwarded = headers::forwarded_element(peer, Some("gateway.example.com"), "http");
            let mut out = Vec::new();
            upstream_head(
                &mut out,
                parsed.headers,
                &Upstream {
                    method: "POST",
                    path_and_query: "/mcp?x=1",
                    authority: "127.0.0.1:49153",
                    identity: identity(),
                    peer,
                    host: Some(b"gateway.example.com"),
                    session,
                    content_length: Some(2),
                },
            );
            assert!(out.starts_with(b"POST /mcp?x=1 HTTP/1.1\r\n"));
            let wire = parse_request(&out);
            let mut expected = to_map(parsed.headers);
            headers::upstream_request(
                &mut expected,
                "127.0.0.1:49153",
                &identity(),
                &forwarded,
                session,
            );
            assert_eq!(
                sorted(&wire),
                sorted(&expected),
                "roles {roles:?} user {user:?}"
            );
        }
    }

    /// A bodiless `GET` or `DELETE` goes upstream with its method and no `Content-Length`.
    #[test]
    fn bodiless_requests_keep_their_method_and_have_no_length() {
        let raw = b"GET /adapters/a/mcp HTTP/1.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: t\r\n\r\n";
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut slots);
        parsed.parse(raw).expect("parses");
        let roles = vec![];
        let mut out = Vec::new();
        upstream_head(
            &mut out,
            parsed.headers,
            &Upstream {
                method: "GET",
                path_and_query: "/mcp",
                authority: "127.0.0.1:49153",
                identity: Identity {
                    user_id: "alice",
                    roles: &roles,
                },
                peer: "127.0.0.1:5555".parse().expect("addr"),
                host: None,
                session: Some("upstream-sid"),
                content_length: None,
            },
        );
        assert!(out.starts_with(b"GET /mcp HTTP/1.1\r\n"), "{out:?}");
        let wire = parse_request(&out);
        assert!(!wire.contains_key(http::header::CONTENT_LENGTH), "{wire:?}");
        assert_eq!(wire["mcp-session-id"], "upstream-sid");
        assert_eq!(wire["accept"], "text/event-stream");
    }

    #[test]
    fn client_heads_match_the_header_map_hygiene() {
        let upstream_raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nSet-Cookie: s=1\r\nMcp-Session-Id: up\r\nMCP-Protocol-Version: 2025-11-25\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nCache-Control: max-age=9\r\nX-Request-Id: r1\r\n\r\n";
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut slots);
        parsed.parse(upstream_raw).expect("parses");
        let mut out = Vec::new();
        client_head(
            &mut out,
            parsed.headers,
            &Client {
                status: http::StatusCode::OK,
                framing: Downstream::Chunked(b"chunked"),
                session: Some(b"sealed"),
                cors_origin: Some(b"http://localhost:3000"),
                close: false,
                date: b"Mon, 30 Nov 2026 12:00:00 GMT",
            },
        );
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut back = httparse::Response::new(&mut slots);
        assert!(back.parse(&out).expect("parses").is_complete());
        assert_eq!(back.code, Some(200));
        let wire = to_map(back.headers);

        let mut expected = to_map(parsed.headers);
        headers::downstream_response(&mut expected);
        expected.insert("mcp-session-id", HeaderValue::from_static("sealed"));
        expected.insert(
            "access-control-allow-origin",
            HeaderValue::from_static("http://localhost:3000"),
        );
        expected.insert("vary", HeaderValue::from_static("Origin"));
        expected.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate"),
        );
        expected.insert(
            "date",
            HeaderValue::from_static("Mon, 30 Nov 2026 12:00:00 GMT"),
        );
        // The wire path passes the chunked framing through, so it says so.
        expected.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        assert_eq!(sorted(&wire), sorted(&expected));
    }

    #[test]
    fn own_answers_carry_their_length_and_close() {
        let response = crate::services::edge::jsonrpc::jsonrpc_error(
            http::StatusCode::NOT_FOUND,
            -32001,
            "gone",
            None,
        );
        let (parts, _) = response.into_parts();
        let mut out = Vec::new();
        own_head(&mut out, &parts, 57, true, b"d");
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("content-length: 57\r\n"), "{text}");
        assert!(text.contains("connection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"));
    }
}
