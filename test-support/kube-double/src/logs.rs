//! Captured stdout and stderr of pod processes, by pod uid, for `pods/{name}/log`.
//!
//! One buffer per pod across container restarts (the API's `previous` is not modelled), at most
//! [`MAX_LINES`] lines, stdout and stderr interleaved in arrival order, each line remembering
//! its stream (the log option `stream=Stdout|Stderr|All`, as with the `PodLogsQuerySplitStreams`
//! feature gate on). Like a real container runtime, stdout is logged whether or not someone is
//! attached: a stdio server's protocol traffic is in `stream=All`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

const MAX_LINES: usize = 5_000;

/// Which of a container's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A pod's lines, oldest first, each with its stream.
type Lines = VecDeque<(Stream, String)>;

#[derive(Clone, Default)]
pub struct LogBook {
    lines: Arc<Mutex<HashMap<String, Lines>>>,
}

impl LogBook {
    /// Starts copying the child's stdout and stderr (those not taken yet) into the pod's buffer.
    pub fn capture(&self, uid: &str, child: &mut Child) {
        if let Some(stdout) = child.stdout.take() {
            self.copy(uid, Stream::Stdout, stdout);
        }
        if let Some(stderr) = child.stderr.take() {
            self.copy(uid, Stream::Stderr, stderr);
        }
    }

    fn copy(&self, uid: &str, stream: Stream, output: impl AsyncRead + Unpin + Send + 'static) {
        let book = self.clone();
        let uid = uid.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(output).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                book.push(&uid, stream, line);
            }
        });
    }

    /// Appends one line (without its newline).
    pub fn push(&self, uid: &str, stream: Stream, line: String) {
        let mut all = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let buffer = all.entry(uid.to_string()).or_default();
        buffer.push_back((stream, line));
        while buffer.len() > MAX_LINES {
            buffer.pop_front();
        }
    }

    /// The last `tail` lines (all with `None`) of `only` that stream (both with `None`),
    /// newline-terminated.
    pub fn tail(&self, uid: &str, tail: Option<usize>, only: Option<Stream>) -> String {
        let all = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let Some(buffer) = all.get(uid) else {
            return String::new();
        };
        let lines: Vec<&String> = buffer
            .iter()
            .filter(|(stream, _)| only.is_none_or(|only| *stream == only))
            .map(|(_, line)| line)
            .collect();
        let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
        lines
            .iter()
            .skip(skip)
            .fold(String::new(), |mut out, line| {
                out.push_str(line);
                out.push('\n');
                out
            })
    }

    pub fn forget(&self, uid: &str) {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}
