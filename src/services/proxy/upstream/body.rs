//! The upstream's response body as the client reads it, driving its connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;
// The body's idle clock follows the runtime's (paused in tests).
use tokio::time::Instant as Clock;

use crate::domain::counters::OpenStream;

use super::{Conn, InlineWake, Upstreams};

/// A connection on loan to one response; returned to the pool when the body ends.
pub(super) struct Pooled {
    pub(super) conn: Box<Conn>,
    pub(super) inline: InlineWake,
    pub(super) key: http::uri::Authority,
    pub(super) upstreams: Arc<Upstreams>,
}

/// The upstream's response body as the client reads it: frames pass as they arrive, the
/// connection is driven by whoever polls the body, and a stream idle for `idle` ends cleanly.
/// Dropped early (the client went away), it closes the upstream connection, which cancels the
/// upstream's work on the request.
pub(super) struct UpstreamBody<B: http_body::Body> {
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
pub(super) const GATHER_LIMIT: usize = 64 * 1024;

impl<B: http_body::Body> UpstreamBody<B> {
    pub(super) fn new(
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
