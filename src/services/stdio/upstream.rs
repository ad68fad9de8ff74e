//! One attached stdio process (a replica), shared by every client of it.
//!
//! A [`Link`] owns the attachment: a writer task feeds stdin one line per message, a reader
//! task reads stdout line by line and routes each message: a response to the request that
//! waits for it (its id restored), a progress notification to the request that owns the token
//! (the token restored), a server-to-client request to the one client that can answer it (or
//! an error back when no single client can), and every other notification (`list_changed`,
//! log messages, resource updates) to every open GET stream. Ids and progress tokens sent
//! upstream are the link's own numbers, so two clients' `id: 1` never meet.
//!
//! The server is initialized once per process, by the gateway. Its answer is kept in the store
//! under the process's identity (from the runtime), so a restarted gateway attaches again and
//! goes on without a second `initialize` when the process is still the one it initialized.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_gateway_runtimes::Attachment;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::wire::{self, Kind};

/// Longest line a server may write (a larger one ends the link: the stream cannot be resynced).
const MAX_LINE: usize = 32 * 1024 * 1024;
/// How long the server gets to answer the gateway's `initialize`.
pub const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(30);
/// Notifications held for a GET stream that is behind before it misses some.
const FANOUT_BUFFER: usize = 256;
/// JSON-RPC code of the gateway's own errors about the upstream process.
pub const UPSTREAM_GONE: i64 = -32004;

/// What a waiting client receives: the messages of its request's stream, the last being the
/// response.
pub type Sink = mpsc::UnboundedSender<Value>;

/// A request in flight upstream.
struct Pending {
    /// The client's own id, restored on the response.
    client_id: Value,
    /// The client's progress token, restored on progress notifications.
    progress: Option<Value>,
    sink: Sink,
    /// Whether the client can be asked things (a 2025 session reading its response stream);
    /// 2026-07-28 requests cannot be.
    can_ask: bool,
}

/// A server-to-client request relayed to a client: where its answer goes upstream.
struct Relayed {
    upstream_id: Value,
}

#[derive(Default)]
struct Tables {
    pending: HashMap<u64, Pending>,
    relayed: HashMap<String, Relayed>,
}

/// One attached process.
pub struct Link {
    /// Names the process: sessions opened on it carry this, and die with it.
    pub generation: String,
    /// The server's `initialize` result.
    pub init: Value,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    tables: Mutex<Tables>,
    next_id: AtomicU64,
    fanout: broadcast::Sender<Value>,
    /// Cancelled when the process's output ends (it exited, or the attachment broke).
    pub closed: CancellationToken,
}

/// What [`Link::open`] needs of the process.
pub struct Opening {
    pub attachment: Attachment,
    pub generation: String,
    /// The `initialize` result kept from an earlier gateway run for this very process.
    pub known_init: Option<Value>,
    /// The `initialize` params to send (a per-session client's own); `None`: the gateway's.
    pub client_init: Option<Value>,
    /// Called once when the link closes.
    pub on_close: Box<dyn FnOnce() + Send>,
}

impl Link {
    /// Starts the link's tasks; initializes the server unless its result is known. Returns the
    /// link and whether it initialized the server now.
    pub async fn open(opening: Opening) -> Result<(Arc<Link>, bool), String> {
        let Opening {
            attachment,
            generation,
            known_init,
            client_init,
            on_close,
        } = opening;
        let Attachment { mut stdin, stdout } = attachment;
        let (writer, mut lines) = mpsc::unbounded_channel::<Vec<u8>>();
        let closed = CancellationToken::new();
        tokio::spawn({
            let closed = closed.clone();
            async move {
                while let Some(mut line) = lines.recv().await {
                    line.push(b'\n');
                    if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                        break;
                    }
                }
                closed.cancel();
            }
        });
        let fresh = known_init.is_none();
        let mut reader = BufReader::new(stdout);
        let init = match known_init {
            Some(init) => init,
            None => {
                let init = tokio::time::timeout(
                    INITIALIZE_TIMEOUT,
                    initialize(&writer, &mut reader, client_init),
                )
                .await
                .map_err(|_| {
                    format!(
                        "the server did not answer initialize within {} s",
                        INITIALIZE_TIMEOUT.as_secs()
                    )
                })??;
                send(&writer, &wire::initialized_notification());
                init
            }
        };
        let (fanout, _) = broadcast::channel(FANOUT_BUFFER);
        let link = Arc::new(Link {
            generation,
            init,
            writer,
            tables: Mutex::new(Tables::default()),
            next_id: AtomicU64::new(1),
            fanout,
            closed,
        });
        tokio::spawn({
            let link = link.clone();
            async move {
                link.read(reader).await;
                link.closed.cancel();
                link.fail_all();
                on_close();
            }
        });
        Ok((link, fresh))
    }

    /// Sends a client request upstream; its messages arrive on `sink`. Returns the upstream id
    /// (for cancelling).
    pub fn request(&self, mut message: Value, sink: Sink, can_ask: bool) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let client_id = message.get("id").cloned().unwrap_or(Value::Null);
        message["id"] = json!(id);
        // The upstream token is the upstream id: unique on this link, like the id.
        let progress = wire::swap_progress_token(&mut message, json!(id));
        self.lock().pending.insert(
            id,
            Pending {
                client_id,
                progress,
                sink,
                can_ask,
            },
        );
        if !send(&self.writer, &message) {
            self.finish(id, None);
        }
        id
    }

    /// The client gave up on the request (it cancelled, or its stream closed): tell the server
    /// (`notifications/cancelled`) unless it already answered.
    pub fn cancel(&self, id: u64, reason: Option<Value>) {
        if self.lock().pending.remove(&id).is_some() {
            let mut params = json!({"requestId": id});
            if let Some(reason) = reason {
                params["reason"] = reason;
            }
            send(
                &self.writer,
                &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}),
            );
        }
    }

    /// A client's answer to a relayed server request: goes upstream with the server's id.
    /// False when no such request is waiting.
    pub fn answer(&self, mut message: Value) -> bool {
        let Some(key) = message.get("id").map(Value::to_string) else {
            return false;
        };
        let Some(relayed) = self.lock().relayed.remove(&key) else {
            return false;
        };
        message["id"] = relayed.upstream_id;
        send(&self.writer, &message)
    }

    /// A client notification that concerns the server as it is (not cancellations).
    pub fn notify(&self, message: &Value) {
        send(&self.writer, message);
    }

    /// Notifications for every session's GET stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.fanout.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends a request: its sink gets `response` (id restored), or an error when `None`.
    fn finish(&self, id: u64, response: Option<Value>) {
        let Some(pending) = self.lock().pending.remove(&id) else {
            return;
        };
        let response = match response {
            Some(mut response) => {
                response["id"] = pending.client_id;
                response
            }
            None => wire::error(
                pending.client_id,
                UPSTREAM_GONE,
                "the stdio server process ended before it answered; send the request again",
            ),
        };
        let _ = pending.sink.send(response);
    }

    fn fail_all(&self) {
        let ids: Vec<u64> = self.lock().pending.keys().copied().collect();
        for id in ids {
            self.finish(id, None);
        }
    }

    async fn read<R: tokio::io::AsyncRead + Unpin>(&self, mut reader: BufReader<R>) {
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_line(&mut reader, &mut line).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::warn!(generation = %self.generation, %err, "stdio link ends");
                    return;
                }
            }
            let Ok(message) = serde_json::from_slice::<Value>(&line) else {
                // Not JSON-RPC: some servers print banners on stdout. Skipped, not fatal.
                tracing::debug!(line = %String::from_utf8_lossy(&line), "stdio server wrote a non-JSON line");
                continue;
            };
            self.route(message);
        }
    }

    /// Routes one message from the server.
    fn route(&self, mut message: Value) {
        match wire::kind(&message) {
            Kind::Response { id } => {
                if let Some(id) = id.as_u64() {
                    self.finish(id, Some(message));
                }
            }
            Kind::Notification {
                method: "notifications/progress",
            } => {
                let Some(token) = message
                    .pointer("/params/progressToken")
                    .and_then(Value::as_u64)
                else {
                    return;
                };
                let tables = self.lock();
                if let Some(pending) = tables.pending.get(&token)
                    && let Some(client_token) = &pending.progress
                {
                    wire::swap_notified_token(&mut message, client_token.clone());
                    let _ = pending.sink.send(message);
                }
            }
            Kind::Notification {
                method: "notifications/cancelled",
            } => {
                // The server gave up on one of its own requests to a client: nothing waits for it
                // here that the client's answer would not meet as unknown.
            }
            Kind::Notification { .. } => {
                let _ = self.fanout.send(message);
            }
            Kind::Request { method, id } => {
                let method = method.to_string();
                let upstream_id = id.clone();
                self.relay(method, upstream_id, message);
            }
            Kind::Invalid => {}
        }
    }

    /// A server-to-client request goes to the client of the one request in flight, when that
    /// client can be asked; with none or several in flight it is refused (the gateway cannot
    /// tell whom the server means).
    fn relay(&self, method: String, upstream_id: Value, mut message: Value) {
        let mut tables = self.lock();
        let in_flight = tables.pending.len();
        let target = match tables.pending.values().next() {
            Some(pending) if in_flight == 1 && pending.can_ask => Some(pending.sink.clone()),
            _ => None,
        };
        let Some(sink) = target else {
            drop(tables);
            let why = if in_flight == 0 {
                "no client request is in flight".to_string()
            } else if in_flight == 1 {
                "the one client in flight is stateless (2026-07-28) and cannot be asked".to_string()
            } else {
                format!("{in_flight} client requests are in flight, so whom to ask is ambiguous")
            };
            send(
                &self.writer,
                &wire::error(
                    upstream_id,
                    -32603,
                    &format!(
                        "mcp-gateway shares this server among clients and cannot route {method}: {why}"
                    ),
                ),
            );
            return;
        };
        let gateway_id = json!(format!(
            "mcpgw-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        ));
        tables
            .relayed
            .insert(gateway_id.to_string(), Relayed { upstream_id });
        drop(tables);
        message["id"] = gateway_id;
        let _ = sink.send(message);
    }
}

/// Queues one message for stdin; false when the writer is gone.
fn send(writer: &mpsc::UnboundedSender<Vec<u8>>, message: &Value) -> bool {
    writer.send(message.to_string().into_bytes()).is_ok()
}

/// Reads one line (without its end) into `line`; false at the end of the stream.
async fn read_line<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(!line.is_empty());
        }
        let (taken, done) = match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => {
                line.extend_from_slice(&buffer[..end]);
                (end + 1, true)
            }
            None => {
                line.extend_from_slice(buffer);
                (buffer.len(), false)
            }
        };
        reader.consume(taken);
        if line.len() > MAX_LINE {
            return Err(std::io::Error::other(format!(
                "the server wrote a line over {MAX_LINE} bytes"
            )));
        }
        if done {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(true);
        }
    }
}

/// The gateway's `initialize` and the server's answer (lines before it that are not its answer
/// are skipped: a server may log or notify first).
async fn initialize<R: tokio::io::AsyncRead + Unpin>(
    writer: &mpsc::UnboundedSender<Vec<u8>>,
    reader: &mut BufReader<R>,
    params: Option<Value>,
) -> Result<Value, String> {
    let mut request = wire::initialize_request(0);
    if let Some(params) = params {
        request["params"] = params;
    }
    if !send(writer, &request) {
        return Err("the server's stdin is closed".into());
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(reader, &mut line).await {
            Ok(true) => {}
            Ok(false) => return Err("the server exited before it answered initialize".into()),
            Err(err) => return Err(format!("cannot read the server's stdout: {err}")),
        }
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if message.get("id") == Some(&json!(0)) && message.get("method").is_none() {
            if let Some(result) = message.get("result") {
                return Ok(result.clone());
            }
            return Err(format!(
                "the server refused initialize: {}",
                message.get("error").unwrap_or(&Value::Null)
            ));
        }
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
