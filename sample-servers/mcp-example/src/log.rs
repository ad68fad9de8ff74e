//! One-line, flushed logging, so `docker logs` / `kubectl logs` show each event at once: on
//! stdout over HTTP, on stderr in stdio mode (stdout then carries the protocol).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Sends every later line to stderr (stdio mode).
pub fn to_stderr() {
    TO_STDERR.store(true, Ordering::Relaxed);
}

/// Writes `message` and a newline and flushes; a closed stream is ignored on purpose (logging
/// must never take the server down).
pub fn line(message: &str) {
    if TO_STDERR.load(Ordering::Relaxed) {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{message}");
        let _ = out.flush();
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{message}");
        let _ = out.flush();
    }
}
