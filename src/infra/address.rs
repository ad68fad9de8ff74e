//! The upstream address policy: which addresses the gateway may send traffic to on behalf of a
//! `url` resource (SSRF protection). One rule set, applied twice: to the URL when a resource is
//! registered (literal addresses), and to every address actually dialled (after name
//! resolution, so DNS rebinding cannot get around it).
//!
//! - Always refused: link-local addresses (`169.254.0.0/16`, `fe80::/10`), cloud metadata
//!   addresses (`169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`), unspecified, multicast
//!   and broadcast addresses, and the gateway's own listen address.
//! - Refused unless allowed: loopback (`127.0.0.0/8`, `::1`; allowed by default only with auth
//!   `none`/`dev`, on a laptop), private ranges (`10/8`, `172.16/12`, `192.168/16`, shared
//!   `100.64/10`) and unique-local IPv6 (`fc00::/7`). `upstreams.allow` lists CIDRs and host
//!   names to allow; a name allows whatever it resolves to (but never what is always refused).
//! - IPv4-mapped and IPv4-compatible IPv6 forms are judged as the IPv4 address they carry.
//!
//! Only `url` resources are checked: replicas the runtime deployed are the gateway's own.
//! Pure rules plus one resolver; uses nothing above infrastructure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// Why an address is refused, in words naming the rule and the way to allow it (if any).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is a cloud metadata address, never an upstream")]
    Metadata(IpAddr),
    #[error("{0} is link-local, never an upstream")]
    LinkLocal(IpAddr),
    #[error("{0} is not a unicast address, never an upstream")]
    NotUnicast(IpAddr),
    #[error("{0} is the gateway's own address: a resource cannot point back at the gateway")]
    Own(SocketAddr),
    #[error(
        "{0} is a loopback address, refused by the upstream address policy; to allow it set \
         upstreams.allow_loopback = true (allowed by default only with auth.mode \"none\" or \"dev\")"
    )]
    Loopback(IpAddr),
    #[error(
        "{0} is a private address, refused by the upstream address policy; to allow it add its \
         range to upstreams.allow (e.g. \"{1}\")"
    )]
    Private(IpAddr, &'static str),
}

/// An entry of `upstreams.allow`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Allowed {
    Net(IpNet),
    Host(String),
}

/// Which upstream addresses `url` resources may reach.
#[derive(Clone, Debug)]
pub struct AddressPolicy {
    allow: Vec<Allowed>,
    loopback: bool,
    own: Option<SocketAddr>,
}

/// The cloud metadata services' addresses (AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba).
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

impl AddressPolicy {
    /// `allow`: CIDRs (`10.0.0.0/8`, `fd00::/8`), addresses, or host names; `loopback`: whether
    /// loopback addresses are allowed; `own`: the gateway's listen address (port 0: not known).
    pub fn new(allow: &[String], loopback: bool, own: Option<SocketAddr>) -> Result<Self, String> {
        let allow = allow
            .iter()
            .map(|entry| parse_allowed(entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            allow,
            loopback,
            own: own.filter(|own| own.port() != 0),
        })
    }

    /// The same policy, knowing the gateway's listen address.
    pub fn with_own_address(mut self, own: SocketAddr) -> Self {
        self.own = Some(own).filter(|own| own.port() != 0);
        self
    }

    /// Checks an address about to be dialled for `host` (the URL's host: an allow-listed name
    /// allows what it resolves to, unless that is always refused).
    pub fn check(&self, host: &str, addr: SocketAddr) -> Result<(), Refusal> {
        let ip = canonical(addr.ip());
        if METADATA.contains(&ip) {
            return Err(Refusal::Metadata(ip));
        }
        if is_link_local(ip) {
            return Err(Refusal::LinkLocal(ip));
        }
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(Refusal::NotUnicast(ip));
        }
        if let Some(own) = self.own
            && addr.port() == own.port()
            && (ip == canonical(own.ip()) || ip.is_loopback() || own.ip().is_unspecified())
        {
            return Err(Refusal::Own(SocketAddr::new(ip, addr.port())));
        }
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let allowed = self.allow.iter().any(|entry| match entry {
            Allowed::Net(net) => net.contains(&ip),
            Allowed::Host(name) => *name == host,
        });
        if allowed {
            return Ok(());
        }
        if ip.is_loopback() {
            return match self.loopback {
                true => Ok(()),
                false => Err(Refusal::Loopback(ip)),
            };
        }
        match private_range(ip) {
            Some(range) => Err(Refusal::Private(ip, range)),
            None => Ok(()),
        }
    }

    /// Checks a URL at registration: an address written in it is judged now; a host name is
    /// judged when it is resolved, at every connection. `Err` names the rule.
    pub fn check_url(&self, url: &str) -> Result<(), Refusal> {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return Ok(()); // the URL rules (validate::check_url) report a malformed URL
        };
        let Some(host) = uri.host() else {
            return Ok(());
        };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => self.check(host, SocketAddr::new(ip, port)),
            Err(_) => Ok(()),
        }
    }

    /// Resolves `host` and keeps the addresses the policy allows, in resolver order; `Err` when
    /// the name does not resolve or every address is refused (the first refusal, in words).
    pub async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let bare = host.trim_matches(['[', ']']);
        let found: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port)).await?.collect(),
        };
        let mut refused = None;
        let allowed: Vec<SocketAddr> = found
            .into_iter()
            .filter(|addr| match self.check(host, *addr) {
                Ok(()) => true,
                Err(refusal) => {
                    refused.get_or_insert(refusal);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{host}: {refusal}"),
            )),
            (true, None) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} resolves to no address"),
            )),
        }
    }
}

fn parse_allowed(entry: &str) -> Result<Allowed, String> {
    let entry = entry.trim();
    if let Ok(net) = entry.parse::<IpNet>() {
        return Ok(Allowed::Net(net.trunc()));
    }
    if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(Allowed::Net(IpNet::from(ip)));
    }
    let is_name = !entry.is_empty()
        && entry.len() <= 253
        && entry.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if is_name {
        return Ok(Allowed::Host(entry.to_ascii_lowercase()));
    }
    Err(format!(
        "{entry:?} is neither a CIDR (\"10.0.0.0/8\"), an address, nor a host name"
    ))
}

/// The address an IPv6 form carries when it is IPv4-mapped (`::ffff:a.b.c.d`) or
/// IPv4-compatible (`::a.b.c.d`, deprecated but still routed by some stacks).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                let compatible = s[..6].iter().all(|&x| x == 0) && (s[6] != 0 || s[7] > 1);
                if compatible {
                    IpAddr::V4(Ipv4Addr::new(
                        (s[6] >> 8) as u8,
                        s[6] as u8,
                        (s[7] >> 8) as u8,
                        s[7] as u8,
                    ))
                } else {
                    IpAddr::V6(v6)
                }
            }
        },
        v4 => v4,
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The private range `ip` is in, as the CIDR to allow it with.
fn private_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            match (a, b) {
                (10, _) => Some("10.0.0.0/8"),
                (172, 16..=31) => Some("172.16.0.0/12"),
                (192, 168) => Some("192.168.0.0/16"),
                (100, 64..=127) => Some("100.64.0.0/10"),
                (0, _) => Some("0.0.0.0/8"),
                _ => None,
            }
        }
        IpAddr::V6(v6) => ((v6.segments()[0] & 0xfe00) == 0xfc00).then_some("fc00::/7"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], loopback: bool) -> AddressPolicy {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        AddressPolicy::new(
            &allow,
            loopback,
            Some("127.0.0.1:8000".parse().expect("addr")),
        )
        .expect("valid policy")
    }

    fn url(p: &AddressPolicy, url: &str) -> Result<(), Refusal> {
        p.check_url(url)
    }

    #[test]
    fn metadata_link_local_and_own_are_always_refused() {
        let open = policy(&["0.0.0.0/0", "::/0"], true);
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/mcp",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[::169.254.169.254]/",
            "http://0.0.0.0:9000/",
            "http://[::]:9000/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://127.0.0.1:8000/mcp",
            "http://[::1]:8000/mcp",
            "http://[::ffff:127.0.0.1]:8000/",
        ] {
            assert!(url(&open, bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(
            url(&open, "http://169.254.169.254/").unwrap_err(),
            Refusal::Metadata("169.254.169.254".parse().expect("ip"))
        );
        assert!(matches!(
            url(&open, "http://127.0.0.1:8000/").unwrap_err(),
            Refusal::Own(_)
        ));
        // Another port of the gateway's host is another server.
        assert_eq!(url(&open, "http://127.0.0.1:9000/mcp"), Ok(()));
    }

    #[test]
    fn loopback_private_and_unique_local_need_permission() {
        let strict = policy(&[], false);
        for (bad, rule) in [
            ("http://127.0.0.1:9000/", "loopback"),
            ("http://[::1]:9000/", "loopback"),
            ("http://[::ffff:127.0.0.2]:9000/", "loopback"),
            ("http://10.0.0.1/", "10.0.0.0/8"),
            ("http://[::ffff:10.0.0.1]/", "10.0.0.0/8"),
            ("http://[::ffff:a00:1]/", "10.0.0.0/8"),
            ("http://172.20.1.1/", "172.16.0.0/12"),
            ("http://192.168.1.1/", "192.168.0.0/16"),
            ("http://100.64.0.1/", "100.64.0.0/10"),
            ("http://[fd00::1]/", "fc00::/7"),
            ("http://[fc12:3456::1]/", "fc00::/7"),
        ] {
            let refusal = url(&strict, bad).expect_err(bad).to_string();
            assert!(refusal.contains(rule), "{bad}: {refusal}");
        }
        for good in [
            "http://93.184.215.14/mcp",
            "https://[2606:4700::1111]/",
            "http://mcp.example.com/",
        ] {
            assert_eq!(url(&strict, good), Ok(()), "{good}");
        }
        let laptop = policy(&[], true);
        assert_eq!(url(&laptop, "http://127.0.0.1:9000/"), Ok(()));
        assert_eq!(url(&laptop, "http://[::1]:9000/"), Ok(()));
        assert!(url(&laptop, "http://10.0.0.1/").is_err());
        let allowed = policy(&["10.1.0.0/16", "fd00::/8", "127.0.0.1"], false);
        assert_eq!(url(&allowed, "http://10.1.2.3/"), Ok(()));
        assert!(url(&allowed, "http://10.2.0.1/").is_err());
        assert_eq!(url(&allowed, "http://[fd00::1]/"), Ok(()));
        assert_eq!(url(&allowed, "http://127.0.0.1:9000/"), Ok(()));
        assert!(url(&allowed, "http://127.0.0.2:9000/").is_err());
    }

    #[test]
    fn allowed_names_allow_what_they_resolve_to_but_never_metadata() {
        let p = policy(&["mcp.internal"], false);
        let private: SocketAddr = "10.0.0.7:80".parse().expect("addr");
        assert_eq!(p.check("mcp.internal", private), Ok(()));
        assert_eq!(p.check("MCP.internal", private), Ok(()));
        assert!(p.check("other.internal", private).is_err());
        let metadata: SocketAddr = "169.254.169.254:80".parse().expect("addr");
        assert!(p.check("mcp.internal", metadata).is_err());
    }

    #[test]
    fn allow_entries_are_checked() {
        for good in [
            "10.0.0.0/8",
            "fd00::/8",
            "127.0.0.1",
            "[::1]",
            "mcp.internal",
            "a-b.c",
        ] {
            assert!(
                AddressPolicy::new(&[good.to_string()], false, None).is_ok(),
                "{good}"
            );
        }
        for bad in ["10.0.0.0/33", "http://x", "a..b", "", "x y"] {
            let err = AddressPolicy::new(&[bad.to_string()], false, None).expect_err(bad);
            assert!(err.contains("CIDR"), "{err}");
        }
    }

    #[tokio::test]
    async fn resolving_checks_the_addresses_a_name_gives() {
        let strict = policy(&[], false);
        let err = strict
            .resolve("localhost", 9)
            .await
            .expect_err("loopback refused");
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("loopback"), "{err}");
        let laptop = policy(&[], true);
        let found = laptop
            .resolve("localhost", 9)
            .await
            .expect("loopback allowed");
        assert!(found.iter().all(|a| a.ip().is_loopback()), "{found:?}");
        let literal = strict
            .resolve("[::ffff:10.0.0.1]", 80)
            .await
            .expect_err("private");
        assert!(literal.to_string().contains("10.0.0.0/8"), "{literal}");
    }
}
