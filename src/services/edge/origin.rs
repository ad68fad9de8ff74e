//! Which browser origins may call the MCP endpoints (DNS-rebinding protection, as the MCP spec
//! asks of servers): localhost origins, the gateway's public origin, and configured ones.

/// The allowed origins.
pub struct OriginPolicy {
    any: bool,
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// `public_url` is the gateway's own origin; `configured` comes from `proxy.allowed_origins`.
    pub fn new(public_url: &str, configured: &[String]) -> Self {
        let any = configured.iter().any(|o| o == "*");
        let mut allowed: Vec<String> = configured
            .iter()
            .filter(|o| *o != "*")
            .filter_map(|o| normalise(o))
            .collect();
        if let Some(own) = normalise(public_url) {
            allowed.push(own);
        }
        Self { any, allowed }
    }

    pub fn allows(&self, origin: &str) -> bool {
        if self.any {
            return true;
        }
        let Some(origin) = normalise(origin) else {
            return false;
        };
        let uri: http::Uri = match origin.parse() {
            Ok(uri) => uri,
            Err(_) => return false,
        };
        if matches!(
            uri.host(),
            Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
        ) {
            return true;
        }
        self.allowed.contains(&origin)
    }
}

/// `scheme://host[:port]` in lowercase without a path, default ports dropped; `None` if it is not
/// an http(s) origin.
fn normalise(origin: &str) -> Option<String> {
    let uri: http::Uri = origin.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = uri.host()?.to_ascii_lowercase();
    let default_port = if scheme == "http" { 80 } else { 443 };
    Some(match uri.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_public_and_configured_origins() {
        let policy = OriginPolicy::new(
            "https://gw.example.com/",
            &["https://app.example.com:8443".to_string()],
        );
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:5173",
            "https://gw.example.com",
            "https://GW.example.com:443",
            "https://app.example.com:8443",
        ] {
            assert!(policy.allows(ok), "{ok}");
        }
        for bad in [
            "https://evil.example.com",
            "null",
            "file://",
            "https://app.example.com",
            "http://gw.example.com",
        ] {
            assert!(!policy.allows(bad), "{bad}");
        }
        assert!(OriginPolicy::new("http://x", &["*".to_string()]).allows("https://anything.test"));
    }
}
