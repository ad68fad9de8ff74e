//! The wire path's side of a connection: reads requests itself, parsing each head once, while they
//! are data-plane requests the proxy carries as bytes ([`crate::services::proxy::WireRequest`]);
//! hands the connection to hyper at the first that is not one.
//!
//! A request takes the wire path only when all of this holds; anything else, including every
//! malformed request, is hyper's to answer, exactly as before:
//! HTTP/1.1 to `/adapters/{name}/mcp` (a name needing no decoding); a `POST` with one
//! `Content-Length` within `proxy.max_body_bytes`, or a `GET`, `DELETE` or `OPTIONS` without a
//! body (the stream a 2025 session listens on, its end, a browser's CORS preflight); no
//! `Transfer-Encoding`, `Expect` or `Upgrade`; an adapter the proxy reaches over plain HTTP.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::Method;
use httparse::{Header, Status};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::front::Front;
use crate::domain::model::Resource;
use crate::services::proxy::{Relayed, WireRequest, content_length, data_plane_name};

/// A request head longer than this goes to hyper (which refuses it).
const MAX_HEAD: usize = 64 * 1024;
/// Headers a request on the wire path may have; more go to hyper.
const MAX_HEADERS: usize = 64;

/// Serves the connection's requests while they take the wire path. `true`: hand the rest to
/// hyper, starting with what `buf` holds; `false`: the connection is over.
pub(super) async fn serve(
    front: &Front,
    peer: SocketAddr,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    mut closing: Pin<&mut impl Future<Output = ()>>,
) -> bool {
    // The connection's timer, set again by each request (see `Proxy::relay`).
    let mut deadline = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        if buf.is_empty() {
            // Room again at the start of the buffer (nothing moves: it is empty).
            buf.reserve(4096);
            // Between requests: a shutdown closes the connection.
            let read = tokio::select! {
                biased;
                () = closing.as_mut() => return false,
                read = stream.read_buf(buf) => read,
            };
            if !matches!(read, Ok(n) if n > 0) {
                return false;
            }
        }
        match next(front, peer, stream, buf, deadline.as_mut()).await {
            Step::Served(Relayed::KeepAlive) => {}
            Step::Served(Relayed::Close) | Step::Over => return false,
            Step::HandOff => return true,
        }
    }
}

enum Step {
    Served(Relayed),
    HandOff,
    /// The client went away (or its connection failed).
    Over,
}

/// What a request on the wire path is.
struct Plan {
    adapter: Arc<Resource>,
    method: Method,
    /// The body's length; `None`: no `Content-Length` (a bodiless `GET`, `DELETE` or `OPTIONS`).
    length: Option<usize>,
    close: bool,
}

/// Reads (the rest of) one request and serves it, or decides it is hyper's.
async fn next(
    front: &Front,
    peer: SocketAddr,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    deadline: Pin<&mut Sleep>,
) -> Step {
    loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut slots);
        let head_len = match parsed.parse(buf) {
            Ok(Status::Complete(n)) => n,
            Ok(Status::Partial) if buf.len() < MAX_HEAD => {
                if !read_more(stream, buf, 0).await {
                    return Step::Over;
                }
                continue;
            }
            _ => return Step::HandOff,
        };
        let Some(plan) = plan(front, &parsed) else {
            return Step::HandOff;
        };
        let total = head_len + plan.length.unwrap_or(0);
        if buf.len() < total {
            let wanted = total - buf.len();
            if !read_more(stream, buf, wanted).await {
                return Step::Over;
            }
            continue;
        }
        let request = WireRequest {
            method: plan.method,
            target: parsed.path.unwrap_or("/"),
            length: plan.length,
            headers: parsed.headers,
            body: &buf[head_len..total],
            close: plan.close,
        };
        let relayed = front
            .proxy()
            .relay(peer, &plan.adapter, &request, stream, deadline)
            .await;
        buf.advance(total);
        return match relayed {
            Ok(relayed) => Step::Served(relayed),
            Err(_) => Step::Over,
        };
    }
}

/// Reads more of a request (at least `wanted` bytes of room made); `false` when the client is
/// gone.
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut, wanted: usize) -> bool {
    buf.reserve(wanted.max(4096));
    matches!(stream.read_buf(buf).await, Ok(n) if n > 0)
}

/// The wire path's plan for a parsed request head, or `None` when it is hyper's.
fn plan(front: &Front, parsed: &httparse::Request<'_, '_>) -> Option<Plan> {
    let method = match parsed.method {
        Some("POST") => Method::POST,
        Some("GET") => Method::GET,
        Some("DELETE") => Method::DELETE,
        Some("OPTIONS") => Method::OPTIONS,
        _ => return None,
    };
    if parsed.version != Some(1) {
        return None;
    }
    let target = parsed.path?;
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let name = data_plane_name(path)?;
    let mut length = None;
    let mut close = false;
    for Header { name, value } in parsed.headers.iter() {
        if name.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return None;
            }
            length = Some(usize::try_from(content_length(value)?).ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return None;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return None;
                }
            }
        }
    }
    // A POST says how long its body is; a GET, DELETE or OPTIONS has none (at most
    // `Content-Length: 0`).
    let fits = if method == Method::POST {
        length.is_some()
    } else {
        matches!(length, None | Some(0))
    };
    if !fits {
        return None;
    }
    let adapter = front
        .proxy()
        .wire_adapter(name, length.unwrap_or(0) as u64)?;
    Some(Plan {
        adapter,
        method,
        length,
        close,
    })
}

#[cfg(test)]
mod tests {
    use super::content_length;

    #[test]
    fn lengths_are_plain_digits() {
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b"1024"), Some(1024));
        for bad in [
            &b""[..],
            b"+1",
            b"1 ",
            b"0x10",
            b"1,1",
            b"99999999999999999999",
        ] {
            assert_eq!(content_length(bad), None, "{bad:?}");
        }
    }
}
