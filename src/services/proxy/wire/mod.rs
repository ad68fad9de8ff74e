//! The wire path: the data plane's everyday requests (a `POST` whose whole body the front door
//! already holds; a 2025 session's bodiless `GET` stream and `DELETE`), for an adapter reached
//! over plain HTTP, proxied as bytes; a browser's CORS preflight is answered there too. The
//! front door parses the request head once; the upstream's head is written from it ([`head`]),
//! the upstream's answer head is parsed once and rewritten for the client, and the body passes
//! through as it arrives, its framing followed ([`framing`]) but not re-encoded. The phases and
//! every rule are the proxy's own (admission, session tokens, replica choice, one retry on
//! another replica, hygiene, metrics, CORS, the idle timeout); only the HTTP machinery between
//! them is left out.
//! Anything else (other methods, streamed or unknown-length bodies, stdio and `https` adapters)
//! takes the general path.

mod framing;
mod head;
mod pass;

use std::cell::Cell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::response::Response;
use bytes::Buf;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use httparse::Header;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::Proxy;
use super::answer::{bad_session_id, session_ended};
use super::replies::session_rejected;
use super::send::Failure;
use super::upstream::Upstreams;
use super::upstream::raw::{RawConn, RawError};
use crate::domain::counters::{OpenStream, UpstreamFailure};
use crate::domain::model::{Resource, ResourceKind};
use crate::services::edge::door::ADMISSION_HEADERS;
use crate::services::edge::headers::Identity;
use crate::services::edge::jsonrpc::request_id;
use crate::services::edge::session::valid_session_id;
use framing::Framing;
pub use framing::parse_decimal as content_length;
use head::{Client, Downstream, Upstream};

/// A data-plane request as the front door parsed it, body in hand: a `POST`, or a bodiless
/// `GET`, `DELETE` or `OPTIONS`.
pub struct WireRequest<'a> {
    pub method: Method,
    /// The request target as sent: `/adapters/{name}/mcp`, maybe with a query.
    pub target: &'a str,
    /// The request's `Content-Length` (always there on a `POST`).
    pub length: Option<usize>,
    pub headers: &'a [Header<'a>],
    pub body: &'a [u8],
    /// The client asked for the connection to close after this exchange.
    pub close: bool,
}

/// What becomes of the client's connection after an exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum Relayed {
    /// The answer ended cleanly: the next request may follow.
    KeepAlive,
    /// Close it: asked for, or the answer could not end cleanly.
    Close,
}

/// The upstream's answer head, rewritten for the client, and what its body needs.
struct Answer {
    status: StatusCode,
    conn: RawConn,
    /// Bytes of `conn.buf` that were the upstream's head.
    head_len: usize,
    /// The client's head, written.
    out: Vec<u8>,
    framing: Framing,
    /// The upstream connection may carry another request once this body has ended.
    reusable: bool,
    authority: http::uri::Authority,
    upstreams: Arc<Upstreams>,
    open: OpenStream,
}

impl Proxy {
    /// The adapter, when the wire path can carry a request of `length` bytes to it: it exists and
    /// is reached over plain HTTP (a `url` adapter's `http://` URL or the replicas the runtime
    /// deployed), and the body is within `proxy.max_body_bytes` (the general path refuses it).
    pub fn wire_adapter(&self, name: &str, length: u64) -> Option<Arc<Resource>> {
        if length > self.max_body {
            return None;
        }
        let adapter = self.store.get(ResourceKind::Adapter, name)?;
        let plain = match &adapter.spec.url {
            Some(url) => url.starts_with("http://"),
            None => true,
        };
        (plain && !adapter.spec.is_stdio()).then_some(adapter)
    }

    /// Proxies one request for `adapter` and writes the answer to `client`. `deadline`: the
    /// connection's timer, set here to the idle timeout from now. One timer for every request
    /// of a connection: moving it later is a store to the timer, where a new one per request
    /// would take the timer wheel's lock and, whenever it was the only timer, wake the thread's
    /// own event loop (a syscall and a turn of the loop per request).
    pub async fn relay(
        &self,
        peer: SocketAddr,
        adapter: &Arc<Resource>,
        request: &WireRequest<'_>,
        client: &mut TcpStream,
        mut deadline: Pin<&mut Sleep>,
    ) -> std::io::Result<Relayed> {
        if request.method == Method::OPTIONS {
            // A CORS preflight, answered by the gateway as on the general path (not counted).
            let asked = as_map(request.headers, PREFLIGHT_HEADERS);
            return write_own(client, self.door.preflight_for(&asked), request.close).await;
        }
        let started = Instant::now();
        let origin = find(request.headers, "origin");
        let cors = origin.filter(|o| self.door.cors_grant(o));
        deadline
            .as_mut()
            .reset(tokio::time::Instant::from_std(started) + self.idle);
        match self
            .exchange_wire(peer, adapter, request, cors, &mut deadline)
            .await
        {
            Ok(answer) => {
                adapter
                    .metrics
                    .answered(&request.method, answer.status, started.elapsed());
                let Some(mut ended) = session_ended(&request.method, answer.status) else {
                    return self.pass_on(answer, client, request.close, deadline).await;
                };
                // The general path's rule; the upstream's connection, its answer unread, is not
                // reused.
                drop(answer);
                let origin = origin.and_then(|o| HeaderValue::from_bytes(o).ok());
                self.door.add_cors(origin, &mut ended);
                write_own(client, ended, request.close).await
            }
            Err(mut response) => {
                adapter
                    .metrics
                    .answered(&request.method, response.status(), started.elapsed());
                let origin = origin.and_then(|o| HeaderValue::from_bytes(o).ok());
                self.door.add_cors(origin, &mut response);
                write_own(client, response, request.close).await
            }
        }
    }

    /// Admission, session, replica, the upstream exchange up to its answer head, and that head
    /// rewritten; or the gateway's own answer.
    async fn exchange_wire(
        &self,
        peer: SocketAddr,
        adapter: &Arc<Resource>,
        request: &WireRequest<'_>,
        cors: Option<&[u8]>,
        deadline: &mut Pin<&mut Sleep>,
    ) -> Result<Answer, Response> {
        let (path, query) = match request.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (request.target, None),
        };
        let caller = self
            .admit(adapter, &as_map(request.headers, &ADMISSION_HEADERS), path)
            .await?;
        let id = || request_id(request.body);
        let session = self
            .open_session_token(
                find(request.headers, "mcp-session-id"),
                adapter.name(),
                &caller,
            )
            .map_err(|()| session_rejected(adapter, id()))?;
        let endpoints = self.endpoints_of(adapter);
        let mut target = self
            .choose_target(adapter, &endpoints, session.as_deref(), query)
            .map_err(|refusal| refusal.reply(adapter, id()))?;
        let upstreams = match adapter.spec.url {
            Some(_) => &self.remote,
            None => &self.replicas,
        };
        let metrics = &adapter.metrics;
        let mut bytes = Vec::with_capacity(1024 + request.body.len());
        let mut attempts = 0;
        let (mut conn, mut head_len, authority) = loop {
            attempts += 1;
            let Some(authority) = target.uri.authority().cloned() else {
                let reason = "the upstream URL has no host".to_string();
                let failure = Failure::Unreachable {
                    instance: target.instance,
                    reason,
                };
                return Err(self.send_failed(adapter, failure, id()));
            };
            bytes.clear();
            head::upstream_head(
                &mut bytes,
                request.headers,
                &Upstream {
                    method: request.method.as_str(),
                    path_and_query: target.uri.path_and_query().map_or("/", |pq| pq.as_str()),
                    authority: authority.as_str(),
                    identity: Identity {
                        user_id: &caller.user_id,
                        roles: &caller.roles,
                    },
                    peer,
                    host: find(request.headers, "host"),
                    session: session.as_ref().map(|c| c.upstream.as_str()),
                    content_length: request.length,
                },
            );
            bytes.extend_from_slice(request.body);
            let reason = match upstreams.raw_exchange(&authority, &bytes, deadline).await {
                Ok((conn, head_len)) => break (conn, head_len, authority),
                Err(RawError::Timeout) => {
                    metrics.upstream_failed(UpstreamFailure::Timeout);
                    return Err(self.send_failed(adapter, Failure::Timeout, id()));
                }
                Err(RawError::Exchange(reason)) => {
                    return Err(self.exchange_failed(adapter, target.instance, reason, id()));
                }
                Err(RawError::Connect(reason)) => reason,
            };
            tracing::warn!(adapter = adapter.name(), replica = target.instance, %reason, "cannot connect upstream");
            metrics.upstream_failed(UpstreamFailure::Connect);
            self.observed.wake();
            if session.is_some() {
                return Err(self.send_failed(adapter, Failure::SessionGone, id()));
            }
            // A request that never left goes to another ready replica (once).
            let other = match attempts {
                1 => self.pick_ready(adapter, &endpoints, Some(target.instance), query),
                _ => None,
            };
            let Some(other) = other else {
                let failure = Failure::Unreachable {
                    instance: target.instance,
                    reason: format!("cannot connect: {reason}"),
                };
                return Err(self.send_failed(adapter, failure, id()));
            };
            metrics.retried();
            target = other;
        };
        // Interim answers (100 Continue, 103 Early Hints) are not passed on.
        while (100..200).contains(&status_code(&conn.buf)) {
            conn.buf.advance(head_len);
            head_len = match upstreams.raw_next_head(&mut conn, deadline).await {
                Ok(len) => len,
                Err(RawError::Timeout) => {
                    metrics.upstream_failed(UpstreamFailure::Timeout);
                    return Err(self.send_failed(adapter, Failure::Timeout, id()));
                }
                Err(RawError::Exchange(reason) | RawError::Connect(reason)) => {
                    return Err(self.exchange_failed(adapter, target.instance, reason, id()));
                }
            };
        }

        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut slots);
        let complete = parsed.parse(&conn.buf[..head_len]);
        // httparse's end of the head is the one that counts (the search for it is a shortcut).
        let (Ok(httparse::Status::Complete(parsed_len)), Some(code)) = (complete, parsed.code)
        else {
            let reason = "the upstream's response head is not HTTP/1.1".to_string();
            return Err(self.exchange_failed(adapter, target.instance, reason, id()));
        };
        let Some(status) = StatusCode::from_u16(code).ok().filter(|_| code != 101) else {
            let reason = format!("the upstream answered with status {code}");
            return Err(self.exchange_failed(adapter, target.instance, reason, id()));
        };
        let Ok(framing) = Framing::of(code, parsed.headers) else {
            let reason = "the upstream's response has a malformed Content-Length".to_string();
            return Err(self.exchange_failed(adapter, target.instance, reason, id()));
        };
        let token = match find(parsed.headers, "mcp-session-id") {
            None => None,
            Some(upstream_id) if valid_session_id(upstream_id) => {
                let upstream_id = String::from_utf8_lossy(upstream_id).into_owned();
                let fresh = session.is_none();
                self.mint(adapter, &caller, target.instance, upstream_id, fresh)
            }
            Some(_) => return Err(bad_session_id(adapter, id())),
        };
        let reusable = parsed.version == Some(1)
            && !parsed.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("connection")
                    && h.value
                        .split(|b| *b == b',')
                        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            });
        let downstream = match framing {
            Framing::None => Downstream::None,
            Framing::Length(n) => Downstream::Length(n),
            Framing::Chunked => {
                Downstream::Chunked(find(parsed.headers, "transfer-encoding").unwrap_or(b"chunked"))
            }
            Framing::Close => Downstream::Rechunked,
        };
        let mut out = Vec::with_capacity(512 + conn.buf.len());
        head::client_head(
            &mut out,
            parsed.headers,
            &Client {
                status,
                framing: downstream,
                session: token.as_ref().map(HeaderValue::as_bytes),
                cors_origin: cors,
                close: request.close,
                date: &http_date(),
            },
        );
        head_len = parsed_len;
        Ok(Answer {
            status,
            conn,
            head_len,
            out,
            framing,
            reusable,
            authority,
            upstreams: upstreams.clone(),
            open: metrics.open_stream(),
        })
    }

    fn exchange_failed(
        &self,
        adapter: &Resource,
        instance: u32,
        reason: String,
        id: Option<serde_json::Value>,
    ) -> Response {
        tracing::warn!(adapter = adapter.name(), replica = instance, %reason, "upstream failed");
        adapter.metrics.upstream_failed(UpstreamFailure::Exchange);
        self.send_failed(adapter, Failure::Exchange { instance, reason }, id)
    }
}

/// The first value of header `name`.
fn find<'a>(headers: &[Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// What a CORS preflight reads.
const PREFLIGHT_HEADERS: &[&str] = &["origin", "access-control-request-headers"];

/// The parsed headers named in `names` (lowercase), as a map: what admission or a preflight reads.
fn as_map(parsed: &[Header<'_>], names: &[&'static str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for header in parsed {
        if let Some(name) = names.iter().find(|n| header.name.eq_ignore_ascii_case(n))
            && let Ok(value) = HeaderValue::from_bytes(header.value)
        {
            map.append(HeaderName::from_static(name), value);
        }
    }
    map
}

/// The status code on a response head's first line (`HTTP/1.x NNN`), 0 when there is none.
fn status_code(head: &[u8]) -> u16 {
    match head.get(9..12) {
        Some(digits) if digits.iter().all(u8::is_ascii_digit) => {
            digits.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0'))
        }
        _ => 0,
    }
}

/// Writes one of the gateway's own answers (its body is whole).
async fn write_own(
    client: &mut TcpStream,
    response: Response,
    close: bool,
) -> std::io::Result<Relayed> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(512 + body.len());
    head::own_head(&mut out, &parts, body.len(), close, &http_date());
    out.extend_from_slice(&body);
    client.write_all(&out).await?;
    Ok(if close {
        Relayed::Close
    } else {
        Relayed::KeepAlive
    })
}

/// The current `Date` header value, formatted once a second per thread.
fn http_date() -> [u8; 29] {
    thread_local! {
        static CACHED: Cell<(u64, [u8; 29])> = const { Cell::new((0, [0; 29])) };
    }
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, value) = cached.get();
        if at == second && at != 0 {
            return value;
        }
        let mut fresh = [b' '; 29];
        let text = httpdate::fmt_http_date(now);
        let len = text.len().min(29);
        fresh[..len].copy_from_slice(&text.as_bytes()[..len]);
        cached.set((second, fresh));
        fresh
    })
}

#[cfg(test)]
mod tests {
    use super::pass::BodyState;
    use super::*;

    #[test]
    fn status_codes_are_read_off_the_first_line() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), 200);
        assert_eq!(status_code(b"HTTP/1.1 103 Early Hints\r\n"), 103);
        assert_eq!(status_code(b"HTTP/1.1 2x0 OK\r\n"), 0);
        assert_eq!(status_code(b"garbage"), 0);
    }

    #[test]
    fn bodies_end_where_their_framing_says() {
        let mut length = BodyState::new(Framing::Length(5));
        assert_eq!(length.take(b"hel").ok(), Some(3));
        assert!(!length.done() && !length.at_boundary());
        assert_eq!(length.take(b"loEXTRA").ok(), Some(2));
        assert!(length.done());
        assert!(BodyState::new(Framing::None).done());
        assert!(BodyState::new(Framing::Length(0)).done());
        let mut close = BodyState::new(Framing::Close);
        assert_eq!(close.take(b"anything").ok(), Some(8));
        assert!(!close.done() && close.at_boundary());
        let mut chunked = BodyState::new(Framing::Chunked);
        assert_eq!(chunked.take(b"2\r\nab\r\n").ok(), Some(7));
        assert!(chunked.at_boundary());
        assert_eq!(chunked.take(b"0\r\n\r\nX").ok(), Some(5));
        assert!(chunked.done());
    }

    #[test]
    fn admission_sees_only_what_it_reads() {
        let parsed = [
            Header {
                name: "Authorization",
                value: b"Bearer t",
            },
            Header {
                name: "Content-Type",
                value: b"application/json",
            },
            Header {
                name: "X-Dev-UserId",
                value: b"alice",
            },
        ];
        let map = as_map(&parsed, &ADMISSION_HEADERS);
        assert_eq!(map.len(), 2);
        assert_eq!(map["authorization"], "Bearer t");
        assert_eq!(map["x-dev-userid"], "alice");
    }

    #[test]
    fn dates_are_http_dates() {
        let date = http_date();
        let text = std::str::from_utf8(&date).expect("ascii");
        assert!(text.ends_with(" GMT"), "{text}");
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }
}
