//! Raw HTTP/1.1 on both sides of the data plane, for tests that pin the wire itself: a client
//! that writes request bytes and parses responses by hand (status line, headers, and bodies
//! delimited by Content-Length, chunked coding or the close), and an upstream whose every
//! connection the test scripts (what it answers, when it closes) and which records what it
//! received. No HTTP library on either side: what is asserted is what crossed the socket.
//!
//! Every wait is bounded by [`STEP`]: a test that hangs fails, naming what it waited for.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The longest any single step of a wire test may take.
pub const STEP: Duration = Duration::from_secs(10);

/// `fut`, or a panic naming `what` after [`STEP`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within_for(STEP, what, fut).await
}

/// `fut`, or a panic naming `what` after `limit`.
pub async fn within_for<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for {what}"))
}

/// A header list as it came off the wire: names as sent, values trimmed.
#[derive(Clone, Debug, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether the `Transfer-Encoding` ends in `chunked`.
    fn chunked(&self) -> bool {
        self.all("transfer-encoding")
            .last()
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    }

    fn content_length(&self) -> Option<usize> {
        self.get("content-length").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("unparsable content-length {v:?}"))
        })
    }
}

/// A response's status line and headers.
#[derive(Debug)]
pub struct Head {
    pub version: String,
    pub status: u16,
    pub headers: Headers,
}

/// How a response body was delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// None by its status (1xx, 204, 304).
    Bodiless,
    Length(usize),
    Chunked,
    /// Neither length nor chunked: the body ran until the connection closed.
    Close,
}

/// A whole response.
pub struct Response {
    pub head: Head,
    pub framing: Framing,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "the body is not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request as the upstream received it (a chunked body decoded).
#[derive(Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A body as text in failure messages (lossy, and cut short when long).
struct Shown<'a>(&'a [u8]);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MOST: usize = 2000;
        let text = String::from_utf8_lossy(&self.0[..self.0.len().min(MOST)]);
        if self.0.len() > MOST {
            write!(f, "{text:?}... ({} bytes)", self.0.len())
        } else {
            write!(f, "{text:?}")
        }
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("head", &self.head)
            .field("framing", &self.framing)
            .field("body", &Shown(&self.body))
            .finish()
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field(
                "line",
                &format_args!("{} {} {}", self.method, self.target, self.version),
            )
            .field("headers", &self.headers)
            .field("chunked", &self.chunked)
            .field("body", &Shown(&self.body))
            .finish()
    }
}

/// One TCP connection with its read buffer (either side's).
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    pub fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn connect(addr: SocketAddr) -> Wire {
        let stream = within("a connection", TcpStream::connect(addr))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Wire::new(stream)
    }

    /// Writes all of `bytes` (one write call from our side).
    pub async fn send(&mut self, bytes: &[u8]) {
        within("a write", self.stream.write_all(bytes))
            .await
            .expect("write");
    }

    /// Reads what is there into the buffer; 0 at the end. Cancel-safe: nothing is lost when
    /// the future is dropped.
    async fn fill(&mut self) -> io::Result<usize> {
        // Straight into the buffer: a buffer on the stack would be in every future above this
        // one, and a test's stack is small.
        self.buf.reserve(64 * 1024);
        self.stream.read_buf(&mut self.buf).await
    }

    /// The next `n` bytes as they came (after [`Wire::read_head`]: a body's framing unparsed).
    pub async fn read_raw(&mut self, n: usize) -> Vec<u8> {
        within("raw bytes", self.fill_to(n, "raw bytes")).await;
        self.buf.drain(..n).collect()
    }

    /// At least `n` bytes in the buffer, or a panic when the connection ends first.
    async fn fill_to(&mut self, n: usize, what: &str) {
        while self.buf.len() < n {
            let read = self.fill().await.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(read > 0, "{what}: the connection ended early");
        }
    }

    /// The bytes up to the first empty line (which is consumed); None when the connection ends
    /// before any byte of it.
    async fn head_bytes(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = self.buf[..end].to_vec();
                self.buf.drain(..end + 4);
                return Some(head);
            }
            let read = self
                .fill()
                .await
                .unwrap_or_else(|e| panic!("reading a head: {e}"));
            if read == 0 {
                assert!(
                    self.buf.is_empty(),
                    "the connection ended inside a head: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
        }
    }

    /// A response's head (an interim 1xx one included).
    pub async fn read_head(&mut self) -> Head {
        let bytes = within("a response head", self.head_bytes())
            .await
            .expect("the connection closed where a response was due");
        parse_response_head(&bytes)
    }

    /// The body of the response whose head is `head` (to a request that was not HEAD).
    pub async fn read_body(&mut self, head: &Head) -> (Framing, Vec<u8>) {
        within("a response body", self.body_of(head)).await
    }

    async fn body_of(&mut self, head: &Head) -> (Framing, Vec<u8>) {
        if head.status < 200 || head.status == 204 || head.status == 304 {
            return (Framing::Bodiless, Vec::new());
        }
        if head.headers.chunked() {
            let mut body = Vec::new();
            while let Some(data) = self.chunk().await {
                body.extend_from_slice(&data);
            }
            return (Framing::Chunked, body);
        }
        if let Some(length) = head.headers.content_length() {
            self.fill_to(length, "a Content-Length body").await;
            return (Framing::Length(length), self.buf.drain(..length).collect());
        }
        while self.fill().await.unwrap_or_else(|e| panic!("a body: {e}")) > 0 {}
        (Framing::Close, std::mem::take(&mut self.buf))
    }

    /// The next response, skipping nothing (an interim 100 is returned as it is).
    pub async fn read_response(&mut self) -> Response {
        let head = self.read_head().await;
        let (framing, body) = self.read_body(&head).await;
        Response {
            head,
            framing,
            body,
        }
    }

    /// The data of the next chunk of a chunked body; None after the last chunk (and trailers).
    pub async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        within("the next chunk", self.chunk()).await
    }

    async fn chunk(&mut self) -> Option<Vec<u8>> {
        loop {
            match one_chunk(&self.buf) {
                Ok(Some((data, used, last))) => {
                    self.buf.drain(..used);
                    return (!last).then_some(data);
                }
                Ok(None) => {
                    let read = self.fill().await.unwrap_or_else(|e| panic!("a chunk: {e}"));
                    assert!(read > 0, "the connection ended inside a chunked body");
                }
                Err(bad) => panic!("bad chunked coding: {bad}"),
            }
        }
    }

    /// Waits (at most `limit`) for the peer to close: the read ends (0) or fails (reset).
    /// Panics if data arrives instead.
    pub async fn closed_within(&mut self, limit: Duration, what: &str) {
        within_for(limit, what, async {
            match self.fill().await {
                Ok(0) | Err(_) => {}
                Ok(_) => panic!(
                    "{what}: data arrived instead of the close: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        })
        .await;
    }

    /// The next whole request; None when the connection ends between requests. Cancel-safe.
    async fn read_request(&mut self) -> io::Result<Option<Request>> {
        loop {
            if let Some((request, used)) = parse_request(&self.buf)? {
                self.buf.drain(..used);
                return Ok(Some(request));
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "inside a request",
                    ))
                };
            }
        }
    }
}

/// A loopback upstream the test scripts: it accepts every connection the gateway opens, hands
/// the test each request with the connection it came on, and writes what the test says.
pub struct Upstream {
    /// `http://127.0.0.1:port/mcp`, for the adapter's `url`.
    pub url: String,
    incoming: mpsc::UnboundedReceiver<TcpStream>,
    accepted: Arc<AtomicUsize>,
    /// Connections in accept order (index = the connection's number); None once closed.
    open: Vec<Option<Wire>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let (tx, incoming) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                if tx.send(stream).is_err() {
                    return;
                }
            }
        });
        Upstream {
            url,
            incoming,
            accepted,
            open: Vec::new(),
        }
    }

    /// Connections the gateway has opened so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The gateway's next request and the number of the connection it came on (0 for the
    /// first connection accepted, and so on).
    pub async fn next_request(&mut self) -> (usize, Request) {
        within("the gateway's next upstream request", self.next()).await
    }

    async fn next(&mut self) -> (usize, Request) {
        enum Event {
            Accepted(Option<TcpStream>),
            Read(usize, io::Result<Option<Request>>),
        }
        loop {
            let Upstream { open, incoming, .. } = self;
            let event = {
                let reads: Vec<_> = open
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, wire)| {
                        let wire = wire.as_mut()?;
                        Some(Box::pin(async move { (i, wire.read_request().await) }))
                    })
                    .collect();
                if reads.is_empty() {
                    Event::Accepted(incoming.recv().await)
                } else {
                    tokio::select! {
                        accepted = incoming.recv() => Event::Accepted(accepted),
                        ((i, read), _, _) = futures_util::future::select_all(reads) => {
                            Event::Read(i, read)
                        }
                    }
                }
            };
            match event {
                Event::Accepted(Some(stream)) => open.push(Some(Wire::new(stream))),
                Event::Accepted(None) => panic!("the upstream's listener stopped"),
                Event::Read(i, Ok(Some(request))) => return (i, request),
                // Closed (or broken) by the gateway: it carries no more requests.
                Event::Read(i, _) => open[i] = None,
            }
        }
    }

    /// Writes `bytes` on connection `conn`.
    pub async fn send(&mut self, conn: usize, bytes: &[u8]) {
        self.wire(conn).send(bytes).await;
    }

    /// Closes connection `conn` from the upstream's side.
    pub fn close(&mut self, conn: usize) {
        self.open[conn] = None;
    }

    /// Waits (at most `limit`) for the gateway to close connection `conn`.
    pub async fn closed_within(&mut self, conn: usize, limit: Duration, what: &str) {
        self.wire(conn).closed_within(limit, what).await;
        self.open[conn] = None;
    }

    fn wire(&mut self, conn: usize) -> &mut Wire {
        self.open[conn]
            .as_mut()
            .unwrap_or_else(|| panic!("upstream connection {conn} is closed"))
    }

    /// Runs the upstream as an echo server until the test ends: a request with a JSON-RPC id
    /// gets `200` with `{"id": id, "result": {"conn": n, "bytes": body length}}`, a
    /// notification `202` with no body. Returns every request received, with its connection.
    pub fn echo(mut self) -> Arc<Mutex<Vec<(usize, Request)>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let (conn, request) = self.next().await;
                let reply = echo_reply(conn, &request);
                record.lock().expect("seen").push((conn, request));
                if let Some(wire) = self.open[conn].as_mut() {
                    let _ = wire.stream.write_all(&reply).await;
                }
            }
        });
        seen
    }
}

fn echo_reply(conn: usize, request: &Request) -> Vec<u8> {
    let id = &request.json()["id"];
    if id.is_null() {
        return b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_vec();
    }
    let body = json!({"jsonrpc": "2.0", "id": id,
                      "result": {"conn": conn, "bytes": request.body.len()}});
    json_response(&body.to_string(), "")
}

/// `200` with a JSON `body`, a Content-Length and the `extra` header lines (each ending in CRLF).
pub fn json_response(body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The JSON-RPC result the echo upstream and scripted ones send for request `id`.
pub fn result_body(id: i64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string()
}

/// A chunk of a chunked body carrying `data`.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The last chunk of a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_headers<'a>(lines: impl Iterator<Item = &'a str>) -> Headers {
    Headers(
        lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("a header line without a colon: {line:?}"));
                (name.to_string(), value.trim().to_string())
            })
            .collect(),
    )
}

fn parse_response_head(bytes: &[u8]) -> Head {
    let text = std::str::from_utf8(bytes).expect("an ASCII response head");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    assert!(
        version == "HTTP/1.1" || version == "HTTP/1.0",
        "not an HTTP/1.x status line: {status_line:?}"
    );
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status code in {status_line:?}"));
    Head {
        version,
        status,
        headers: parse_headers(lines),
    }
}

/// A whole request at the start of `buf` and the bytes it takes; None while incomplete.
fn parse_request(buf: &[u8]) -> io::Result<Option<(Request, usize)>> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|e| bad(e.to_string()))?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("bad request line {line:?}")));
    };
    let headers = parse_headers(lines);
    let rest = &buf[end + 4..];
    let (body, used, chunked) = if headers.chunked() {
        match decode_chunked(rest).map_err(bad)? {
            Some((body, used)) => (body, used, true),
            None => return Ok(None),
        }
    } else {
        let length = headers.content_length().unwrap_or(0);
        if rest.len() < length {
            return Ok(None);
        }
        (rest[..length].to_vec(), length, false)
    };
    let request = Request {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        body,
        chunked,
    };
    Ok(Some((request, end + 4 + used)))
}

/// A whole chunked body at the start of `buf`, decoded, and the bytes it takes.
fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some((data, used, last)) = one_chunk(&buf[at..])? else {
            return Ok(None);
        };
        at += used;
        if last {
            return Ok(Some((body, at)));
        }
        body.extend_from_slice(&data);
    }
}

/// One chunk at the start of `buf`: its data, the bytes it takes and whether it is the last
/// (whose trailer section it includes); None while incomplete.
fn one_chunk(buf: &[u8]) -> Result<Option<(Vec<u8>, usize, bool)>, String> {
    let Some(line_end) = find(buf, b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&buf[..line_end]);
    let size_text = line.split(';').next().unwrap_or("").trim();
    let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("chunk size {line:?}"))?;
    let data_start = line_end + 2;
    if size == 0 {
        // Trailers, if any, then an empty line.
        let rest = &buf[data_start..];
        if rest.starts_with(b"\r\n") {
            return Ok(Some((Vec::new(), data_start + 2, true)));
        }
        return Ok(find(rest, b"\r\n\r\n").map(|end| (Vec::new(), data_start + end + 4, true)));
    }
    if buf.len() < data_start + size + 2 {
        return Ok(None);
    }
    if &buf[data_start + size..data_start + size + 2] != b"\r\n" {
        return Err(format!("chunk of {size} bytes not followed by CRLF"));
    }
    Ok(Some((
        buf[data_start..data_start + size].to_vec(),
        data_start + size + 2,
        false,
    )))
}
