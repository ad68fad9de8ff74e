//! Captured stdout and stderr of pod processes, by pod uid, for `pods/{name}/log`.
//!
//! One buffer per pod across container restarts (the API's `previous` is not modelled), at most
//! [`MAX_LINES`] lines, stdout and stderr interleaved in arrival order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

const MAX_LINES: usize = 5_000;

#[derive(Clone, Default)]
pub struct LogBook {
    lines: Arc<Mutex<HashMap<String, VecDeque<String>>>>,
}

impl LogBook {
    /// Starts copying the child's output into the pod's buffer.
    pub fn capture(&self, uid: &str, child: &mut Child) {
        if let Some(stdout) = child.stdout.take() {
            self.copy(uid, stdout);
        }
        if let Some(stderr) = child.stderr.take() {
            self.copy(uid, stderr);
        }
    }

    fn copy(&self, uid: &str, stream: impl AsyncRead + Unpin + Send + 'static) {
        let book = self.clone();
        let uid = uid.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut all = book.lines.lock().unwrap_or_else(|p| p.into_inner());
                let buffer = all.entry(uid.clone()).or_default();
                buffer.push_back(line);
                while buffer.len() > MAX_LINES {
                    buffer.pop_front();
                }
            }
        });
    }

    /// The last `tail` lines (all with `None`), newline-terminated.
    pub fn tail(&self, uid: &str, tail: Option<usize>) -> String {
        let all = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let Some(buffer) = all.get(uid) else {
            return String::new();
        };
        let skip = tail.map_or(0, |t| buffer.len().saturating_sub(t));
        buffer
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
