//! `pods/{name}/attach`: the stdin and stdout of a running pod process over a WebSocket, with
//! the API server's channel protocol, so the client under test is kube-rs's own `Api::attach`.
//!
//! Protocol, as the API server speaks it: a `GET` upgraded to a WebSocket with subprotocol
//! `v5.channel.k8s.io` (preferred) or `v4.channel.k8s.io`; every frame is binary, its first byte
//! the channel: 0 stdin (client to server), 1 stdout, 2 stderr, 3 error/status, 255 close (v5:
//! `[255, 0]` says the client's stdin ended). On open, the server sends one empty frame per
//! stream it serves. The double serves stdin and stdout; `stderr=true` and `tty=true` are
//! refused with words (the gateway asks for neither).
//!
//! Like a container with `stdin: true, stdinOnce: false`: the process's stdin stays open while
//! nobody is attached and after an attachment leaves; several attachments over time (or at once)
//! reach the same process; each attached client receives everything the process writes to
//! stdout from then on (a real runtime also copies it into the log, as here); when the process
//! ends the streams close (the double sends no exit Status on channel 3).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::api::ApiState;
use crate::logs::{LogBook, Stream};
use crate::store::{ApiError, Kind};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const CLOSE: u8 = 255;
const V5: &str = "v5.channel.k8s.io";
const V4: &str = "v4.channel.k8s.io";
/// Chunks of stdout waiting for one slow attached client before the process's writes wait.
const CLIENT_BUFFER: usize = 64;

/// The stdio of every running process whose container has `stdin: true`, by pod uid.
#[derive(Clone, Default)]
pub struct Terminals {
    hubs: Arc<Mutex<HashMap<String, Arc<Hub>>>>,
}

/// One process's stdin (shared by its attachments) and the clients its stdout goes to.
pub struct Hub {
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    clients: Mutex<Vec<mpsc::Sender<Bytes>>>,
}

impl Hub {
    fn subscribe(&self) -> mpsc::Receiver<Bytes> {
        let (sender, receiver) = mpsc::channel(CLIENT_BUFFER);
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sender);
        receiver
    }

    async fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut stdin = self.stdin.lock().await;
        let Some(stdin) = stdin.as_mut() else {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        };
        stdin.write_all(bytes).await?;
        stdin.flush().await
    }

    /// Ends every attachment (the process is gone).
    fn close(&self) {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Terminals {
    /// Takes the child's stdin and stdout: stdout goes to the attached clients and the log,
    /// stderr to the log only.
    pub fn start(&self, uid: &str, child: &mut Child, logs: &LogBook) {
        let hub = Arc::new(Hub {
            stdin: tokio::sync::Mutex::new(child.stdin.take()),
            clients: Mutex::new(Vec::new()),
        });
        if let Some(mut stdout) = child.stdout.take() {
            let hub = hub.clone();
            let logs = logs.clone();
            let uid = uid.to_string();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let mut line = Vec::new();
                while let Ok(read) = stdout.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    let chunk = Bytes::copy_from_slice(&buffer[..read]);
                    for byte in &chunk {
                        if *byte == b'\n' {
                            logs.push(&uid, Stream::Stdout, lossy(&line));
                            line.clear();
                        } else {
                            line.push(*byte);
                        }
                    }
                    let clients: Vec<mpsc::Sender<Bytes>> = {
                        let mut clients = hub.clients.lock().unwrap_or_else(|p| p.into_inner());
                        clients.retain(|client| !client.is_closed());
                        clients.clone()
                    };
                    for client in clients {
                        let _ = client.send(chunk.clone()).await;
                    }
                }
                if !line.is_empty() {
                    logs.push(&uid, Stream::Stdout, lossy(&line));
                }
                hub.close();
            });
        }
        logs.capture(uid, child);
        let old = self
            .hubs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_string(), hub);
        if let Some(old) = old {
            old.close();
        }
    }

    /// The process of pod `uid` ended or was killed: its attachments end, its stdin closes.
    pub fn stop(&self, uid: &str) {
        let hub = self
            .hubs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
        if let Some(hub) = hub {
            hub.close();
        }
    }

    fn get(&self, uid: &str) -> Option<Arc<Hub>> {
        self.hubs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uid)
            .cloned()
    }
}

fn lossy(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

type Params = Query<HashMap<String, String>>;

/// `GET /api/v1/namespaces/{ns}/pods/{name}/attach`, upgraded to a WebSocket.
pub async fn pod_attach(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Params,
    mut request: Request,
) -> Response {
    let flag = |key: &str| {
        query
            .get(key)
            .is_some_and(|v| matches!(v.as_str(), "true" | "1"))
    };
    let (stdin, stdout) = (flag("stdin"), flag("stdout"));
    for unsupported in ["stderr", "tty"] {
        if flag(unsupported) {
            return ApiError::bad_request(format!(
                "{unsupported}=true is not supported by the kube-double's attach (it serves stdin \
                 and stdout)"
            ))
            .into_response();
        }
    }
    if !stdin && !stdout {
        return ApiError::bad_request("you must specify at least one of stdin, stdout or stderr")
            .into_response();
    }
    let Some(pod) = state.store.get(Kind::Pod, &ns, &name) else {
        return ApiError::not_found(Kind::Pod, &name).into_response();
    };
    let container = &pod["spec"]["containers"][0];
    let container_name = container["name"].as_str().unwrap_or_default();
    if let Some(asked) = query.get("container")
        && asked != container_name
    {
        return ApiError::bad_request(format!("container {asked} is not valid for pod {name}"))
            .into_response();
    }
    if stdin && container["stdin"] != true {
        return ApiError::bad_request(format!(
            "container {container_name} in pod {name} was not created with stdin: true; there \
             is no stdin to attach to"
        ))
        .into_response();
    }
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let Some(hub) = state.terminals.get(uid) else {
        return ApiError::bad_request(format!(
            "container {container_name} in pod {name} is not running (or has no stdin: true)"
        ))
        .into_response();
    };
    let (accept, protocol) = match handshake(request.headers()) {
        Ok(answer) => answer,
        Err(message) => return ApiError::bad_request(message).into_response(),
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        session(socket, hub, stdin, stdout).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .header(header::SEC_WEBSOCKET_PROTOCOL, protocol)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The WebSocket upgrade the client asked for: (`Sec-WebSocket-Accept`, subprotocol).
fn handshake(headers: &HeaderMap) -> Result<(String, &'static str), String> {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    if text(header::UPGRADE) != "websocket"
        || !text(header::CONNECTION)
            .split(',')
            .any(|token| token.trim() == "upgrade")
    {
        return Err("attach is served over a WebSocket only (Upgrade: websocket)".into());
    }
    if text(header::SEC_WEBSOCKET_VERSION) != "13" {
        return Err("Sec-WebSocket-Version must be 13".into());
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("Sec-WebSocket-Key is missing")?;
    let offered = text(header::SEC_WEBSOCKET_PROTOCOL);
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    let protocol = [V5, V4]
        .into_iter()
        .find(|p| offered.contains(p))
        .ok_or_else(|| {
            format!(
                "the kube-double speaks the channel subprotocols {V5} and {V4}, not {offered:?}"
            )
        })?;
    Ok((derive_accept_key(key.as_bytes()), protocol))
}

/// One attached client until it leaves or the process ends.
async fn session<S>(socket: WebSocketStream<S>, hub: Arc<Hub>, stdin: bool, stdout: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut incoming) = socket.split();
    // The API server opens each stream with an empty frame on its channel.
    for (channel, open) in [(STDIN, stdin), (STDOUT, stdout)] {
        if open && sink.send(Message::binary(vec![channel])).await.is_err() {
            return;
        }
    }
    let mut output = stdout.then(|| hub.subscribe());
    let mut reading_stdin = stdin;
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(frame))) => match frame.first() {
                    // The process's stdin is gone: so is this attachment.
                    Some(&STDIN) if reading_stdin && hub.write(&frame[1..]).await.is_err() => {
                        break;
                    }
                    // v5: this client's stdin ended. The container's stays open (stdinOnce:
                    // false), for the next attachment.
                    Some(&CLOSE) if frame.get(1) == Some(&STDIN) => reading_stdin = false,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            chunk = next_chunk(&mut output) => match chunk {
                Some(chunk) => {
                    let mut frame = Vec::with_capacity(chunk.len() + 1);
                    frame.push(STDOUT);
                    frame.extend_from_slice(&chunk);
                    if sink.send(Message::binary(frame)).await.is_err() {
                        break;
                    }
                }
                // The process ended.
                None => break,
            },
        }
    }
    let _ = sink.close().await;
}

async fn next_chunk(output: &mut Option<mpsc::Receiver<Bytes>>) -> Option<Bytes> {
    match output {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(protocols: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        // RFC 6455's own example key and accept value.
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocols).expect("a header value"),
        );
        headers
    }

    #[test]
    fn the_handshake_prefers_v5_takes_v4_and_refuses_the_rest() {
        let (accept, protocol) =
            handshake(&headers("v5.channel.k8s.io, v4.channel.k8s.io")).expect("v5");
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(protocol, V5);
        assert_eq!(handshake(&headers("v4.channel.k8s.io")).expect("v4").1, V4);
        let refused = handshake(&headers("channel.k8s.io")).expect_err("v1 only");
        assert!(refused.contains("v5.channel.k8s.io"), "{refused}");
        let mut plain = headers(V5);
        plain.remove(header::UPGRADE);
        assert!(handshake(&plain).is_err());
    }
}
