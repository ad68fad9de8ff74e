//! The data plane's HTTP/1.1 wire behaviour, pinned byte by byte on both hops: a raw TCP client
//! in front of the gateway and a raw TCP upstream behind it (tests/common/wire.rs), so that what
//! is asserted holds for any implementation of the proxy, hyper's or our own.
//!
//! Downstream: keep-alive across the data and control planes, pipelining, `Connection: close`,
//! HTTP/1.0, malformed requests, request bodies (exact limit, chunked, `Expect: 100-continue`).
//! Upstream: every framing reaches the client intact (Content-Length, chunked SSE as it is sent,
//! close-delimited, 202/204), connection reuse and replacement, the idle timeout, a client that
//! leaves mid-stream, garbage instead of a response, and header hygiene in both directions.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::wire::{
    Framing, Head, LAST_CHUNK, Request, Response, STEP, Upstream, Wire, chunk, json_response,
    result_body, within,
};
use common::{Gateway, client, config_none};
use serde_json::{Value, json};

/// The adapter every test registers, and its data-plane path.
const ADAPTER: &str = "wire";
const PATH: &str = "/adapters/wire/mcp";

/// A gateway with adapter [`ADAPTER`] pointing at `upstream_url`; `proxy` holds extra
/// `[proxy]` settings (one `key = value` a line).
struct Setup {
    _dir: tempfile::TempDir,
    _gw: Gateway,
    addr: SocketAddr,
}

async fn gateway_for(upstream_url: &str, proxy: &str) -> Setup {
    gateway_with(upstream_url, "", proxy).await
}

/// [`gateway_for`] with extra `[server]` settings too.
async fn gateway_with(upstream_url: &str, server: &str, proxy: &str) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("[server]\n{server}\n[proxy]\n{proxy}\n");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", &extra));
    // Not federated: the tool router's listing traffic would reach the scripted upstream.
    let created = client()
        .post(gw.url("/adapters"))
        .json(&json!({"name": ADAPTER, "url": upstream_url, "federate": false}))
        .send()
        .await
        .expect("create the adapter");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let addr = gw
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("the gateway's address");
    Setup {
        _dir: dir,
        _gw: gw,
        addr,
    }
}

/// A JSON-RPC `ping` with `id`.
fn ping(id: i64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "ping"}).to_string()
}

/// A POST of `body` to the data plane, with the `extra` header lines (each ending in CRLF).
fn post_body(body: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST {PATH} HTTP/1.1\r\nhost: gateway\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn post(id: i64, extra: &str) -> Vec<u8> {
    post_body(&ping(id), extra)
}

/// A `200` JSON answer to request `id`.
fn assert_answers(response: &Response, id: i64) {
    assert_eq!(response.status(), 200, "{response:?}");
    assert_eq!(response.json()["id"], json!(id), "{response:?}");
}

/// A JSON-RPC error answer with `status` to request `id`.
fn assert_jsonrpc_error(response: &Response, status: u16, id: Value) -> Value {
    assert_eq!(response.status(), status, "{response:?}");
    let body = response.json();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], id, "{body}");
    assert!(body["error"]["code"].is_i64(), "{body}");
    body
}

/// The head of a chunked SSE answer.
const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

fn sse_event(message: &Value) -> Vec<u8> {
    format!("event: message\ndata: {message}\n\n").into_bytes()
}

/// At least `len` bytes of a chunked body, however the gateway cut them into chunks.
async fn stream_data(client: &mut Wire, len: usize) -> Vec<u8> {
    let mut data = Vec::new();
    while data.len() < len {
        let more = client.next_chunk().await.expect("the stream ended early");
        data.extend_from_slice(&more);
    }
    data
}

/// Three requests on one connection, then the control plane on the same connection, then the
/// data plane again: keep-alive does not depend on which plane answered last.
#[tokio::test]
async fn one_connection_carries_many_requests_on_both_planes() {
    many_requests_on_both_planes("").await;
}

/// The same with no event loops of the data plane's own: the runtime's threads accept and serve
/// the wire path too.
#[tokio::test]
async fn without_event_loops_the_runtime_serves_both_planes() {
    many_requests_on_both_planes("proxy_threads = 0").await;
}

async fn many_requests_on_both_planes(server: &str) {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    let seen = upstream.echo();
    let setup = gateway_with(&url, server, "").await;
    let mut client = Wire::connect(setup.addr).await;
    for id in 1..=3 {
        client.send(&post(id, "")).await;
        assert_answers(&client.read_response().await, id);
    }
    client
        .send(b"GET /adapters HTTP/1.1\r\nhost: gateway\r\naccept: application/json\r\n\r\n")
        .await;
    let listing = client.read_response().await;
    assert_eq!(listing.status(), 200, "{listing:?}");
    assert!(listing.text().contains("\"wire\""), "{}", listing.text());
    client
        .send(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await;
    let health = client.read_response().await;
    assert_eq!((health.status(), health.text().as_str()), (200, "ok"));
    client.send(&post(4, "")).await;
    assert_answers(&client.read_response().await, 4);
    assert_eq!(seen.lock().expect("seen").len(), 4);
}

/// `server.proxy_threads = 3`: three event loops run (each a runtime of one thread named
/// `proxy-N`; a blocking task would add a thread of the same name), and between them they serve
/// many connections, each loop pooling the upstream connections it made. A connection is served
/// on the loop with the fewest open, whichever loop the kernel woke to accept it, so nine
/// connections are spread three to a loop. Requests go one at a time, so no loop ever needs a
/// second upstream connection, and each needs one: exactly three.
#[tokio::test]
async fn event_loops_share_connections_evenly_with_upstream_connections_of_their_own() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    let seen = upstream.echo();
    let setup = gateway_with(&url, "proxy_threads = 3", "").await;
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", setup._gw.pid()))
        .expect("the gateway's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("proxy-"))
        .collect();
    let mut names = names;
    names.sort();
    names.dedup();
    assert_eq!(names, ["proxy-1", "proxy-2", "proxy-3"]);

    let mut clients = Vec::new();
    let mut id = 0;
    for _ in 0..9 {
        let mut client = Wire::connect(setup.addr).await;
        id += 1;
        client.send(&post(id, "")).await;
        assert_answers(&client.read_response().await, id);
        clients.push(client);
    }
    for _round in 0..2 {
        for client in &mut clients {
            id += 1;
            client.send(&post(id, "")).await;
            assert_answers(&client.read_response().await, id);
        }
    }
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len(), 27);
    let mut upstream_conns: Vec<usize> = seen.iter().map(|(conn, _)| *conn).collect();
    upstream_conns.sort_unstable();
    upstream_conns.dedup();
    assert_eq!(
        upstream_conns.len(),
        3,
        "27 requests one at a time, over nine connections spread on three loops"
    );
}

/// Requests written back to back in one write are all answered, in order.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    upstream.echo();
    let setup = gateway_for(&url, "").await;
    let mut client = Wire::connect(setup.addr).await;
    let mut three = post(1, "");
    three.extend(post_body(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "",
    ));
    three.extend(post(2, ""));
    client.send(&three).await;
    assert_answers(&client.read_response().await, 1);
    let note = client.read_response().await;
    assert_eq!(note.status(), 202, "{note:?}");
    assert!(note.body.is_empty(), "{note:?}");
    assert_answers(&client.read_response().await, 2);
}

/// A client's `Connection: close`: the answer arrives whole, then the gateway closes.
#[tokio::test]
async fn connection_close_is_honoured_after_the_answer() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    upstream.echo();
    let setup = gateway_for(&url, "").await;
    let mut client = Wire::connect(setup.addr).await;
    client.send(&post(1, "connection: close\r\n")).await;
    let answer = client.read_response().await;
    assert_answers(&answer, 1);
    assert_ne!(answer.framing, Framing::Close, "{answer:?}");
    client
        .closed_within(
            STEP,
            "the gateway to close after a Connection: close request",
        )
        .await;
}

/// Content-Length answers pass byte-exact, small and 1 MiB; a 1 MiB chunked one too.
#[tokio::test]
async fn length_and_chunked_bodies_pass_byte_exact() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let mut client = Wire::connect(setup.addr).await;

    client.send(&post(1, "")).await;
    let (conn, _) = upstream.next_request().await;
    let small = result_body(1);
    upstream.send(conn, &json_response(&small, "")).await;
    let answer = client.read_response().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.text(), small);

    // Not valid UTF-8 and not JSON: the proxy must not look inside.
    let big: Vec<u8> = (0..1usize << 20)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
        .collect();
    client.send(&post(2, "")).await;
    let (conn, _) = upstream.next_request().await;
    let mut sent = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    sent.extend_from_slice(&big);
    // Both at once: a mebibyte does not fit in the sockets' buffers.
    let ((), answer) = tokio::join!(upstream.send(conn, &sent), client.read_response());
    assert_eq!(answer.status(), 200);
    assert!(
        answer.body == big,
        "the 1 MiB Content-Length body changed on the way"
    );

    client.send(&post(3, "")).await;
    let (conn, _) = upstream.next_request().await;
    let mut sent = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                     transfer-encoding: chunked\r\n\r\n"
        .to_vec();
    for piece in big.chunks(40_000) {
        sent.extend(chunk(piece));
    }
    sent.extend_from_slice(LAST_CHUNK);
    let ((), answer) = tokio::join!(upstream.send(conn, &sent), client.read_response());
    assert_eq!(answer.status(), 200);
    assert!(
        answer.body == big,
        "the 1 MiB chunked body changed on the way"
    );
}

/// SSE events reach the client as the upstream writes them, not when the stream ends; the
/// stream ends with the upstream's last chunk and the connection carries the next request.
#[tokio::test]
async fn sse_events_stream_through_as_they_are_written() {
    let upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let events: Vec<Vec<u8>> = (1..=3)
        .map(|n| {
            sse_event(
                &json!({"jsonrpc": "2.0", "method": "notifications/progress",
                              "params": {"progress": n}}),
            )
        })
        .collect();
    let mut client = Wire::connect(setup.addr).await;
    client.send(&post(1, "")).await;
    let script = {
        let (mut upstream, events) = (upstream, events.clone());
        tokio::spawn(async move {
            let (conn, _) = upstream.next_request().await;
            upstream.send(conn, SSE_HEAD).await;
            upstream.send(conn, &chunk(&events[0])).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            upstream.send(conn, &chunk(&events[1])).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let last_sent = Instant::now();
            upstream.send(conn, &chunk(&events[2])).await;
            upstream.send(conn, LAST_CHUNK).await;
            (upstream, last_sent)
        })
    };

    let head = client.read_head().await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(
        head.headers
            .get("content-type")
            .is_some_and(|v| v.starts_with("text/event-stream")),
        "{head:?}"
    );
    assert!(!head.headers.has("content-length"), "{head:?}");
    assert_eq!(head.headers.get("transfer-encoding"), Some("chunked"));
    let mut received = Vec::new();
    let mut first_event_at = None;
    while let Some(data) = client.next_chunk().await {
        received.extend_from_slice(&data);
        if first_event_at.is_none() && received.len() >= events[0].len() {
            first_event_at = Some(Instant::now());
        }
    }
    let (mut upstream, last_sent) = within("the upstream's script", script)
        .await
        .expect("script");
    assert_eq!(received, events.concat(), "the events changed on the way");
    let first_event_at = first_event_at.expect("a first event");
    assert!(
        first_event_at < last_sent,
        "the first event arrived {:?} after the last was sent: the stream was buffered",
        first_event_at - last_sent
    );

    client.send(&post(2, "")).await;
    let (conn, _) = upstream.next_request().await;
    upstream
        .send(conn, &json_response(&result_body(2), ""))
        .await;
    assert_answers(&client.read_response().await, 2);
}

/// An upstream answer delimited by its close (HTTP/1.1 200 with neither Content-Length nor
/// Transfer-Encoding) reaches the client whole and framed, on a connection that stays open.
#[tokio::test]
async fn close_delimited_upstream_bodies_are_framed_for_the_client() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let mut client = Wire::connect(setup.addr).await;
    client.send(&post(1, "")).await;
    let (conn, _) = upstream.next_request().await;
    let body = result_body(1);
    let mut sent = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n".to_vec();
    sent.extend_from_slice(body.as_bytes());
    upstream.send(conn, &sent).await;
    upstream.close(conn);
    let answer = client.read_response().await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text(), body);
    assert_ne!(answer.framing, Framing::Close, "{answer:?}");

    client.send(&post(2, "")).await;
    let (conn, _) = upstream.next_request().await;
    upstream
        .send(conn, &json_response(&result_body(2), ""))
        .await;
    assert_answers(&client.read_response().await, 2);
}

/// 202 (a notification's answer) and 204 pass without a body, and the connection carries the
/// next request: neither is mistaken for a body delimited by the close.
#[tokio::test]
async fn bodiless_answers_keep_the_connection() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let mut client = Wire::connect(setup.addr).await;

    client
        .send(&post_body(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "",
        ))
        .await;
    let (conn, _) = upstream.next_request().await;
    upstream
        .send(conn, b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        .await;
    let accepted = client.read_response().await;
    assert_eq!(accepted.status(), 202, "{accepted:?}");
    assert!(accepted.body.is_empty(), "{accepted:?}");
    assert_ne!(accepted.framing, Framing::Close, "{accepted:?}");

    client.send(&post(2, "")).await;
    let (conn, _) = upstream.next_request().await;
    upstream
        .send(conn, b"HTTP/1.1 204 No Content\r\n\r\n")
        .await;
    let empty = client.read_response().await;
    assert_eq!(empty.status(), 204, "{empty:?}");
    assert!(!empty.head.headers.has("transfer-encoding"), "{empty:?}");

    client.send(&post(3, "")).await;
    let (conn, _) = upstream.next_request().await;
    upstream
        .send(conn, &json_response(&result_body(3), ""))
        .await;
    assert_answers(&client.read_response().await, 3);
}

/// Sequential requests share one upstream connection; one the upstream closes (announced with
/// `Connection: close`, or silently while idle) is replaced, never answered with a 502.
#[tokio::test]
async fn upstream_connections_are_reused_and_replaced_when_closed() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let mut client = Wire::connect(setup.addr).await;

    client.send(&post(1, "")).await;
    let (first, _) = upstream.next_request().await;
    upstream
        .send(first, &json_response(&result_body(1), ""))
        .await;
    assert_answers(&client.read_response().await, 1);
    client.send(&post(2, "")).await;
    let (conn, _) = upstream.next_request().await;
    assert_eq!(
        conn, first,
        "the second request came on a new upstream connection"
    );
    assert_eq!(upstream.accepted(), 1);

    // Announced close: the answer says so, then the upstream closes.
    upstream
        .send(
            conn,
            &json_response(&result_body(2), "connection: close\r\n"),
        )
        .await;
    upstream.close(conn);
    assert_answers(&client.read_response().await, 2);
    client.send(&post(3, "")).await;
    let (conn, _) = upstream.next_request().await;
    assert_ne!(
        conn, first,
        "a request went on a connection the upstream closed"
    );
    upstream
        .send(conn, &json_response(&result_body(3), ""))
        .await;
    assert_answers(&client.read_response().await, 3);

    // Silent close of the idle connection (as uvicorn does after its keep-alive timeout). The
    // next request comes 100 ms later: a request right behind the FIN races it on any proxy,
    // and loopback needs far less to deliver it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    upstream.close(conn);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let idle_closed = conn;
    client.send(&post(4, "")).await;
    let (conn, _) = upstream.next_request().await;
    assert_ne!(conn, idle_closed);
    upstream
        .send(conn, &json_response(&result_body(4), ""))
        .await;
    assert_answers(&client.read_response().await, 4);
    assert_eq!(upstream.accepted(), 3);
}

/// `idle_timeout_secs = 1` and an SSE stream that stalls after one event: the client gets the
/// event, then the response ENDS CLEANLY (the last chunk, about a second after the event; the
/// client connection stays open and carries the next request), and the stalled upstream
/// connection is closed by the gateway.
#[tokio::test]
async fn a_stalled_stream_ends_cleanly_after_the_idle_timeout() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "idle_timeout_secs = 1").await;
    let mut client = Wire::connect(setup.addr).await;
    client.send(&post(1, "")).await;
    let (stalled, _) = upstream.next_request().await;
    let event = sse_event(&json!({"jsonrpc": "2.0", "method": "notifications/progress"}));
    upstream.send(stalled, SSE_HEAD).await;
    upstream.send(stalled, &chunk(&event)).await;

    let head = client.read_head().await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(stream_data(&mut client, event.len()).await, event);
    let event_at = Instant::now();
    assert_eq!(client.next_chunk().await, None, "more data after the stall");
    let waited = event_at.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "the stream ended {waited:?} after its last event, before the idle timeout"
    );
    upstream
        .closed_within(
            stalled,
            STEP,
            "the gateway to close the stalled upstream connection",
        )
        .await;

    client.send(&post(2, "")).await;
    let (conn, _) = upstream.next_request().await;
    upstream
        .send(conn, &json_response(&result_body(2), ""))
        .await;
    assert_answers(&client.read_response().await, 2);
}

/// An upstream that takes the request and never answers: 504 after the idle timeout, with a
/// JSON-RPC error carrying the request's id.
#[tokio::test]
async fn a_silent_upstream_gets_504_with_the_request_id() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "idle_timeout_secs = 1").await;
    let mut client = Wire::connect(setup.addr).await;
    let sent_at = Instant::now();
    client.send(&post(7, "")).await;
    let _silent = upstream.next_request().await;
    let answer = client.read_response().await;
    assert!(sent_at.elapsed() >= Duration::from_millis(500));
    assert_jsonrpc_error(&answer, 504, json!(7));
}

/// The idle timeout is counted from each request, on a connection that has carried others: one
/// answered at once, then a pause longer than the timeout, one more answered at once, a pause
/// of 0.6 s, and a request the upstream never answers: its 504 comes a whole timeout after it
/// was sent, not after the one before it.
#[tokio::test]
async fn each_request_on_a_connection_gets_the_whole_idle_timeout() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "idle_timeout_secs = 1").await;
    let mut client = Wire::connect(setup.addr).await;
    for id in 1..=2 {
        client.send(&post(id, "")).await;
        let (conn, _) = upstream.next_request().await;
        upstream
            .send(conn, &json_response(&result_body(id), ""))
            .await;
        assert_answers(&client.read_response().await, id);
        let pause = if id == 1 { 1300 } else { 600 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let sent_at = Instant::now();
    client.send(&post(3, "")).await;
    let _silent = upstream.next_request().await;
    let answer = client.read_response().await;
    let waited = sent_at.elapsed();
    assert!(
        waited >= Duration::from_millis(850),
        "504 {waited:?} after the request, before its idle timeout"
    );
    assert_jsonrpc_error(&answer, 504, json!(3));
}

/// A client that goes away while an SSE answer is open: the gateway closes the upstream
/// connection within a few seconds (which is how the upstream learns to stop working).
#[tokio::test]
async fn a_client_leaving_mid_stream_closes_the_upstream_connection() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let mut client = Wire::connect(setup.addr).await;
    client.send(&post(1, "")).await;
    let (conn, _) = upstream.next_request().await;
    let event = sse_event(&json!({"jsonrpc": "2.0", "method": "notifications/progress"}));
    upstream.send(conn, SSE_HEAD).await;
    upstream.send(conn, &chunk(&event)).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 200);
    assert_eq!(stream_data(&mut client, event.len()).await, event);
    drop(client);
    upstream
        .closed_within(
            conn,
            Duration::from_secs(5),
            "the gateway to close the upstream connection of a client that left",
        )
        .await;
}

/// A `ping` whose JSON is exactly `len` bytes long.
fn padded(id: i64, len: usize) -> String {
    let start = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping","params":{{"pad":""#);
    let end = r#""}}"#;
    let pad = len - start.len() - end.len();
    format!("{start}{}{end}", "x".repeat(pad))
}

/// `max_body_bytes` is exact: a body of the limit passes whole, one byte more is refused with
/// 413 and never reaches the upstream.
#[tokio::test]
async fn the_body_limit_is_exact() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    let seen = upstream.echo();
    let setup = gateway_for(&url, "max_body_bytes = 4096").await;

    let mut client = Wire::connect(setup.addr).await;
    let fits = padded(1, 4096);
    client.send(&post_body(&fits, "")).await;
    let answer = client.read_response().await;
    assert_answers(&answer, 1);
    assert_eq!(answer.json()["result"]["bytes"], 4096);
    assert_eq!(
        seen.lock().expect("seen")[0].1.body,
        fits.as_bytes(),
        "the body changed on the way"
    );

    let mut client = Wire::connect(setup.addr).await;
    client.send(&post_body(&padded(2, 4097), "")).await;
    let refused = client.read_response().await;
    assert_eq!(refused.status(), 413, "{refused:?}");
    assert!(refused.json()["error"]["code"].is_i64(), "{refused:?}");
    assert_eq!(seen.lock().expect("seen").len(), 1, "the upstream got it");
}

/// A chunked request body (written in pieces) reaches the upstream whole; one that grows past
/// `max_body_bytes` is refused with 413.
#[tokio::test]
async fn chunked_request_bodies_are_forwarded_within_the_limit() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    let seen = upstream.echo();
    let setup = gateway_for(&url, "max_body_bytes = 4096").await;
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: gateway\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );

    let mut client = Wire::connect(setup.addr).await;
    let body = padded(5, 1000);
    client.send(head.as_bytes()).await;
    for piece in body.as_bytes().chunks(400) {
        client.send(&chunk(piece)).await;
    }
    client.send(LAST_CHUNK).await;
    let answer = client.read_response().await;
    assert_answers(&answer, 5);
    assert_eq!(
        seen.lock().expect("seen")[0].1.body,
        body.as_bytes(),
        "the chunked body changed on the way"
    );

    let mut client = Wire::connect(setup.addr).await;
    let mut sent = head.into_bytes();
    for piece in padded(6, 6000).as_bytes().chunks(1000) {
        sent.extend(chunk(piece));
    }
    sent.extend_from_slice(LAST_CHUNK);
    client.send(&sent).await;
    let refused = client.read_response().await;
    assert_eq!(refused.status(), 413, "{refused:?}");
}

/// `Expect: 100-continue`: the gateway says 100 Continue, then takes the body and answers.
#[tokio::test]
async fn expect_100_continue_is_answered() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    upstream.echo();
    let setup = gateway_for(&url, "").await;
    let mut client = Wire::connect(setup.addr).await;
    let body = ping(3);
    let request = post_body(&body, "expect: 100-continue\r\n");
    let head_len = request.len() - body.len();
    client.send(&request[..head_len]).await;
    let interim = client.read_head().await;
    assert_eq!(interim.status, 100, "{interim:?}");
    client.send(body.as_bytes()).await;
    assert_answers(&client.read_response().await, 3);
}

/// An HTTP/1.0 request is answered (never chunked, which 1.0 does not know), then the
/// connection closes; a malformed request line gets 400 and the gateway serves on.
#[tokio::test]
async fn http_1_0_and_malformed_requests() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    upstream.echo();
    let setup = gateway_for(&url, "").await;

    let mut client = Wire::connect(setup.addr).await;
    let body = ping(1);
    let request = format!(
        "POST {PATH} HTTP/1.0\r\nhost: gateway\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    client.send(request.as_bytes()).await;
    let answer = client.read_response().await;
    assert_answers(&answer, 1);
    assert_ne!(answer.framing, Framing::Chunked, "{answer:?}");
    if answer.framing != Framing::Close {
        client
            .closed_within(STEP, "the gateway to close an HTTP/1.0 connection")
            .await;
    }

    let mut client = Wire::connect(setup.addr).await;
    client.send(b"THIS IS NOT HTTP\r\n\r\n").await;
    let refused = client.read_response().await;
    assert_eq!(refused.status(), 400, "{refused:?}");
    client
        .closed_within(STEP, "the gateway to close after a malformed request")
        .await;

    let mut client = Wire::connect(setup.addr).await;
    client.send(&post(2, "")).await;
    assert_answers(&client.read_response().await, 2);
}

/// Garbage instead of an HTTP response: 502 with a JSON-RPC error naming the adapter and
/// carrying the request's id, without waiting for the upstream to close or time out.
#[tokio::test]
async fn upstream_garbage_gets_502_naming_the_adapter() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let mut client = Wire::connect(setup.addr).await;
    client.send(&post(9, "")).await;
    let (conn, _) = upstream.next_request().await;
    upstream
        .send(conn, b"SSH-2.0-OpenSSH_9.6 this is not http\r\n")
        .await;
    let answer = client.read_response().await;
    let body = assert_jsonrpc_error(&answer, 502, json!(9));
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(message.contains("\"wire\""), "{message}");
}

/// Headers: the upstream gets its own `Host`, the `Mcp-*` headers and `MCP-Protocol-Version`
/// as sent (and its own session id back for the gateway's sealed token), never the client's
/// credentials or the client's hop-by-hop headers; the client gets no cookie and no hop-by-hop header of the
/// upstream's, and a `Date`.
#[tokio::test]
async fn headers_are_cleaned_in_both_directions() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let mut client = Wire::connect(setup.addr).await;
    let mcp = [
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "add"),
        ("Mcp-Param-City", "Saint-Etienne 42000"),
    ];
    let mut extra: String = mcp.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    extra.push_str(
        "Authorization: Bearer client-secret\r\nCookie: session=abc\r\n\
         Connection: X-Client-Hop\r\nX-Client-Hop: 1\r\nKeep-Alive: timeout=5\r\n",
    );
    client.send(&post(1, &extra)).await;
    let (conn, seen) = upstream.next_request().await;
    let own_host = upstream
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp");
    assert_eq!(seen.headers.all("host"), [own_host], "{seen:?}");
    for (name, value) in &mcp {
        assert_eq!(seen.headers.all(name), [*value], "{name}: {seen:?}");
    }
    for dropped in ["authorization", "cookie", "x-client-hop", "keep-alive"] {
        assert!(
            !seen.headers.has(dropped),
            "{dropped} reached the upstream: {seen:?}"
        );
    }
    upstream
        .send(
            conn,
            &json_response(
                &result_body(1),
                "Set-Cookie: tracking=1\r\nKeep-Alive: timeout=5\r\n\
                 Connection: X-Upstream-Hop\r\nX-Upstream-Hop: secret\r\n\
                 X-Upstream: yes\r\nMcp-Session-Id: upstream-session-1\r\n",
            ),
        )
        .await;
    let answer = client.read_response().await;
    assert_answers(&answer, 1);
    let headers = &answer.head.headers;
    for dropped in ["set-cookie", "keep-alive", "x-upstream-hop"] {
        assert!(
            !headers.has(dropped),
            "{dropped} reached the client: {answer:?}"
        );
    }
    assert!(
        headers
            .all("connection")
            .iter()
            .all(|v| !v.to_ascii_lowercase().contains("x-upstream-hop")),
        "{answer:?}"
    );
    assert_eq!(headers.get("x-upstream"), Some("yes"));
    assert!(headers.has("date"), "{answer:?}");
    let token = headers
        .get("mcp-session-id")
        .expect("a sealed session token");
    assert_ne!(token, "upstream-session-1");

    client
        .send(&post(2, &format!("Mcp-Session-Id: {token}\r\n")))
        .await;
    let (conn, seen) = upstream.next_request().await;
    assert_eq!(
        seen.headers.all("mcp-session-id"),
        ["upstream-session-1"],
        "{seen:?}"
    );
    upstream
        .send(conn, &json_response(&result_body(2), ""))
        .await;
    assert_answers(&client.read_response().await, 2);
}

/// The gateway's own answers on a data-plane connection (a foreign `Origin`, a token that is not
/// a session, an upstream that refuses connections) are JSON-RPC errors that keep the connection:
/// the next request on it is proxied. An allowed origin gets the CORS grants with the answer.
#[tokio::test]
async fn refusals_keep_the_connection_and_allowed_origins_get_cors() {
    let upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "cors = true").await;
    let seen = upstream.echo();
    let dead = format!("http://127.0.0.1:{}/mcp", common::closed_port());
    let created = client()
        .post(format!("http://{}/adapters", setup.addr))
        .json(&json!({"name": "dead", "url": dead, "federate": false}))
        .send()
        .await
        .expect("create the dead adapter");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);

    let mut client = Wire::connect(setup.addr).await;
    client
        .send(&post(1, "origin: https://evil.example\r\n"))
        .await;
    let refused = client.read_response().await;
    assert_jsonrpc_error(&refused, 403, Value::Null);
    assert!(refused.header("access-control-allow-origin").is_none());

    client
        .send(&post(2, "mcp-session-id: not-a-token\r\n"))
        .await;
    assert_jsonrpc_error(&client.read_response().await, 404, json!(2));

    let body = ping(3);
    let to_dead = format!(
        "POST /adapters/dead/mcp HTTP/1.1\r\nhost: gateway\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    client.send(to_dead.as_bytes()).await;
    let unreachable = client.read_response().await;
    let error = assert_jsonrpc_error(&unreachable, 502, json!(3));
    let message = error["error"]["message"].as_str().expect("a message");
    assert!(message.contains("\"dead\""), "{message}");

    client
        .send(&post(4, "origin: http://localhost:3000\r\n"))
        .await;
    let granted = client.read_response().await;
    assert_answers(&granted, 4);
    assert_eq!(
        granted.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(granted.header("vary"), Some("Origin"));
    let exposed = granted
        .header("access-control-expose-headers")
        .expect("exposed headers");
    assert!(exposed.contains("Mcp-Session-Id"), "{exposed}");

    // Preflights: a foreign origin is refused, an allowed one granted what it asks.
    let preflight = |origin: &str| {
        format!(
            "OPTIONS {PATH} HTTP/1.1\r\nhost: gateway\r\norigin: {origin}\r\n\
             access-control-request-method: POST\r\naccess-control-request-headers: mcp-session-id\r\n\r\n"
        )
    };
    client
        .send(preflight("https://evil.example").as_bytes())
        .await;
    let refused = client.read_response().await;
    assert_eq!(refused.head.status, 403, "{:?}", refused.head);
    assert!(refused.header("access-control-allow-origin").is_none());
    client
        .send(preflight("http://localhost:3000").as_bytes())
        .await;
    let granted = client.read_response().await;
    assert_eq!(granted.head.status, 204, "{:?}", granted.head);
    assert_eq!(
        granted.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(
        granted.header("access-control-allow-headers"),
        Some("mcp-session-id")
    );
    let methods = granted
        .header("access-control-allow-methods")
        .expect("allowed methods");
    assert!(methods.contains("POST"), "{methods}");

    // Only one request reached the upstream; every refusal and preflight stayed in the gateway.
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].1.json()["id"], json!(4));
}

/// Sends `request`, answers it upstream with `answer` as raw bytes, and reads the client's
/// response head (its body is left unread): what the upstream received, and that head.
async fn relayed(
    client: &mut Wire,
    upstream: &mut Upstream,
    request: &[u8],
    answer: &[u8],
) -> (Request, Head) {
    client.send(request).await;
    let (conn, received) = upstream.next_request().await;
    upstream.send(conn, answer).await;
    (received, client.read_head().await)
}

/// A plain POST's answer takes the gateway's own HTTP/1.1 path: the upstream's chunked framing
/// reaches the client byte for byte, chunk extensions and boundaries included (hyper would decode
/// and re-encode it, dropping the extensions). A `GET` stream, a `DELETE` and a CORS preflight
/// keep the connection there; after an API request hands it to hyper, the same answer arrives
/// re-encoded: both paths are in use, and the test tells them apart.
#[tokio::test]
async fn plain_posts_take_the_wire_path_byte_for_byte() {
    let mut upstream = Upstream::start().await;
    let setup = gateway_for(&upstream.url.clone(), "").await;
    let framed: &[u8] = b"5;wire=1\r\nhello\r\n6;wire=2\r\n world\r\n0\r\n\r\n";
    let mut answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    answer.extend_from_slice(framed);

    let mut client = Wire::connect(setup.addr).await;
    let (_, head) = relayed(&mut client, &mut upstream, &post(1, ""), &answer).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(
        client.read_raw(framed.len()).await,
        framed,
        "passed through as sent"
    );

    // A 2025 session's GET stream and its DELETE stay on the wire path too: the stream passes
    // byte for byte; a successful DELETE is answered 204 (the general path's rule).
    let get = format!("GET {PATH} HTTP/1.1\r\nhost: gateway\r\naccept: text/event-stream\r\n\r\n");
    let (request, head) = relayed(&mut client, &mut upstream, get.as_bytes(), &answer).await;
    assert_eq!(request.method, "GET");
    assert!(
        request.headers.get("content-length").is_none(),
        "{request:?}"
    );
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(
        client.read_raw(framed.len()).await,
        framed,
        "GET passed through as sent"
    );
    let delete = format!("DELETE {PATH} HTTP/1.1\r\nhost: gateway\r\n\r\n");
    let accepted = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
    let (request, head) = relayed(&mut client, &mut upstream, delete.as_bytes(), accepted).await;
    assert_eq!(request.method, "DELETE");
    assert_eq!(head.status, 204, "{head:?}");
    assert!(head.headers.get("content-length").is_none(), "{head:?}");
    // So does a browser's CORS preflight, answered by the gateway.
    client
        .send(
            format!(
                "OPTIONS {PATH} HTTP/1.1\r\nhost: gateway\r\norigin: http://localhost:3000\r\n\
                 access-control-request-method: POST\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
    let head = client.read_head().await;
    assert_eq!(head.status, 204, "{head:?}");
    relayed(&mut client, &mut upstream, &post(2, ""), &answer).await;
    assert_eq!(
        client.read_raw(framed.len()).await,
        framed,
        "still on the wire path"
    );

    // A request that is not the data plane's (here the API's health check) moves this
    // connection to hyper for good; the data plane's answers then come re-encoded.
    client
        .send(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await;
    let head = client.read_head().await;
    assert_eq!(head.status, 200, "{head:?}");
    client.read_body(&head).await;
    relayed(&mut client, &mut upstream, &post(3, ""), &answer).await;
    let raw = client.read_raw(4).await;
    assert_ne!(
        raw,
        &framed[..4],
        "after the hand-off, hyper re-encodes the chunks"
    );
}
