//! Upstream connections of the wire path ([`crate::services::proxy`]'s byte-level HTTP/1.1 path):
//! a TCP stream and its read buffer, pooled per upstream address beside hyper's connections,
//! under the same address policy, limits and sweep.

use std::pin::Pin;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::{ConnectError, MAX_IDLE_AGE, MAX_IDLE_PER_UPSTREAM, Upstreams};

/// A response head longer than this is refused (hyper's default limit is of the same order).
pub const MAX_HEAD: usize = 64 * 1024;

/// One upstream connection of the wire path, with what was read from it and not yet used.
pub struct RawConn {
    pub stream: TcpStream,
    pub buf: BytesMut,
}

pub(super) struct RawIdle {
    conn: RawConn,
    since: Instant,
}

impl RawIdle {
    /// Young, nothing unread, and not closed by the upstream meanwhile (the reactor has seen a
    /// hang-up even on a socket nobody polls; a read that would block proves it open).
    pub(super) fn usable(&mut self) -> bool {
        let mut probe = [0u8; 1];
        self.since.elapsed() < MAX_IDLE_AGE
            && self.conn.buf.is_empty()
            && matches!(self.conn.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// Why an exchange on the wire path got no response head.
#[derive(Debug)]
pub enum RawError {
    /// No connection could be made: the request never left.
    Connect(String),
    /// No response head within the time given.
    Timeout,
    /// The connection was made but the exchange failed.
    Exchange(String),
}

impl Upstreams {
    fn raw_checkout(&self, key: &str) -> Option<RawConn> {
        loop {
            let mut idle = {
                let mut map = self.raw_pool().lock().unwrap_or_else(|e| e.into_inner());
                map.get_mut(key)?.pop()?
            };
            if idle.usable() {
                return Some(idle.conn);
            }
        }
    }

    /// Returns a connection whose last response ended exactly (nothing unread) to the pool.
    pub fn raw_checkin(&self, key: &str, mut conn: RawConn) {
        conn.buf.clear();
        let mut map = self.raw_pool().lock().unwrap_or_else(|e| e.into_inner());
        let list = match map.get_mut(key) {
            Some(list) => list,
            None => map.entry(key.to_string()).or_default(),
        };
        if list.len() >= MAX_IDLE_PER_UPSTREAM {
            list.remove(0);
        }
        list.push(RawIdle {
            conn,
            since: Instant::now(),
        });
    }

    async fn raw_connect(
        &self,
        authority: &http::uri::Authority,
        deadline: &mut Pin<&mut Sleep>,
    ) -> Result<RawConn, RawError> {
        let stream = self
            .dial(authority, deadline.as_mut())
            .await
            .map_err(|err| match err {
                ConnectError::Timeout => RawError::Timeout,
                ConnectError::Failed(reason) => RawError::Connect(reason),
            })?;
        Ok(RawConn {
            stream,
            buf: BytesMut::with_capacity(16 * 1024),
        })
    }

    /// Writes `request` (a whole request, head and body) to `authority` and reads until the end
    /// of a response head: the connection, its buffer starting with that head, and the head's
    /// length. A pooled connection that fails before any answer byte (the upstream closed it as
    /// it was taken) is replaced by a new one, once.
    pub async fn raw_exchange(
        &self,
        authority: &http::uri::Authority,
        request: &[u8],
        deadline: &mut Pin<&mut Sleep>,
    ) -> Result<(RawConn, usize), RawError> {
        let mut pooled = self.raw_checkout(authority.as_str());
        loop {
            let was_pooled = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(conn) => conn,
                None => self.raw_connect(authority, deadline).await?,
            };
            let written = tokio::select! {
                biased;
                written = conn.stream.write_all(request) => written,
                () = deadline.as_mut() => return Err(RawError::Timeout),
            };
            let head = match written {
                Ok(()) => read_head(&mut conn, deadline).await,
                Err(err) => Err(Unanswered::Silent(err.to_string())),
            };
            match head {
                Ok(len) => return Ok((conn, len)),
                Err(Unanswered::Silent(_)) if was_pooled => continue,
                Err(Unanswered::Silent(reason) | Unanswered::Failed(reason)) => {
                    return Err(RawError::Exchange(reason));
                }
                Err(Unanswered::Timeout) => return Err(RawError::Timeout),
            }
        }
    }
}

impl Upstreams {
    /// Reads the next response head on `conn` (after an interim one): its length.
    pub async fn raw_next_head(
        &self,
        conn: &mut RawConn,
        deadline: &mut Pin<&mut Sleep>,
    ) -> Result<usize, RawError> {
        read_head(conn, deadline).await.map_err(|err| match err {
            Unanswered::Silent(reason) | Unanswered::Failed(reason) => RawError::Exchange(reason),
            Unanswered::Timeout => RawError::Timeout,
        })
    }
}

enum Unanswered {
    /// Closed or reset before a single byte of answer.
    Silent(String),
    Failed(String),
    Timeout,
}

/// Reads until `conn.buf` holds a whole response head; its length.
async fn read_head(
    conn: &mut RawConn,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<usize, Unanswered> {
    let mut searched = 0;
    loop {
        if let Some(end) = head_end(&conn.buf, searched) {
            return Ok(end);
        }
        if conn.buf.len() >= 5 && !conn.buf.starts_with(b"HTTP/") {
            // Not an HTTP answer at all: no need to wait for the rest of it.
            return Err(Unanswered::Failed(
                "the upstream's answer is not HTTP/1.1".into(),
            ));
        }
        if conn.buf.len() > MAX_HEAD {
            return Err(Unanswered::Failed(format!(
                "the response head is longer than {MAX_HEAD} bytes"
            )));
        }
        searched = conn.buf.len().saturating_sub(3);
        if conn.buf.capacity() - conn.buf.len() < 4096 {
            conn.buf.reserve(16 * 1024);
        }
        let read = tokio::select! {
            biased;
            read = conn.stream.read_buf(&mut conn.buf) => read,
            () = deadline.as_mut() => return Err(Unanswered::Timeout),
        };
        match read {
            Ok(0) if conn.buf.is_empty() => {
                return Err(Unanswered::Silent(
                    "the upstream closed the connection".into(),
                ));
            }
            Ok(0) => {
                return Err(Unanswered::Failed(
                    "the upstream closed the connection inside its response head".into(),
                ));
            }
            Ok(_) => {}
            Err(err) if conn.buf.is_empty() => return Err(Unanswered::Silent(err.to_string())),
            Err(err) => return Err(Unanswered::Failed(err.to_string())),
        }
    }
}

/// The length of the head at the start of `buf` (through its empty line, CRLF or bare LF),
/// looking from `from` on.
pub fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    static EMPTY_LINE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    let rest = buf.get(from..)?;
    if let Some(at) = EMPTY_LINE.find(rest) {
        return Some(from + at + 4);
    }
    // Bare LF line ends (tolerated, as hyper does), rare: looked for only when CRLF found nothing.
    let mut at = from;
    while let Some(found) = memchr::memchr(b'\n', buf.get(at..)?) {
        let lf = at + found;
        match buf.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => at = lf + 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn heads_end_at_their_empty_line() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
        assert_eq!(head_end(head, 0), Some(head.len() - 4));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\nA: b\n\nbody", 0), Some(22));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0), None);
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r", 0), None);
        // Searching on from where the last read ended still finds a terminator split by it.
        let split = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(head_end(split, split.len() - 4), Some(split.len()));
    }
}
