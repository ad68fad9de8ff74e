//! `GET /{adapters,tools}/{name}/logs`: a replica's last lines, or (`follow=true`) its last
//! lines and then its output as it is written, streamed until the replica stops, the client
//! goes away or the gateway shuts down. The route is in the resource table
//! ([`super::resources`]); this is its handler, its query and its streamed body.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use http_body::Frame;
use mcp_gateway_runtimes::LogFollow;
use utoipa::PartialSchema;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterIn};

use super::resources::{DEFAULT_TAIL, MAX_TAIL, readable};
use super::{ApiError, AppState};
use crate::domain::model::ResourceKind;
use crate::domain::validate::FieldError;
use crate::infra::auth::Caller;

/// What `?instance=N&tail=K&follow=true` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct LogsQuery {
    pub instance: u32,
    pub tail: u32,
    pub follow: bool,
}

pub(super) async fn logs(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
    name: String,
    query: Option<String>,
) -> Result<Response, ApiError> {
    let query = parse_logs_query(query.as_deref().unwrap_or(""))?;
    let resource = readable(&state, kind, &caller, &name)?;
    let mut response = if query.follow {
        let follow = state
            .status
            .follow_logs(&resource, query.instance, query.tail)
            .await?;
        let mut response = Body::new(FollowBody {
            follow,
            ended: false,
        })
        .into_response();
        // Each chunk leaves as it comes: no cache or proxy may hold it back.
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    } else {
        state
            .status
            .logs(&resource, query.instance, query.tail)
            .await?
            .into_response()
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

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

pub(super) fn parse_logs_query(query: &str) -> Result<LogsQuery, ApiError> {
    let mut parsed = LogsQuery {
        instance: 0,
        tail: DEFAULT_TAIL,
        follow: false,
    };
    let mut errors = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "instance" => match value.parse::<u32>() {
                Ok(n) => parsed.instance = n,
                Err(_) => errors.push(FieldError::new(
                    "instance",
                    "must be a replica index (0, 1, ...)",
                )),
            },
            "tail" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_TAIL).contains(&n) => parsed.tail = n,
                _ => errors.push(FieldError::new(
                    "tail",
                    format!("must be an integer from 1 to {MAX_TAIL}"),
                )),
            },
            "follow" => match value.as_ref() {
                "true" => parsed.follow = true,
                "false" => parsed.follow = false,
                _ => errors.push(FieldError::new("follow", "must be true or false")),
            },
            other => errors.push(FieldError::new(
                other,
                "unknown query parameter; logs take instance, tail and follow",
            )),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// A followed log as a response body: each chunk as it arrives. A runtime error after the
/// head was sent cannot become a status any more, so it is written as a last line.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_query_defaults_and_errors() {
        let query = |instance, tail, follow| LogsQuery {
            instance,
            tail,
            follow,
        };
        assert_eq!(
            parse_logs_query("").expect("ok"),
            query(0, DEFAULT_TAIL, false)
        );
        assert_eq!(
            parse_logs_query("instance=2&tail=5").expect("ok"),
            query(2, 5, false)
        );
        assert_eq!(
            parse_logs_query("follow=true&tail=10").expect("ok"),
            query(0, 10, true)
        );
        let Err(ApiError::Invalid(errors)) = parse_logs_query("instance=x&tail=0&foo=1&follow=yes")
        else {
            panic!("expected field errors");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["instance", "tail", "foo", "follow"]);
    }
}
