//! One-line, flushed stdout logging, so `docker logs` / `kubectl logs` show each event at once.

use std::io::Write as _;

/// Writes `message` and a newline to stdout and flushes; a closed stdout is ignored on purpose
/// (logging must never take the server down).
pub fn line(message: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{message}");
    let _ = out.flush();
}
