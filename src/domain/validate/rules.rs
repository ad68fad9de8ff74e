//! The rule of each field, as a small pure function: `Ok`, or the rule it breaks in words.
//!
//! Beside each string rule sits the same rule as a regular expression (`*_PATTERN`), for the
//! JSON Schema of the API ([`super::body_schema`]). The expressions use only what ECMA-262,
//! Python's `re` and Rust's `regex` read alike (no look-around, no `\d`/`\s`, `\uXXXX` escapes),
//! and `tests.rs` checks each function and its pattern agree on a corpus of tricky values.

use serde_json::Value;

/// [`check_name`] as a pattern (it holds the length too).
pub const NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// [`check_env_name`] as a pattern.
pub const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// Environment variable values: anything but NUL.
pub const ENV_VALUE_PATTERN: &str = r"^[^\x00]*$";
/// The characters of [`check_role`]: no comma, control character (Unicode Cc) or white space
/// (Unicode White_Space), spelled out because `\s` means different things in different engines.
pub const ROLE_PATTERN: &str =
    r"^[^,\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$";
/// Longest role, in bytes of UTF-8.
pub const MAX_ROLE_BYTES: usize = 256;
/// [`check_image_name`] as a pattern (with [`MAX_IMAGE_NAME_LEN`]): one path component alone, or
/// components after a first part that is either a component without dots or a registry host
/// (a first part with a '.' or a ':' is a host, as Docker reads it).
pub const IMAGE_NAME_PATTERN: &str = concat!(
    "^(?:",
    "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*",
    "|[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+",
    r"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+",
    "(?::0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    "|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
    ":0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))",
    "(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+",
    ")$"
);
/// Longest image name.
pub const MAX_IMAGE_NAME_LEN: usize = 255;
/// [`check_image_version`] as a pattern (with [`MAX_IMAGE_VERSION_LEN`]).
pub const IMAGE_VERSION_PATTERN: &str =
    r"^(?:sha256:[0-9a-f]{64}|[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.?)$";
/// Longest image tag.
pub const MAX_IMAGE_VERSION_LEN: usize = 128;
/// [`check_url`] as a pattern (with [`MAX_URL_LEN`]). The IPv6 literal is RFC 3986's
/// `IPv6address`, alternative by alternative (`H` a group of 1 to 4 hex digits, `L` the last 32
/// bits: two groups or an IPv4 address).
pub const URL_PATTERN: &str = concat!(
    "^[Hh][Tt][Tt][Pp][Ss]?://",
    r"(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\[(?:",
    // H:H:H:H:H:H:L
    r"(?:[0-9A-Fa-f]{1,4}:){6}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    // ::H:H:H:H:H:L
    r"|::(?:[0-9A-Fa-f]{1,4}:){5}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    // [H]::H:H:H:H:L
    r"|(?:[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:){4}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    // [H:H]::H:H:H:L
    r"|(?:(?:[0-9A-Fa-f]{1,4}:)?[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:){3}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    // [H:H:H]::H:H:L
    r"|(?:(?:[0-9A-Fa-f]{1,4}:){0,2}[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:){2}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    // [H:H:H:H]::H:L
    r"|(?:(?:[0-9A-Fa-f]{1,4}:){0,3}[0-9A-Fa-f]{1,4})?::[0-9A-Fa-f]{1,4}:(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    // [H:H:H:H:H]::L
    r"|(?:(?:[0-9A-Fa-f]{1,4}:){0,4}[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    // [H:H:H:H:H:H]::H
    r"|(?:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4})?::[0-9A-Fa-f]{1,4}",
    // [H:H:H:H:H:H:H]::
    r"|(?:(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})?::",
    r")\])",
    "(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    "(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?",
    r"(?:\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
);
/// Longest url.
pub const MAX_URL_LEN: usize = 2048;
/// [`check_path`] as a pattern (with [`MAX_PATH_LEN`]): segments of the allowed characters,
/// none of them `.` or `..`.
pub const PATH_PATTERN: &str = concat!(
    r"^/(?:(?:[A-Za-z0-9_~-]|\.[A-Za-z0-9_~-]|\.\.[A-Za-z0-9._~-])[A-Za-z0-9._~-]*)?",
    r"(?:/(?:(?:[A-Za-z0-9_~-]|\.[A-Za-z0-9_~-]|\.\.[A-Za-z0-9._~-])[A-Za-z0-9._~-]*)?)*$"
);
/// Longest path.
pub const MAX_PATH_LEN: usize = 1024;

/// Resource names: DNS labels, so they work as container, Service and StatefulSet names.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit (^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$)".into())
    }
}

/// MCP tool names (2025-11-25): 1 to 128 of `A-Za-z0-9_-.`.
pub fn check_tool_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '-' and '.' (the MCP tool name rule)".into())
    }
}

/// Environment variable names as POSIX shells accept them.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("is not a valid environment variable name (^[A-Za-z_][A-Za-z0-9_]*$)".into())
    }
}

pub(super) fn check_role(role: &str) -> Result<(), String> {
    if role.is_empty() || role.len() > MAX_ROLE_BYTES {
        return Err(format!("must be 1 to {MAX_ROLE_BYTES} bytes long (UTF-8)"));
    }
    if role
        .chars()
        .any(|c| c == ',' || c.is_control() || c.is_whitespace())
    {
        return Err("must not contain commas, spaces or control characters (roles travel comma-separated in X-Mcp-Roles)".into());
    }
    Ok(())
}

/// An image repository as Docker parses it: `[host[:port]/]component(/component)*`, lowercase
/// components of `[a-z0-9]` joined by `.`, `_`, `__` or dashes. No tag here (that is imageVersion),
/// no scheme, no `..`.
pub fn check_image_name(image: &str) -> Result<(), String> {
    const RULE: &str = "must be a Docker image name like \"mcp-example\" or \"registry.example.com:5000/team/server\": lowercase letters, digits and separators, no scheme, no tag (put it in imageVersion)";
    if image.is_empty()
        || image.len() > MAX_IMAGE_NAME_LEN
        || image.contains("://")
        || image.contains("..")
    {
        return Err(RULE.into());
    }
    if image.contains('@') {
        return Err("must not contain a digest: give it as imageVersion \"sha256:...\"".into());
    }
    let mut parts: Vec<&str> = image.split('/').collect();
    // A first part with a '.', a ':' or equal to "localhost" is a registry host (Docker's rule).
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            check_registry_host(first).map_err(|_| RULE.to_string())?;
            parts.remove(0);
        }
    }
    if parts.iter().any(|part| part.contains(':')) {
        return Err("must not contain a tag: put it in imageVersion".into());
    }
    if parts.iter().all(|part| is_path_component(part)) {
        Ok(())
    } else {
        Err(RULE.into())
    }
}

fn check_registry_host(host: &str) -> Result<(), ()> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    // Digits only (`parse` alone would take a leading '+'), 1 to 65535.
    let port_ok = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if name_ok && port_ok { Ok(()) } else { Err(()) }
}

fn is_path_component(part: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
    let bytes = part.as_bytes();
    if bytes.is_empty() || !is_alnum_lower(bytes[0]) || !is_alnum_lower(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum_lower(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum_lower(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A Docker tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) or a digest `sha256:<64 hex>`.
pub fn check_image_version(version: &str) -> Result<(), String> {
    if let Some(hex) = version.strip_prefix("sha256:") {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Ok(());
        }
        return Err("a digest must be \"sha256:\" followed by 64 lowercase hex digits".into());
    }
    let bytes = version.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_IMAGE_VERSION_LEN
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !version.contains("..");
    if ok {
        Ok(())
    } else {
        Err("must be a Docker tag (1 to 128 of A-Z, a-z, 0-9, '_', '.', '-', not starting with '.' or '-') or a digest sha256:<hex>".into())
    }
}

/// An absolute http(s) URL: scheme, a host (a name or IPv4 address of `A-Za-z0-9_-` labels, or an
/// `[IPv6]` literal), an optional port from 1 to 65535, then an optional path and query of URL
/// characters (percent escapes complete). No credentials, no fragment: a grammar small enough to
/// state as [`URL_PATTERN`], inside what `http::Uri` parses.
pub fn check_url(url: &str) -> Result<(), String> {
    const RULE: &str = "must be an absolute http:// or https:// URL: a host name, IPv4 address or [IPv6] address, an optional :port, then an optional /path and ?query of URL characters";
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters long"));
    }
    let scheme_len = match url.get(..8).map(str::to_ascii_lowercase).as_deref() {
        Some("https://") => 8,
        _ if url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://")) =>
        {
            7
        }
        _ => return Err(RULE.into()),
    };
    let rest = &url[scheme_len..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err("must not contain credentials (user:password@); the gateway never forwards secrets in URLs".into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(literal) => {
            let Some((inside, after)) = literal.split_once(']') else {
                return Err(RULE.into());
            };
            if !is_ipv6_literal(inside) {
                return Err(RULE.into());
            }
            match after {
                "" => (inside, None),
                _ => (inside, Some(after.strip_prefix(':').ok_or(RULE)?)),
            }
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if !is_host_name(host) {
                return Err(if host.is_empty() {
                    "must have a host".into()
                } else {
                    RULE.into()
                });
            }
            (host, port)
        }
    };
    debug_assert!(!host.is_empty());
    if let Some(port) = port {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || port.starts_with('0') || port.parse::<u16>().is_err() {
            return Err("port must be from 1 to 65535 (digits, no leading zero)".into());
        }
    }
    if path_and_query.contains('#') {
        return Err("must not contain a fragment (#...): the gateway sends requests to the path and query only".into());
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let path_ok = url_chars_ok(path, |b| is_pchar(b) || b == b'/');
    let query_ok = query.is_none_or(|q| url_chars_ok(q, |b| is_pchar(b) || b == b'/' || b == b'?'));
    if !path_ok || !query_ok {
        return Err("path and query may hold only URL characters (A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , ; = : @ /, and ? in the query) and complete %XX escapes".into());
    }
    // The grammar above is a subset of what `http::Uri` reads; a failure here is a bug in it.
    url.parse::<http::Uri>()
        .map(drop)
        .map_err(|_| RULE.to_string())
}

/// A host name or IPv4 address: dot-separated labels of `A-Za-z0-9_-`.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// An IPv6 address as RFC 3986 writes it: eight groups of 1 to 4 hex digits (the last two may
/// be an IPv4 address), or fewer around one `::` that stands for at least one group.
fn is_ipv6_literal(inside: &str) -> bool {
    // An IPv4 address can only end the literal; it counts as two groups.
    let (groups, tail_groups) = match inside.rsplit_once(':') {
        Some((head, last)) if last.contains('.') => {
            if !is_ipv4(last) {
                return false;
            }
            (&inside[..=head.len()], 2)
        }
        _ => (inside, 0),
    };
    if groups.contains('.') {
        return false;
    }
    let hex_groups = |part: &str| -> Option<usize> {
        if part.is_empty() {
            return Some(0);
        }
        part.split(':')
            .all(|g| (1..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| part.split(':').count())
    };
    match groups.split_once("::") {
        None => {
            // Without `::`, a trailing ':' is only the separator before the IPv4 address.
            let groups = if tail_groups > 0 {
                groups.strip_suffix(':').unwrap_or("-")
            } else {
                groups
            };
            hex_groups(groups).is_some_and(|n| n + tail_groups == 8)
        }
        Some((left, right)) => {
            let right = if tail_groups > 0 && !right.is_empty() {
                match right.strip_suffix(':') {
                    Some(right) => right,
                    None => return false,
                }
            } else {
                right
            };
            match (hex_groups(left), hex_groups(right)) {
                (Some(l), Some(r)) => l + r + tail_groups <= 7,
                _ => false,
            }
        }
    }
}

/// Four decimal octets, 0 to 255, without leading zeros.
fn is_ipv4(text: &str) -> bool {
    let octets: Vec<&str> = text.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|b| b.is_ascii_digit())
                && (o.len() == 1 || !o.starts_with('0'))
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// RFC 3986 `pchar` without the percent sign: unreserved, sub-delims, ':' and '@'.
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

/// Every byte passes `allowed`, or is a '%' followed by two hex digits.
fn url_chars_ok(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let escape = bytes.get(i + 1..i + 3);
            if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else if allowed(bytes[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// An HTTP path: starts with `/`, only unreserved URL characters and `/`, no `..` segment.
pub fn check_path(path: &str) -> Result<(), String> {
    let ok = path.starts_with('/')
        && path.len() <= MAX_PATH_LEN
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~'))
        && !path
            .split('/')
            .any(|segment| segment == ".." || segment == ".");
    if ok {
        Ok(())
    } else {
        Err("must start with '/' and hold only A-Z, a-z, 0-9, '/', '-', '.', '_' and '~', with no '.' or '..' segments".into())
    }
}

/// A JSON Schema object describing an object (`"type": "object"`), as MCP requires for tools.
pub(super) fn check_object_schema(schema: &Value) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return Err("must be a JSON Schema object".into());
    };
    match map.get("type") {
        Some(Value::String(t)) if t == "object" => Ok(()),
        _ => Err("must be an object schema: \"type\": \"object\"".into()),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
