//! The invariants of the gateway's pure protocol pieces: the parts that read what clients (and
//! operators) send. Checked by the property tests (`tests/properties.rs`, every test run) and by
//! the fuzz targets (`fuzz/`, `scripts/fuzz.sh`), which include this file by path: one definition
//! of each rule, so the two cannot drift apart.
//!
//! Each `check_*` function runs the code under test on one input and panics, naming the broken
//! rule, when an invariant does not hold (a panic of the code under test is a failure too).
//! The rules are written from the modules' docs, not from their code.

// Each user (the property tests, each fuzz target) calls only some of these checks.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue};
use mcp_gateway::infra::auth::split_roles;
use mcp_gateway::infra::config;
use mcp_gateway::services::edge::headers::{self, Identity};
use mcp_gateway::services::edge::jsonrpc;
use mcp_gateway::services::edge::session::{
    MAX_TOKEN_LEN, SessionClaims, SessionKeys, valid_session_id,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Session tokens (`services::edge::session`)

/// The keys the checks use: key 2 seals, key 1 (from before a rotation) still opens.
pub fn session_keys() -> SessionKeys {
    SessionKeys::new((2, [0x42; 32]), &[(1, [0x17; 32])])
}

/// Opening any string never panics, and whatever opens is a token of ours: sealed again, its
/// claims open to themselves.
pub fn check_open_any(keys: &SessionKeys, token: &str) {
    if let Some(claims) = keys.open(token) {
        let again = keys
            .seal(&claims, [9; 12])
            .expect("claims that opened can be sealed again");
        assert_eq!(keys.open(&again), Some(claims), "re-sealed claims open");
    }
}

/// `valid_session_id` (the rule for an upstream's session id) is exactly: 1 to 1024 bytes, each
/// visible ASCII (0x21–0x7E).
pub fn check_session_id_rule(id: &[u8]) {
    let expected = (1..=1024).contains(&id.len()) && id.iter().all(|b| (0x21..=0x7e).contains(b));
    assert_eq!(valid_session_id(id), expected, "valid_session_id({id:?})");
}

/// The length of the token for `claims`: base64url (no padding) of version, key id, nonce,
/// the encoded claims and the 16-byte tag.
fn token_len(claims: &SessionClaims) -> usize {
    let raw = 2 + 12 + 8 + 4 + 1 + claims.adapter.len() + 2 + claims.user.len();
    let raw = raw + claims.upstream.len() + 16;
    (raw * 4).div_ceil(3)
}

/// Sealing then opening gives the claims back; a token is visible ASCII, a valid header value,
/// never longer than [`MAX_TOKEN_LEN`]; seal refuses only what a token cannot carry; a rotation
/// keeps it open; another key, and any edit of it (one character replaced, cut short,
/// lengthened), never opens.
pub fn check_seal_open(
    keys: &SessionKeys,
    claims: &SessionClaims,
    nonce: [u8; 12],
    edit_at: usize,
    replacement: u8,
) {
    let carriable = claims.adapter.len() <= usize::from(u8::MAX)
        && claims.user.len() <= usize::from(u16::MAX)
        && token_len(claims) <= MAX_TOKEN_LEN;
    let Some(token) = keys.seal(claims, nonce) else {
        assert!(
            !carriable,
            "seal refused claims a token can carry: {claims:?}"
        );
        return;
    };
    assert!(carriable, "sealed claims no token can carry: {claims:?}");
    assert_eq!(token.len(), token_len(claims), "token length");
    assert!(
        token.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "a token is visible ASCII: {token}"
    );
    assert!(HeaderValue::from_str(&token).is_ok(), "a header value");
    assert_eq!(keys.open(&token).as_ref(), Some(claims), "round trip");

    let rotated = SessionKeys::new((3, [0x99; 32]), &[(2, [0x42; 32])]);
    assert_eq!(
        rotated.open(&token).as_ref(),
        Some(claims),
        "after rotation"
    );
    let foreign = SessionKeys::new((2, [0x43; 32]), &[(1, [0x17; 32])]);
    assert_eq!(foreign.open(&token), None, "another key with the same id");

    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let at = edit_at % token.len();
    let mut edited = token.clone().into_bytes();
    let mut pick = usize::from(replacement) % ALPHABET.len();
    if ALPHABET[pick] == edited[at] {
        pick = (pick + 1) % ALPHABET.len();
    }
    edited[at] = ALPHABET[pick];
    let edited = String::from_utf8(edited).expect("ASCII");
    assert_eq!(keys.open(&edited), None, "one character replaced at {at}");
    assert_eq!(keys.open(&token[..at]), None, "cut short at {at}");
    let longer = format!("{token}{}", char::from(ALPHABET[pick]));
    assert_eq!(keys.open(&longer), None, "lengthened");
    // The raw form too: every key id and version byte is authenticated.
    let mut raw = URL_SAFE_NO_PAD.decode(&token).expect("base64url");
    raw[usize::from(replacement) % 2] ^= 1 | (replacement & 0xfe);
    assert_eq!(keys.open(&URL_SAFE_NO_PAD.encode(raw)), None, "header byte");
}

// ---------------------------------------------------------------------------------------------
// Header hygiene (`services::edge::headers`)

/// Request headers no upstream ever gets from a client: credentials, browser context, identity
/// and forwarding claims only the gateway may make, encodings, and hop-by-hop headers
/// (RFC 9110 §7.6.1).
pub const NEVER_UPSTREAM: &[&str] = &[
    "authorization",
    "cookie",
    "origin",
    "x-dev-userid",
    "x-dev-roles",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "accept-encoding",
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

/// Request headers the gateway writes itself: the client's own never survive.
pub const GATEWAY_WRITES: &[&str] = &[
    "host",
    "x-mcp-userid",
    "x-mcp-roles",
    "forwarded",
    "mcp-session-id",
];

/// Response headers no client ever gets from an upstream.
pub const NEVER_DOWNSTREAM: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "mcp-session-id",
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

/// Header names that must pass both ways untouched (content and MCP headers, and one unknown).
pub const PASSING: &[&str] = &[
    "content-type",
    "content-length",
    "accept",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
    "cache-control",
    "x-accel-buffering",
    "x-custom",
];

/// Header names worth trying (in any case): every name with a rule (taken from the rule lists
/// above, so a name added to a rule is tried at once), and the ones that must pass.
pub static NAMES: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut names: Vec<&'static str> = Vec::new();
    for name in [NEVER_UPSTREAM, GATEWAY_WRITES, NEVER_DOWNSTREAM, PASSING].concat() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
});

/// A header map from raw pairs, skipping names and values `http` does not accept.
pub fn header_map<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_ref()),
            HeaderValue::from_bytes(value.as_ref()),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// Whether `name` is listed in a `Connection` header (a comma-separated list of header names,
/// read as bytes: a value that is not all visible ASCII still names what it names).
fn named_in_connection(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
    headers.get_all(name).iter().map(|v| v.as_bytes()).collect()
}

/// `name` holds exactly `value` once when it is a valid header value, else is absent.
fn written_once(headers: &HeaderMap, name: &str, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(_) => assert_eq!(
            values(headers, name),
            vec![value.as_bytes()],
            "{name} is exactly the gateway's"
        ),
        Err(_) => assert!(
            !headers.contains_key(name),
            "{name}: an unwritable value sends none, never the client's"
        ),
    }
}

/// What `upstream_request` makes of a client's headers: nothing on the never-upstream list or
/// named in `Connection` gets through; host, identity, `Forwarded` and the session id are
/// exactly the gateway's (or absent when they cannot be written); every other header passes
/// untouched, values in order; nothing else is added.
pub fn check_upstream_request(
    client: &HeaderMap,
    authority: &str,
    user_id: &str,
    roles: &[String],
    forwarded: &str,
    upstream_session: Option<&str>,
) {
    let mut out = client.clone();
    let identity = Identity { user_id, roles };
    headers::upstream_request(&mut out, authority, &identity, forwarded, upstream_session);

    for name in NEVER_UPSTREAM {
        assert!(!out.contains_key(*name), "{name} reached the upstream");
    }
    written_once(&out, "host", authority);
    written_once(&out, "x-mcp-userid", user_id);
    written_once(&out, "x-mcp-roles", &roles.join(","));
    written_once(&out, "forwarded", forwarded);
    match upstream_session {
        Some(session) => written_once(&out, "mcp-session-id", session),
        None => assert!(!out.contains_key("mcp-session-id"), "no session, none sent"),
    }
    // The roles the upstream reads are the caller's, when a role can be told apart in a list.
    if roles
        .iter()
        .all(|r| !r.is_empty() && r.trim() == r && !r.contains(','))
        && let Some(sent) = out.get("x-mcp-roles").and_then(|v| v.to_str().ok())
    {
        assert_eq!(split_roles(sent), roles, "the caller's roles");
    }
    for name in client.keys() {
        let name = name.as_str();
        let dropped = NEVER_UPSTREAM.contains(&name) || named_in_connection(client, name);
        if GATEWAY_WRITES.contains(&name) {
            continue;
        }
        if dropped {
            assert!(
                !out.contains_key(name),
                "{name} (hop-by-hop) reached the upstream"
            );
        } else {
            assert_eq!(
                values(&out, name),
                values(client, name),
                "{name} passes untouched"
            );
        }
    }
    for name in out.keys() {
        assert!(
            client.contains_key(name) || GATEWAY_WRITES.contains(&name.as_str()),
            "{name} appeared from nowhere"
        );
    }
}

/// What `downstream_response` makes of an upstream's headers: nothing on the never-downstream
/// list or named in `Connection`; an event stream is marked not to be cached or buffered;
/// every other header passes untouched.
pub fn check_downstream_response(upstream: &HeaderMap) {
    let content_type = upstream
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches([' ', '\t']).to_ascii_lowercase());
    let sse = content_type.is_some_and(|v| v.starts_with("text/event-stream"));
    assert_eq!(headers::is_event_stream(upstream), sse, "is_event_stream");

    let mut out = upstream.clone();
    headers::downstream_response(&mut out);
    for name in NEVER_DOWNSTREAM {
        assert!(!out.contains_key(*name), "{name} reached the client");
    }
    let marked = ["cache-control", "x-accel-buffering"];
    if sse {
        assert_eq!(values(&out, "cache-control"), vec![b"no-cache".as_slice()]);
        assert_eq!(values(&out, "x-accel-buffering"), vec![b"no".as_slice()]);
    }
    for name in upstream.keys() {
        let name = name.as_str();
        if sse && marked.contains(&name) {
            continue;
        }
        if NEVER_DOWNSTREAM.contains(&name) || named_in_connection(upstream, name) {
            assert!(
                !out.contains_key(name),
                "{name} (hop-by-hop) reached the client"
            );
        } else {
            assert_eq!(
                values(&out, name),
                values(upstream, name),
                "{name} passes untouched"
            );
        }
    }
    for name in out.keys() {
        assert!(
            upstream.contains_key(name) || (sse && marked.contains(&name.as_str())),
            "{name} appeared from nowhere"
        );
    }
}

/// An RFC 7239 element as `(parameter, value)` pairs, quoted strings unescaped; `None` when it
/// is not well formed (`token=value` pairs split by `;`, a value a token or a quoted string).
pub fn parse_forwarded(element: &str) -> Option<Vec<(String, String)>> {
    fn is_tchar(c: char) -> bool {
        c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
    }
    let mut pairs = Vec::new();
    let mut chars = element.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek().filter(|c| is_tchar(**c)) {
            name.push(c);
            chars.next();
        }
        if name.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek().filter(|c| is_tchar(**c)) {
                value.push(c);
                chars.next();
            }
            if value.is_empty() {
                return None;
            }
        }
        pairs.push((name.to_ascii_lowercase(), value));
        match chars.next() {
            None => return Some(pairs),
            Some(';') => {}
            Some(_) => return None,
        }
    }
}

/// `forwarded_element` is a well-formed RFC 7239 element and a valid header value: `for` is
/// exactly the peer, `host` the client's `Host` when that is visible ASCII without quotes or
/// backslashes, as a host name is (and absent otherwise), `proto` the protocol.
pub fn check_forwarded(peer: SocketAddr, host: Option<&str>, https: bool) {
    let proto = if https { "https" } else { "http" };
    let element = headers::forwarded_element(peer, host, proto);
    assert!(
        HeaderValue::from_str(&element).is_ok(),
        "{element:?} is a header value"
    );
    let pairs = parse_forwarded(&element)
        .unwrap_or_else(|| panic!("{element:?} is not a well-formed Forwarded element"));
    let peer_text = match peer {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    };
    let mut expected = vec![("for".to_string(), peer_text)];
    if let Some(host) = host.filter(|h| {
        h.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && !b"\"\\".contains(&b))
    }) {
        expected.push(("host".to_string(), host.to_string()));
    }
    expected.push(("proto".to_string(), proto.to_string()));
    assert_eq!(pairs, expected, "{element:?}");
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC envelopes (`services::edge::jsonrpc`)

/// `request_id` never panics; an id it finds is one JSON-RPC allows (a string or a number) and
/// the body's own; a request object with such an id always has it found.
pub fn check_request_id(body: &[u8]) {
    let found = jsonrpc::request_id(body);
    if let Some(id) = &found {
        assert!(id.is_string() || id.is_number(), "not a JSON-RPC id: {id}");
    }
    if let Ok(parsed) = serde_json::from_slice::<Value>(body) {
        let expected = parsed
            .as_object()
            .and_then(|request| request.get("id"))
            .filter(|id| id.is_string() || id.is_number());
        assert_eq!(found.as_ref(), expected, "the request's id");
    }
}

// ---------------------------------------------------------------------------------------------
// Config parsing (`infra::config`)

/// The name the checks give the config file, as errors quote it.
pub const CONFIG_ORIGIN: &str = "fuzz.toml";

/// `config::parse` never panics, whatever the text. An error that names a line names one of
/// the text's lines, and one that names a setting's line (`…, line N: key: …`) names a line
/// holding that key, outside the resources' tables. A config that parses declares each
/// resource once.
pub fn check_config(text: &str) {
    let lines = text.matches('\n').count() + 1;
    match config::parse(text, CONFIG_ORIGIN, PathBuf::from(".")) {
        Ok(loaded) => {
            for (i, (kind, spec)) in loaded.resources.iter().enumerate() {
                let twice = loaded.resources[..i]
                    .iter()
                    .any(|(k, s)| k == kind && s.name == spec.name);
                assert!(!twice, "{kind} {} declared twice but accepted", spec.name);
            }
        }
        Err(err) => {
            let message = err.0;
            assert!(
                message.starts_with(CONFIG_ORIGIN),
                "names the file: {message}"
            );
            for line in message.lines() {
                let Some(rest) = line
                    .strip_prefix(CONFIG_ORIGIN)
                    .and_then(|r| r.strip_prefix(", line "))
                    .or_else(|| {
                        line.strip_prefix(CONFIG_ORIGIN)
                            .and_then(|r| r.strip_prefix(": TOML parse error at line "))
                    })
                else {
                    continue;
                };
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let Ok(n) = digits.parse::<usize>() else {
                    continue;
                };
                assert!((1..=lines).contains(&n), "line {n} of {lines}: {message}");
                // `fuzz.toml, line N: key: …` for a top-level setting: line N sets the key.
                if let Some(key) = rest[digits.len()..]
                    .strip_prefix(": ")
                    .and_then(|r| r.split_once(':'))
                    .map(|(key, _)| key)
                    .filter(|key| key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                {
                    let text_line = text.split('\n').nth(n - 1).unwrap_or_default();
                    assert!(
                        text_line.contains(key),
                        "line {n} ({text_line:?}) does not set {key}: {message}"
                    );
                    // Settings never live in a resource's tables (an environment variable or
                    // a schema property of the same name is not the setting).
                    let table = text
                        .split('\n')
                        .take(n - 1)
                        .map(str::trim_start)
                        .filter(|line| line.starts_with('['))
                        .last()
                        .unwrap_or_default();
                    let resource = ["[[adapters]]", "[[tools]]", "[adapters.", "[tools."]
                        .iter()
                        .any(|header| table.starts_with(header));
                    assert!(
                        !resource,
                        "line {n} is in {table}, not where {key} is set: {message}"
                    );
                }
            }
        }
    }
}
