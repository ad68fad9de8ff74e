//! The upstream pool and body, against real sockets and hand-fed bodies.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body::Frame;
// The body's idle clock follows the runtime's (paused in tests).

use super::body::GATHER_LIMIT;
use super::*;

use crate::domain::counters::ResourceMetrics;
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
    let metrics = ResourceMetrics::new(crate::domain::model::ResourceKind::Adapter);
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
    let next = async |body: &mut UpstreamBody<_>| body.frame().await.expect("frame").expect("ok");
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
        crate::infra::http_client::build(Duration::from_secs(1), None),
        None,
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
