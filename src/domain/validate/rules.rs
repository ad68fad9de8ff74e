//! The rule of each field, as a small pure function: `Ok`, or the rule it breaks in words.

use serde_json::Value;

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
    if role.is_empty() || role.len() > 256 {
        return Err("must be 1 to 256 characters".into());
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
    if image.is_empty() || image.len() > 255 || image.contains("://") || image.contains("..") {
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
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
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
        && bytes.len() <= 128
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

/// An absolute http(s) URL with a host and no credentials.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "must be an absolute http:// or https:// URL".to_string())?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err("must be an absolute http:// or https:// URL".into()),
    }
    let Some(authority) = uri.authority() else {
        return Err("must be an absolute http:// or https:// URL with a host".into());
    };
    if authority.as_str().contains('@') {
        return Err("must not contain credentials (user:password@); the gateway never forwards secrets in URLs".into());
    }
    if authority.host().is_empty() {
        return Err("must have a host".into());
    }
    if uri.port_u16() == Some(0) {
        return Err("port must be from 1 to 65535".into());
    }
    Ok(())
}

/// An HTTP path: starts with `/`, only unreserved URL characters and `/`, no `..` segment.
pub fn check_path(path: &str) -> Result<(), String> {
    let ok = path.starts_with('/')
        && path.len() <= 1024
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
