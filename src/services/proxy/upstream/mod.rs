//! Upstream connections of the data plane: plain-HTTP/1.1 keep-alive connections driven by the
//! task that uses them.
//!
//! hyper's pooled client runs every connection as its own task, and spawns one more task per
//! response to hand the connection back when the body ends: a request crosses three tasks and
//! the connection's readiness is tracked twice. Here a request's task owns its connection
//! outright, from checkout until the response body ends, and polls it itself (inside the
//! response body the client is reading), so a proxied exchange is one task on one thread. An idle
//! connection lies in the pool unpolled; before reuse it is polled once to see whether the
//! upstream closed it meanwhile (the runtime's reactor records the hang-up even for an unpolled
//! socket). `https` upstreams go through the shared TLS client instead ([`crate::infra::http_client`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Sleep;
// The body's idle clock follows the runtime's (paused in tests).

use crate::domain::counters::OpenStream;
use crate::infra::address::AddressPolicy;
use crate::infra::http_client::{self, HttpClient};

/// Idle connections kept per upstream address; more are closed when they come back.
const MAX_IDLE_PER_UPSTREAM: usize = 256;
/// An idle connection older than this is closed rather than reused (below common upstream
/// keep-alive limits of a minute or more; uvicorn's 5 s close is detected before reuse).
const MAX_IDLE_AGE: Duration = Duration::from_secs(60);

/// The most event loops of its own the data plane may run (`server.proxy_threads`, whose
/// limit the config enforces).
const MAX_EVENT_LOOPS: usize = 256;

thread_local! {
    /// Which of the data plane's event loops runs on this thread: 1 to [`MAX_EVENT_LOOPS`]; 0
    /// for the runtime's shared threads.
    static EVENT_LOOP: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as the data plane's event loop `n` (1 to [`MAX_EVENT_LOOPS`]): the wire
/// path's upstream connections made here are pooled for this thread alone, as they belong to
/// its runtime's reactor.
pub fn enter_event_loop(n: usize) {
    EVENT_LOOP.with(|current| current.set(n.min(MAX_EVENT_LOOPS)));
}

fn event_loop() -> usize {
    EVENT_LOOP.with(Cell::get)
}

/// Why a request got no response head.
#[derive(Debug)]
pub enum SendError {
    /// No TCP connection could be made (refused, unreachable, timed out): the replica is not
    /// there. The request is handed back when it is whole (never sent), for another replica.
    Connect {
        reason: String,
        unsent: Option<Box<Request<Body>>>,
    },
    /// The upstream gave no response head within the idle timeout.
    Timeout,
    /// The connection was made but the exchange failed (reset, malformed response, ...).
    Exchange(String),
    /// The request body grew past the limit while being streamed.
    TooLarge,
}

/// The data plane's upstream connections, shared by all requests.
pub struct Upstreams {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    /// The wire path's connections ([`raw`]), kept apart: they carry no hyper state. One pool
    /// per event loop ([`enter_event_loop`]; the first for the shared threads): a connection is
    /// only used on the runtime whose reactor it is registered with.
    raw_idle: Box<[RawPool]>,
    connect_timeout: Duration,
    /// For `https` upstreams.
    tls: HttpClient,
    /// Checked on every address dialled, when set.
    policy: Option<Arc<AddressPolicy>>,
}

/// One event loop's idle connections of the wire path, by upstream address.
type RawPool = Mutex<HashMap<String, Vec<raw::RawIdle>>>;

struct Idle {
    conn: Box<Conn>,
    since: Instant,
}

impl Idle {
    /// Young enough and still open at the upstream's end.
    fn usable(&mut self) -> bool {
        self.since.elapsed() < MAX_IDLE_AGE && self.conn.reusable()
    }
}

/// One HTTP/1.1 connection: the sending half and the connection state machine, kept together
/// so whoever holds them drives them. Kept boxed: it is large, and it moves at every checkout,
/// checkin and response (a pointer instead of a copy of hyper's connection state).
struct Conn {
    send: http1::SendRequest<Body>,
    conn: http1::Connection<TokioIo<TcpStream>, Body>,
    /// The connection future has finished (closed or failed): never poll it again.
    done: bool,
}

impl Conn {
    /// Polls the connection state machine; it reads and writes as far as it can.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if !self.done && Pin::new(&mut self.conn).poll(cx).is_ready() {
            self.done = true;
        }
    }

    /// Whether the connection can carry another request: polled once without a waker, to learn
    /// of a close the upstream sent while the connection lay idle.
    fn reusable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.drive(&mut cx);
        !self.done && self.send.is_ready()
    }
}

impl Upstreams {
    /// `policy`: the upstream address policy every connection must pass (for `url` adapters);
    /// `None` for the replicas the runtime deployed. `tls` carries `https` requests (and must
    /// apply the same policy).
    pub fn new(
        connect_timeout: Duration,
        tls: HttpClient,
        policy: Option<Arc<AddressPolicy>>,
    ) -> Arc<Self> {
        let upstreams = Arc::new(Self {
            idle: Mutex::new(HashMap::new()),
            raw_idle: (0..=MAX_EVENT_LOOPS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            connect_timeout,
            tls,
            policy,
        });
        // Idle connections of upstreams that get no more requests (a deleted adapter, a replica
        // replaced) would otherwise stay open, half-closed, until the process ends.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&upstreams);
            runtime.spawn(async move {
                let mut every = tokio::time::interval(MAX_IDLE_AGE / 2);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    match weak.upgrade() {
                        Some(upstreams) => upstreams.sweep(),
                        None => return,
                    }
                }
            });
        }
        upstreams
    }

    /// Closes idle connections that are too old or that their upstream closed.
    fn sweep(&self) {
        let mut map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, list| {
            list.retain_mut(Idle::usable);
            !list.is_empty()
        });
        drop(map);
        for pool in &self.raw_idle {
            let mut map = pool.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, list| {
                list.retain_mut(raw::RawIdle::usable);
                !list.is_empty()
            });
        }
    }

    /// This thread's pool of the wire path's idle connections.
    fn raw_pool(&self) -> &RawPool {
        &self.raw_idle[event_loop()]
    }

    /// Sends `request` (absolute `http` or `https` URI) and waits at most `idle` for the
    /// response head. The response body ends cleanly after `idle` without data. `open` counts
    /// the exchange as open until the response body ends (or the attempt fails).
    pub async fn send(
        self: &Arc<Self>,
        request: Request<Body>,
        idle: Duration,
        open: OpenStream,
    ) -> Result<Response<Body>, SendError> {
        let mut sleep = Box::pin(tokio::time::sleep(idle));
        if request.uri().scheme() != Some(&http::uri::Scheme::HTTP) {
            let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
            let sent = self.tls.request(request);
            let response = tokio::select! {
                biased;
                sent = sent => sent.map_err(|err| classify_legacy(&err))?,
                () = sleep.as_mut() => return Err(SendError::Timeout),
            };
            let (head, body) = response.into_parts();
            return Ok(Response::from_parts(
                head,
                Body::new(UpstreamBody::new(body, None, sleep, idle, open)),
            ));
        }

        let (mut parts, body) = request.into_parts();
        let Some(authority) = parts.uri.authority().cloned() else {
            return Err(SendError::Connect {
                reason: "the upstream URL has no host".into(),
                unsent: None,
            });
        };
        let absolute = std::mem::replace(&mut parts.uri, Uri::from_static("/"));
        parts.uri = origin_form(&absolute);
        let mut request = Request::from_parts(parts, body);

        // A pooled connection may turn out closed only once the request is queued on it; hyper
        // then hands the request back unsent, and it goes on a new connection (once).
        let mut reused = self.checkout(authority.as_str());
        loop {
            let (mut conn, was_pooled) = match reused.take() {
                Some(conn) => (conn, true),
                None => match self.connect(&authority, &mut sleep).await {
                    Ok(conn) => (conn, false),
                    Err(ConnectError::Timeout) => return Err(SendError::Timeout),
                    Err(ConnectError::Failed(reason)) => {
                        *request.uri_mut() = absolute;
                        return Err(SendError::Connect {
                            reason,
                            unsent: Some(Box::new(request)),
                        });
                    }
                },
            };
            let mut inline = InlineWake::new();
            let exchange = exchange(&mut conn, &mut inline, request, &mut sleep).await;
            match exchange {
                Ok(response) => {
                    let (head, body) = response.into_parts();
                    let pooled = Pooled {
                        conn,
                        inline,
                        key: authority,
                        upstreams: self.clone(),
                    };
                    return Ok(Response::from_parts(
                        head,
                        Body::new(UpstreamBody::new(body, Some(pooled), sleep, idle, open)),
                    ));
                }
                Err(Exchange::Timeout) => return Err(SendError::Timeout),
                Err(Exchange::Failed(mut failed)) => {
                    if was_pooled && let Some(unsent) = failed.take_message() {
                        request = unsent;
                        continue;
                    }
                    return Err(classify(failed.error()));
                }
            }
        }
    }

    fn checkout(&self, key: &str) -> Option<Box<Conn>> {
        loop {
            let mut idle = {
                let mut map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                map.get_mut(key)?.pop()?
            };
            if idle.usable() {
                return Some(idle.conn);
            }
        }
    }

    fn checkin(&self, key: &http::uri::Authority, mut conn: Box<Conn>) {
        if !conn.reusable() {
            return;
        }
        let mut map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // No allocation for the key but on an upstream's first connection.
        let list = match map.get_mut(key.as_str()) {
            Some(list) => list,
            None => map.entry(key.as_str().to_string()).or_default(),
        };
        // Bounded; the oldest go first. Aged ones are dropped at checkout and by the sweep.
        if list.len() >= MAX_IDLE_PER_UPSTREAM {
            list.remove(0);
        }
        list.push(Idle {
            conn,
            since: Instant::now(),
        });
    }

    /// A TCP connection to `authority` under the address policy (both paths dial here).
    async fn dial(
        &self,
        authority: &http::uri::Authority,
        deadline: Pin<&mut Sleep>,
    ) -> Result<TcpStream, ConnectError> {
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(80);
        let connect =
            http_client::connect(host, port, self.policy.as_deref(), self.connect_timeout);
        tokio::select! {
            biased;
            connected = connect => connected.map_err(|err| ConnectError::Failed(err.to_string())),
            () = deadline => Err(ConnectError::Timeout),
        }
    }

    async fn connect(
        &self,
        authority: &http::uri::Authority,
        deadline: &mut Pin<Box<Sleep>>,
    ) -> Result<Box<Conn>, ConnectError> {
        let stream = self.dial(authority, deadline.as_mut()).await?;
        let (send, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|err| ConnectError::Failed(err.to_string()))?;
        Ok(Box::new(Conn {
            send,
            conn,
            done: false,
        }))
    }
}

pub(super) enum ConnectError {
    /// The whole request's time ran out first.
    Timeout,
    Failed(String),
}

enum Exchange {
    Timeout,
    Failed(Box<hyper::client::conn::TrySendError<Request<Body>>>),
}

/// Queues the request on the connection and drives the connection until the response head
/// arrives (or the connection fails, or `deadline` passes).
async fn exchange(
    conn: &mut Conn,
    inline: &mut InlineWake,
    request: Request<Body>,
    deadline: &mut Pin<Box<Sleep>>,
) -> Result<Response<Incoming>, Exchange> {
    let mut response = std::pin::pin!(conn.send.try_send_request(request));
    poll_fn(|cx| {
        let head = inline.poll(cx, |cx| {
            conn.drive(cx);
            response.as_mut().poll(cx)
        });
        if let Poll::Ready(result) = head {
            return Poll::Ready(result.map_err(|e| Exchange::Failed(Box::new(e))));
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Exchange::Timeout));
        }
        Poll::Pending
    })
    .await
}

/// `/path?query` of an absolute URI: what goes on an HTTP/1.1 request line to an origin server.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from_static("/"),
    }
}

fn classify(err: &hyper::Error) -> SendError {
    if super::body::is_length_limit_error(err) {
        return SendError::TooLarge;
    }
    SendError::Exchange(crate::infra::http_client::innermost_cause(err))
}

fn classify_legacy(err: &hyper_util::client::legacy::Error) -> SendError {
    if std::error::Error::source(err).is_some_and(super::body::is_length_limit_error) {
        return SendError::TooLarge;
    }
    let reason = crate::infra::http_client::describe_client_error(err);
    if err.is_connect() {
        SendError::Connect {
            reason,
            unsent: None,
        }
    } else {
        SendError::Exchange(reason)
    }
}

mod body;
pub mod raw;
#[cfg(test)]
mod tests;
mod wake;

use body::{Pooled, UpstreamBody};
use wake::InlineWake;
