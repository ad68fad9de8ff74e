//! Followed logs (`GET /{adapters,tools}/{name}/logs?follow=true`): the response whose body is
//! a replica's output as it is written, streamed until the replica stops, the client goes away
//! or the gateway shuts down, and the `follow` parameter's documentation. The route and its
//! query are the resource table's ([`super::resources`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use http_body::Frame;
use mcp_gateway_runtimes::LogFollow;
use utoipa::PartialSchema;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterIn};

/// The `follow` query parameter, as documented in `/openapi.json`.
pub(super) fn follow_param() -> Parameter {
    let mut param = Parameter::new("follow");
    param.parameter_in = ParameterIn::Query;
    param.required = Required::False;
    param.description = Some(
        "true: after the last tail lines, keep the response open and stream the replica's \
         output as it is written (text/plain, chunked), until the replica stops, the client \
         disconnects or the gateway shuts down; a runtime error after the head is written as a \
         last line. Default false."
            .into(),
    );
    param.schema = Some(bool::schema());
    param
}

/// The 200 answer streaming `follow`: each chunk leaves as it comes, and nothing on the way (a
/// cache, a buffering proxy) may hold it back.
pub(super) fn streamed(follow: LogFollow) -> Response {
    let mut response = Body::new(FollowBody {
        follow,
        ended: false,
    })
    .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A followed log as a response body. A runtime error after the head was sent cannot become a
/// status any more, so it is written as a last line.
struct FollowBody {
    follow: LogFollow,
    ended: bool,
}

impl http_body::Body for FollowBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.follow.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk))))),
            Poll::Ready(Some(Err(err))) => {
                self.ended = true;
                let line = format!("\n[the log stream ended: {err}]\n");
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
