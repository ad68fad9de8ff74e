//! Header hygiene: client headers on their way upstream, upstream headers on their way back, and
//! the `Forwarded` element.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/invariants/mod.rs"]
mod invariants;

/// A header name: one with a rule (in any case), or any bytes.
#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8, bool),
    Raw(Vec<u8>),
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Known(i, upper) => {
                let name = invariants::NAMES[usize::from(*i) % invariants::NAMES.len()];
                if *upper {
                    name.to_ascii_uppercase().into_bytes()
                } else {
                    name.as_bytes().to_vec()
                }
            }
            Name::Raw(bytes) => bytes.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    Request {
        headers: Vec<(Name, Vec<u8>)>,
        authority: String,
        user_id: String,
        roles: Vec<String>,
        forwarded: String,
        session: Option<String>,
    },
    Response {
        headers: Vec<(Name, Vec<u8>)>,
    },
    Forwarded {
        ip: [u8; 16],
        v4: bool,
        port: u16,
        host: Option<String>,
        https: bool,
    },
}

fn pairs(headers: &[(Name, Vec<u8>)]) -> http::HeaderMap {
    let pairs: Vec<(Vec<u8>, &[u8])> = headers
        .iter()
        .map(|(name, value)| (name.bytes(), value.as_slice()))
        .collect();
    invariants::header_map(&pairs)
}

fuzz_target!(|input: Input| match input {
    Input::Request {
        headers,
        authority,
        user_id,
        roles,
        forwarded,
        session,
    } => invariants::check_upstream_request(
        &pairs(&headers),
        &authority,
        &user_id,
        &roles,
        &forwarded,
        session.as_deref(),
    ),
    Input::Response { headers } => invariants::check_downstream_response(&pairs(&headers)),
    Input::Forwarded {
        ip,
        v4,
        port,
        host,
        https,
    } => {
        let ip: IpAddr = if v4 {
            Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).into()
        } else {
            Ipv6Addr::from(ip).into()
        };
        invariants::check_forwarded(SocketAddr::new(ip, port), host.as_deref(), https);
    }
});
