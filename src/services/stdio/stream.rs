//! The response to one request relayed to a stdio server: an SSE stream of the messages for
//! its caller (progress, a server request it must answer), ending with the response. If the
//! client goes away first (it closed the stream, which is how a 2026-07-28 client cancels),
//! the request is cancelled upstream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;

use super::upstream::Link;
use super::wire::{self, Kind};

/// Runs when the stream ends: with `true` when the response was delivered.
pub type OnEnd = Box<dyn FnOnce(bool) + Send>;

/// The SSE body over a request's messages.
pub struct EventBody {
    messages: mpsc::UnboundedReceiver<Value>,
    link: Arc<Link>,
    upstream_id: u64,
    /// The request's method, for the stateless result translation.
    method: String,
    stateless: bool,
    done: bool,
    on_end: Option<OnEnd>,
}

impl EventBody {
    pub fn new(
        messages: mpsc::UnboundedReceiver<Value>,
        link: Arc<Link>,
        upstream_id: u64,
        method: String,
        stateless: bool,
        on_end: OnEnd,
    ) -> Self {
        Self {
            messages,
            link,
            upstream_id,
            method,
            stateless,
            done: false,
            on_end: Some(on_end),
        }
    }

    /// The streamed response.
    pub fn response(self) -> Response {
        let mut response = Response::new(Body::new(self));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
}

/// One SSE event carrying a JSON-RPC message.
pub fn event(message: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {message}\n\n"))
}

impl http_body::Body for EventBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.messages.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(mut message)) => {
                if matches!(wire::kind(&message), Kind::Response { .. }) {
                    self.done = true;
                    if self.stateless
                        && let Some(result) = message.get_mut("result")
                    {
                        wire::to_stateless_result(&self.method, result);
                    }
                    if let Some(on_end) = self.on_end.take() {
                        on_end(true);
                    }
                }
                Poll::Ready(Some(Ok(Frame::data(event(&message)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

impl Drop for EventBody {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            // Dropped before the response: the client went away. Cancel upstream.
            self.link.cancel(
                self.upstream_id,
                Some(Value::String("the client closed its stream".into())),
            );
            on_end(false);
        }
    }
}
