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
//! socket). `https` upstreams go through the shared TLS client instead ([`crate::http_client`]).

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Sleep;
// The body's idle clock follows the runtime's (paused in tests).
use tokio::time::Instant as Clock;

use crate::http_client::HttpClient;
use crate::metrics::OpenStream;

/// Idle connections kept per upstream address; more are closed when they come back.
const MAX_IDLE_PER_UPSTREAM: usize = 256;
/// An idle connection older than this is closed rather than reused (below common upstream
/// keep-alive limits of a minute or more; uvicorn's 5 s close is detected before reuse).
const MAX_IDLE_AGE: Duration = Duration::from_secs(60);

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
    connect_timeout: Duration,
    /// For `https` upstreams.
    tls: HttpClient,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Idle {
    /// Young enough and still open at the upstream's end.
    fn usable(&mut self) -> bool {
        self.since.elapsed() < MAX_IDLE_AGE && self.conn.reusable()
    }
}

/// One HTTP/1.1 connection: the sending half and the connection state machine, kept together
/// so whoever holds them drives them.
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
    pub fn new(connect_timeout: Duration, tls: HttpClient) -> Arc<Self> {
        let upstreams = Arc::new(Self {
            idle: Mutex::new(HashMap::new()),
            connect_timeout,
            tls,
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

    fn checkout(&self, key: &str) -> Option<Conn> {
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

    fn checkin(&self, key: &http::uri::Authority, mut conn: Conn) {
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

    async fn connect(
        &self,
        authority: &http::uri::Authority,
        deadline: &mut Pin<Box<Sleep>>,
    ) -> Result<Conn, ConnectError> {
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(80);
        let connect = tokio::time::timeout(self.connect_timeout, TcpStream::connect((host, port)));
        let stream = tokio::select! {
            biased;
            connected = connect => match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(ConnectError::Failed(err.to_string())),
                Err(_) => {
                    return Err(ConnectError::Failed(format!(
                        "no connection within {} ms",
                        self.connect_timeout.as_millis()
                    )));
                }
            },
            () = deadline.as_mut() => return Err(ConnectError::Timeout),
        };
        let _ = stream.set_nodelay(true);
        let (send, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|err| ConnectError::Failed(err.to_string()))?;
        Ok(Conn {
            send,
            conn,
            done: false,
        })
    }
}

enum ConnectError {
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
    if crate::proxy::is_length_limit_error(err) {
        return SendError::TooLarge;
    }
    SendError::Exchange(crate::http_client::innermost_cause(err))
}

fn classify_legacy(err: &hyper_util::client::legacy::Error) -> SendError {
    if std::error::Error::source(err).is_some_and(crate::proxy::is_length_limit_error) {
        return SendError::TooLarge;
    }
    let reason = crate::http_client::describe_client_error(err);
    if err.is_connect() {
        SendError::Connect {
            reason,
            unsent: None,
        }
    } else {
        SendError::Exchange(reason)
    }
}

/// A connection on loan to one response; returned to the pool when the body ends.
struct Pooled {
    conn: Conn,
    inline: InlineWake,
    key: http::uri::Authority,
    upstreams: Arc<Upstreams>,
}

/// The upstream's response body as the client reads it: frames pass as they arrive, the
/// connection is driven by whoever polls the body, and a stream idle for `idle` ends cleanly.
/// Dropped early (the client went away), it closes the upstream connection, which cancels the
/// upstream's work on the request.
struct UpstreamBody<B: http_body::Body> {
    inner: B,
    conn: Option<Pooled>,
    sleep: Pin<Box<Sleep>>,
    idle: Duration,
    /// When the last frame arrived; the sleep is moved forward only when it fires, so frames
    /// cost no timer updates.
    last_frame: Clock,
    /// What the upstream had already sent after the data handed on last (see [`Self::gather`]).
    held: Option<Held<B::Error>>,
    /// Counted as an open stream until the body ends, fails or is dropped.
    open: Option<OpenStream>,
}

/// Something read from the upstream while gathering data, handed on at the next poll.
enum Held<E> {
    Frame(Frame<Bytes>),
    Error(E),
    End,
}

// Never pinned in place: held values are only moved.
impl<E> Unpin for Held<E> {}

/// Data already received is handed on in pieces of at most this size.
const GATHER_LIMIT: usize = 64 * 1024;

impl<B: http_body::Body> UpstreamBody<B> {
    fn new(
        inner: B,
        conn: Option<Pooled>,
        sleep: Pin<Box<Sleep>>,
        idle: Duration,
        open: OpenStream,
    ) -> Self {
        Self {
            inner,
            conn,
            sleep,
            idle,
            last_frame: Clock::now(),
            held: None,
            open: Some(open),
        }
    }
}

impl<B> UpstreamBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let inner = &mut self.inner;
        match &mut self.conn {
            Some(Pooled { conn, inline, .. }) => inline.poll(cx, |cx| {
                conn.drive(cx);
                Pin::new(&mut *inner).poll_frame(cx)
            }),
            None => Pin::new(inner).poll_frame(cx),
        }
    }

    /// The body has ended: the connection goes back to the pool, the stream is no longer open.
    fn finish(&mut self) {
        self.open = None;
        if let Some(pooled) = self.conn.take() {
            pooled.upstreams.checkin(&pooled.key, pooled.conn);
        }
    }

    /// The body ends without its end (an error, the idle timeout): the connection is closed,
    /// not reused, and the stream is no longer open.
    fn abandon(&mut self) {
        self.open = None;
        self.conn = None;
    }

    /// `first` joined with whatever data the upstream has already sent after it, without
    /// waiting for more. An upstream writes an answer in pieces (rmcp: an SSE priming event, then
    /// the message) that usually arrive in one read; passed on one by one they would become
    /// separate chunks downstream, and a client that hands each chunk from its connection task
    /// to the reader (hyper's, so reqwest's and rmcp's) pays a thread hand-off for each. nginx
    /// joins them likewise. Anything other than data (trailers, an error, the end) is held for
    /// the next poll.
    fn gather(&mut self, first: Bytes, cx: &mut Context<'_>) -> Bytes {
        let mut joined: Option<bytes::BytesMut> = None;
        let mut len = first.len();
        while len < GATHER_LIMIT && self.held.is_none() && !self.inner.is_end_stream() {
            let more = match self.poll_inner(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    self.held = Some(Held::End);
                    break;
                }
                Poll::Ready(Some(Err(err))) => {
                    self.held = Some(Held::Error(err));
                    break;
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(more) => more,
                    Err(frame) => {
                        self.held = Some(Held::Frame(frame));
                        break;
                    }
                },
            };
            len += more.len();
            joined
                .get_or_insert_with(|| {
                    let mut buf = bytes::BytesMut::with_capacity(len);
                    buf.extend_from_slice(&first);
                    buf
                })
                .extend_from_slice(&more);
        }
        joined.map_or(first, bytes::BytesMut::freeze)
    }
}

impl<B> http_body::Body for UpstreamBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = match this.held.take() {
            Some(Held::Frame(frame)) => Poll::Ready(Some(Ok(frame))),
            Some(Held::Error(err)) => Poll::Ready(Some(Err(err))),
            Some(Held::End) => Poll::Ready(None),
            None => this.poll_inner(cx),
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.last_frame = Clock::now();
                let frame = match frame.into_data() {
                    Ok(data) => Frame::data(this.gather(data, cx)),
                    Err(frame) => frame,
                };
                if http_body::Body::is_end_stream(this) {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                this.abandon();
                Poll::Ready(Some(Err(err)))
            }
            Poll::Pending => loop {
                if this.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let deadline = this.last_frame + this.idle;
                if Clock::now() >= deadline {
                    tracing::debug!("upstream stream idle; ending it");
                    this.abandon();
                    return Poll::Ready(None);
                }
                this.sleep.as_mut().reset(deadline);
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self.held {
            None => self.inner.is_end_stream(),
            Some(Held::End) => true,
            Some(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.held {
            None => self.inner.size_hint(),
            Some(Held::End) => SizeHint::with_exact(0),
            // Held trailers or an error: no data left, but the body has not ended.
            Some(_) => SizeHint::default(),
        }
    }
}

/// Polls the futures of one upstream exchange (hyper's connection, the response, its body)
/// with a waker of our own. They wake one another constantly (the response is ready, the body
/// wants data, data is queued); to the runtime each such wake of a running task means
/// rescheduling it and nudging an idle worker thread awake (an eventfd write and a futex wake
/// per request). A wake that arrives while we are polling is instead noted and answered by
/// polling again at once; wakes at any other time (the socket became readable) go to the
/// task's own waker.
struct InlineWake {
    shared: Arc<InlineState>,
    waker: Waker,
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const POLLING_WOKEN: u8 = 2;

struct InlineState {
    state: AtomicU8,
    task: Mutex<Option<Waker>>,
}

impl std::task::Wake for InlineState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Absorbed while a poll is running (it will poll again); passed on otherwise.
        if self
            .state
            .compare_exchange(POLLING, POLLING_WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_err_and(|now| now == IDLE)
        {
            let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(task) = task {
                task.wake();
            }
        }
    }
}

impl InlineWake {
    /// Polls more than this many times in a row only if the task is woken again: a future that
    /// keeps waking itself (cooperative yielding) goes back to the runtime's queue.
    const MAX_ROUNDS: usize = 8;

    fn new() -> Self {
        let shared = Arc::new(InlineState {
            state: AtomicU8::new(IDLE),
            task: Mutex::new(None),
        });
        let waker = Waker::from(shared.clone());
        Self { shared, waker }
    }

    fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        {
            let mut task = self.shared.task.lock().unwrap_or_else(|e| e.into_inner());
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..Self::MAX_ROUNDS {
            self.shared.state.store(POLLING, Ordering::Release);
            let result = f(&mut inner);
            let woken = self.shared.state.swap(IDLE, Ordering::AcqRel) == POLLING_WOKEN;
            if result.is_ready() || !woken {
                return result;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ResourceMetrics;
    use http_body_util::{BodyExt, StreamBody};

    type Chunk = Result<Frame<Bytes>, std::convert::Infallible>;

    /// A body fed by the returned sender, counted as an open stream in the returned metrics.
    fn channel_body(
        idle: Duration,
    ) -> (
        tokio::sync::mpsc::Sender<Chunk>,
        UpstreamBody<StreamBody<impl futures_core::Stream<Item = Chunk> + Unpin>>,
        ResourceMetrics,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(4);
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let metrics = ResourceMetrics::new(crate::model::ResourceKind::Adapter);
        let body = UpstreamBody::new(
            StreamBody::new(stream),
            None,
            Box::pin(tokio::time::sleep(idle)),
            idle,
            metrics.open_stream(),
        );
        (tx, body, metrics)
    }

    #[tokio::test]
    async fn data_already_received_is_joined_and_nothing_waits_for_more() {
        let (tx, mut body, metrics) = channel_body(Duration::from_secs(60));
        let data = |s: &'static str| Ok(Frame::data(Bytes::from_static(s.as_bytes())));
        let next =
            async |body: &mut UpstreamBody<_>| body.frame().await.expect("frame").expect("ok");
        // Two pieces already there: handed on as one.
        tx.send(data("event: a\n\n")).await.expect("send");
        tx.send(data("event: b\n\n")).await.expect("send");
        let frame: Frame<Bytes> = next(&mut body).await;
        assert_eq!(frame.into_data().expect("data"), "event: a\n\nevent: b\n\n");
        // One piece and nothing behind it: handed on at once, not held back for company.
        tx.send(data("event: c\n\n")).await.expect("send");
        let frame = next(&mut body).await;
        assert_eq!(frame.into_data().expect("data"), "event: c\n\n");
        // Trailers behind data: the data first, then the trailers unchanged.
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-done", http::HeaderValue::from_static("1"));
        tx.send(data("d")).await.expect("send");
        tx.send(Ok(Frame::trailers(trailers.clone())))
            .await
            .expect("send");
        assert_eq!(next(&mut body).await.into_data().expect("data"), "d");
        assert_eq!(
            next(&mut body).await.into_trailers().expect("trailers"),
            trailers
        );
        // The end behind data: the data, which already says it is the last, then the end. The
        // stream stops counting as open with the last data, before the client has read it.
        tx.send(data("e")).await.expect("send");
        drop(tx);
        assert_eq!(metrics.open_streams(), 1);
        assert_eq!(next(&mut body).await.into_data().expect("data"), "e");
        assert_eq!(metrics.open_streams(), 0);
        assert!(http_body::Body::is_end_stream(&body));
        assert!(body.frame().await.is_none());
        drop(body);
        assert_eq!(metrics.open_streams(), 0, "closed once, not twice");
    }

    #[tokio::test]
    async fn a_body_dropped_early_is_no_longer_open() {
        let (tx, body, metrics) = channel_body(Duration::from_secs(60));
        assert_eq!(metrics.open_streams(), 1);
        drop(body);
        assert_eq!(metrics.open_streams(), 0);
        drop(tx);
    }

    #[tokio::test]
    async fn joined_data_is_bounded() {
        let (tx, mut body, _) = channel_body(Duration::from_secs(60));
        let piece = Bytes::from(vec![b'x'; GATHER_LIMIT / 2]);
        for _ in 0..4 {
            tx.send(Ok(Frame::data(piece.clone()))).await.expect("send");
        }
        drop(tx);
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            sizes.push(frame.expect("ok").into_data().expect("data").len());
        }
        assert_eq!(sizes, [GATHER_LIMIT, GATHER_LIMIT]);
    }

    #[tokio::test(start_paused = true)]
    async fn frames_pass_and_idle_streams_end() {
        let (tx, mut body, metrics) = channel_body(Duration::from_secs(10));
        for _ in 0..3 {
            // Frames 6 s apart: each restarts the idle clock, so the stream lives past 10 s.
            tokio::time::sleep(Duration::from_secs(6)).await;
            tx.send(Ok(Frame::data(Bytes::from_static(b"a"))))
                .await
                .expect("send");
            let frame = body.frame().await.expect("frame").expect("ok");
            assert_eq!(frame.into_data().expect("data"), Bytes::from_static(b"a"));
        }
        // Nothing more for longer than the idle time: the body ends (paused clock auto-advances).
        let started = tokio::time::Instant::now();
        assert!(body.frame().await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert_eq!(metrics.open_streams(), 0, "an idle stream ended is closed");
        drop(tx);
    }

    struct Counting(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_during_a_poll_repoll_and_later_wakes_reach_the_task() {
        let task = Arc::new(Counting(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut inline = InlineWake::new();

        // Woken during its own poll (twice), then ready: polled three times, task never woken.
        let mut polls = 0;
        let result = inline.poll(&mut cx, |cx| {
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        assert_eq!(result, Poll::Ready(3));
        assert_eq!(task.0.load(Ordering::SeqCst), 0);

        // Pending with no wake: polled once; a wake afterwards goes to the task.
        let mut stored = None;
        let result: Poll<()> = inline.poll(&mut cx, |cx| {
            stored = Some(cx.waker().clone());
            Poll::Pending
        });
        assert_eq!(result, Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
        stored.expect("waker").wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);

        // A future that always wakes itself is handed back to the runtime after a few rounds.
        let mut rounds = 0;
        let result: Poll<()> = inline.poll(&mut cx, |cx| {
            rounds += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        assert_eq!(result, Poll::Pending);
        assert_eq!(rounds, InlineWake::MAX_ROUNDS);
        assert_eq!(task.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn idle_connections_are_kept_until_their_upstream_closes_them() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let authority: http::uri::Authority = listener
            .local_addr()
            .expect("addr")
            .to_string()
            .parse()
            .expect("authority");
        let upstreams = Upstreams::new(
            Duration::from_secs(1),
            crate::http_client::build(Duration::from_secs(1)),
        );
        let pooled = |u: &Upstreams| {
            u.idle
                .lock()
                .expect("lock")
                .values()
                .map(Vec::len)
                .sum::<usize>()
        };
        let mut deadline = Box::pin(tokio::time::sleep(Duration::from_secs(5)));
        let Ok(conn) = upstreams.connect(&authority, &mut deadline).await else {
            panic!("connect");
        };
        let (server_side, _) = listener.accept().await.expect("accept");
        upstreams.checkin(&authority, conn);
        assert_eq!(pooled(&upstreams), 1, "a fresh idle connection is kept");
        upstreams.sweep();
        assert_eq!(pooled(&upstreams), 1, "an open one survives a sweep");
        assert!(upstreams.checkout(authority.as_str()).is_some());
        assert_eq!(pooled(&upstreams), 0);

        let Ok(conn) = upstreams.connect(&authority, &mut deadline).await else {
            panic!("connect");
        };
        upstreams.checkin(&authority, conn);
        drop(server_side);
        let (second, _) = listener.accept().await.expect("accept");
        drop(second);
        tokio::time::sleep(Duration::from_millis(200)).await;
        upstreams.sweep();
        assert_eq!(pooled(&upstreams), 0, "closed by the upstream: swept");
    }

    #[test]
    fn origin_form_keeps_path_and_query() {
        let uri: Uri = "http://127.0.0.1:9/mcp?x=1".parse().expect("uri");
        assert_eq!(origin_form(&uri), "/mcp?x=1");
        let bare: Uri = "http://127.0.0.1:9".parse().expect("uri");
        assert_eq!(origin_form(&bare), "/");
    }
}
