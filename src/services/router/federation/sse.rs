//! The JSON-RPC messages of an upstream answer, as they arrive: one JSON body, or the `data` of
//! each event of a `text/event-stream` (read incrementally, so progress is relayed as sent).

use axum::body::Body;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use serde_json::Value;

/// The most bytes one message (or a JSON body) may have.
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// Why no further message can be read.
#[derive(Debug)]
pub enum ReadError {
    /// The stream broke (the upstream went away mid-answer).
    Broken(String),
    /// A message past [`MAX_MESSAGE_BYTES`].
    TooLarge,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Broken(reason) => write!(f, "the answer broke off: {reason}"),
            ReadError::TooLarge => write!(f, "a message of more than {MAX_MESSAGE_BYTES} bytes"),
        }
    }
}

/// Reads messages from an answer body.
pub struct Messages {
    body: Body,
    sse: bool,
    buffer: BytesMut,
    /// `data` lines of the event being read.
    data: String,
    done: bool,
}

impl Messages {
    pub fn new(body: Body, content_type: &str) -> Self {
        Self {
            body,
            sse: content_type
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream"),
            buffer: BytesMut::new(),
            data: String::new(),
            done: false,
        }
    }

    /// The next message; `Ok(None)` at the end of the answer. Events without `data` (priming,
    /// keep-alive) and data that is not JSON are skipped.
    pub async fn next(&mut self) -> Result<Option<Value>, ReadError> {
        if !self.sse {
            return self.whole().await;
        }
        loop {
            while let Some(line) = self.line() {
                if line.is_empty() {
                    let data = std::mem::take(&mut self.data);
                    if let Ok(message) = serde_json::from_str::<Value>(&data) {
                        return Ok(Some(message));
                    }
                    continue;
                }
                if let Some(value) = line.strip_prefix("data:") {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value.strip_prefix(' ').unwrap_or(value));
                    if self.data.len() > MAX_MESSAGE_BYTES {
                        return Err(ReadError::TooLarge);
                    }
                }
            }
            if self.done {
                // An event cut off without its blank line still counts if it is whole JSON.
                let data = std::mem::take(&mut self.data);
                return Ok(serde_json::from_str(&data).ok());
            }
            if self.buffer.len() > MAX_MESSAGE_BYTES {
                return Err(ReadError::TooLarge);
            }
            self.fill().await?;
        }
    }

    /// One complete line from the buffer (without its `\n` or `\r\n`).
    fn line(&mut self) -> Option<String> {
        let end = self.buffer.iter().position(|&b| b == b'\n')?;
        let line = self.buffer.split_to(end + 1);
        let line = &line[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some(String::from_utf8_lossy(line).into_owned())
    }

    async fn fill(&mut self) -> Result<(), ReadError> {
        loop {
            match self.body.frame().await {
                None => {
                    self.done = true;
                    if !self.buffer.is_empty() && !self.buffer.ends_with(b"\n") {
                        self.buffer.extend_from_slice(b"\n");
                    }
                    return Ok(());
                }
                Some(Err(err)) => return Err(ReadError::Broken(err.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.buffer.extend_from_slice(chunk);
                            let n = chunk.len();
                            data.advance(n);
                        }
                        return Ok(());
                    }
                }
            }
        }
    }

    /// A plain JSON answer: the whole body, once.
    async fn whole(&mut self) -> Result<Option<Value>, ReadError> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        let body = std::mem::replace(&mut self.body, Body::empty());
        let bytes = http_body_util::Limited::new(body, MAX_MESSAGE_BYTES)
            .collect()
            .await
            .map_err(|err| match err.is::<http_body_util::LengthLimitError>() {
                true => ReadError::TooLarge,
                false => ReadError::Broken(err.to_string()),
            })?
            .to_bytes();
        Ok(serde_json::from_slice(&bytes).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(content_type: &str, chunks: &[&str]) -> Vec<Value> {
        let stream = futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c.to_string())))
                .collect::<Vec<_>>(),
        );
        let mut messages = Messages::new(Body::from_stream(stream), content_type);
        let mut out = Vec::new();
        while let Some(message) = messages.next().await.expect("reads") {
            out.push(message);
        }
        out
    }

    #[tokio::test]
    async fn events_split_anywhere_are_read_whole() {
        let got = all(
            "text/event-stream",
            &[
                "id: 0\nretry: 3000\ndata:\n\n",
                "event: message\nda",
                "ta: {\"a\":1}\r\n\r\ndata: {\"b\"",
                ":2}\n\n: keep-alive\n\ndata: {\"c\":3}",
            ],
        )
        .await;
        assert_eq!(
            got,
            vec![
                serde_json::json!({"a":1}),
                serde_json::json!({"b":2}),
                serde_json::json!({"c":3})
            ]
        );
    }

    #[tokio::test]
    async fn a_json_body_is_one_message() {
        let got = all("application/json", &["{\"jsonrpc\":", "\"2.0\"}"]).await;
        assert_eq!(got, vec![serde_json::json!({"jsonrpc": "2.0"})]);
    }
}
