//! The answer's body: from the upstream to the client as it arrives, its end found from its
//! framing, the upstream connection back in the pool when it ends exactly.

use std::pin::Pin;

use bytes::Buf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;
// The idle clock is the runtime's, as on the general path.
use tokio::time::Instant as Clock;

use super::framing::{self, Chunks, Framing, LAST_CHUNK, push_chunk};
use super::{Answer, Relayed};
use crate::services::proxy::Proxy;

impl Proxy {
    /// Writes the client's head and the body as it arrives, until the body ends (the upstream
    /// connection goes back to the pool), the stream is idle for `proxy.idle_timeout_secs` (it
    /// ends cleanly where the framing allows), or either side goes away.
    pub(super) async fn pass_on(
        &self,
        answer: Answer,
        client: &mut TcpStream,
        close: bool,
        mut deadline: Pin<&mut Sleep>,
    ) -> std::io::Result<Relayed> {
        let Answer {
            status: _,
            mut conn,
            head_len,
            mut out,
            framing,
            reusable,
            authority,
            upstreams,
            open,
        } = answer;
        conn.buf.advance(head_len);
        let kept = if close {
            Relayed::Close
        } else {
            Relayed::KeepAlive
        };
        let mut body = BodyState::new(framing);
        let mut last_data = Clock::now();
        let mut watching = true;
        let (mut from_client, mut to_client) = client.split();
        loop {
            let Ok(taken) = body.take(&conn.buf) else {
                tracing::warn!(upstream = %authority, "the upstream's chunked framing is malformed");
                to_client.write_all(&out).await?;
                return Ok(Relayed::Close);
            };
            match body {
                BodyState::Close => push_chunk(&mut out, &conn.buf[..taken]),
                _ => out.extend_from_slice(&conn.buf[..taken]),
            }
            let surplus = conn.buf.len() > taken;
            conn.buf.advance(taken);
            if body.done() {
                to_client.write_all(&out).await?;
                drop(open);
                if reusable && !surplus {
                    upstreams.raw_checkin(authority.as_str(), conn);
                }
                return Ok(kept);
            }
            if !out.is_empty() {
                to_client.write_all(&out).await?;
                out.clear();
            }
            if conn.buf.capacity() - conn.buf.len() < 4096 {
                conn.buf.reserve(16 * 1024);
            }
            let mut probe = [0u8; 1];
            tokio::select! {
                biased;
                read = conn.stream.read_buf(&mut conn.buf) => match read {
                    Ok(0) if matches!(body, BodyState::Close) => {
                        to_client.write_all(LAST_CHUNK).await?;
                        return Ok(kept);
                    }
                    // The upstream went away inside its body: the client's answer cannot end
                    // cleanly either.
                    Ok(0) | Err(_) => return Ok(Relayed::Close),
                    Ok(_) => last_data = Clock::now(),
                },
                () = deadline.as_mut() => {
                    if last_data.elapsed() < self.idle {
                        deadline.as_mut().reset(last_data + self.idle);
                        continue;
                    }
                    if !body.at_boundary() {
                        return Ok(Relayed::Close);
                    }
                    to_client.write_all(LAST_CHUNK).await?;
                    return Ok(kept);
                }
                peeked = from_client.peek(&mut probe), if watching => match peeked {
                    // The client went away: dropping the upstream connection tells the upstream.
                    Ok(0) | Err(_) => return Ok(Relayed::Close),
                    // A pipelined request: it waits its turn.
                    Ok(_) => watching = false,
                },
            }
        }
    }
}

/// Where the client's body is within the upstream's.
pub(super) enum BodyState {
    /// Bytes still to come.
    Length(u64),
    Chunked(Chunks),
    /// Until the upstream closes; each piece goes to the client as a chunk.
    Close,
    Done,
}

impl BodyState {
    pub(super) fn new(framing: Framing) -> Self {
        match framing {
            Framing::None | Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(Chunks::default()),
            Framing::Close => BodyState::Close,
        }
    }

    /// How many of `bytes` belong to the body.
    pub(super) fn take(&mut self, bytes: &[u8]) -> Result<usize, framing::BadFraming> {
        match self {
            BodyState::Length(left) => {
                let taken = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *left -= taken as u64;
                if *left == 0 {
                    *self = BodyState::Done;
                }
                Ok(taken)
            }
            BodyState::Chunked(chunks) => {
                let taken = chunks.scan(bytes)?;
                if chunks.done() {
                    *self = BodyState::Done;
                }
                Ok(taken)
            }
            BodyState::Close => Ok(bytes.len()),
            BodyState::Done => Ok(0),
        }
    }

    pub(super) fn done(&self) -> bool {
        matches!(self, BodyState::Done)
    }

    /// The client's body may end here cleanly (a last chunk written now).
    pub(super) fn at_boundary(&self) -> bool {
        match self {
            BodyState::Chunked(chunks) => chunks.at_boundary(),
            BodyState::Close => true,
            BodyState::Length(_) | BodyState::Done => false,
        }
    }
}
