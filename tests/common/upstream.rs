//! Upstream MCP servers for tests, run as local processes: the sample rmcp server and a Python
//! FastMCP server, plus the official Python SDK clients (both majors).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process killed on drop.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A sample-server binary built next to the gateway (`cargo build -p mcp-example -p
/// tool-example`; scripts/test.sh does it first).
pub fn sample_binary(name: &str) -> PathBuf {
    let dir = Path::new(super::BIN).parent().expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh, or `cargo build -p {name}` before `cargo test`",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the rmcp sample server on a loopback port; returns it and its MCP URL.
pub fn mcp_example(env: &[(&str, &str)]) -> (Process, String) {
    let port = free_port();
    let child = Command::new(sample_binary("mcp-example"))
        .env("PORT", port.to_string())
        .env("BIND", "127.0.0.1")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mcp-example");
    let process = Process(child);
    wait_listening(port, "mcp-example");
    (process, format!("http://127.0.0.1:{port}/mcp"))
}

/// Starts the sample weather tool server on a loopback port; returns it and its `/score` URL.
pub fn tool_example() -> (Process, String) {
    let port = free_port();
    let child = Command::new(sample_binary("tool-example"))
        .env("PORT", port.to_string())
        .env("BIND", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tool-example");
    let process = Process(child);
    wait_listening(port, "tool-example");
    (process, format!("http://127.0.0.1:{port}/score"))
}

/// The Python of the venv holding the official SDK of this major version, or `None` (the test
/// then skips) unless MCP_GATEWAY_REQUIRE_INTEROP=1, where a missing venv fails the test.
pub fn python(major: u8) -> Option<PathBuf> {
    let path = repo_root().join(format!(".venv-mcp{major}/bin/python"));
    if path.exists() {
        return Some(path);
    }
    let reason = format!(
        "{} is missing: scripts/test.sh creates it (python3 -m venv .venv-mcp{major} && pip install 'mcp{}')",
        path.display(),
        if major == 1 { "<2" } else { ">=2.3,<3" }
    );
    if std::env::var("MCP_GATEWAY_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{reason}");
    }
    eprintln!("skipping: {reason}");
    None
}

/// Starts the FastMCP (mcp 1.x) upstream; returns it and its MCP URL.
pub fn fastmcp() -> Option<(Process, String)> {
    let python = python(1)?;
    let port = free_port();
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/interop/fastmcp_server.py"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fastmcp");
    let stdout = child.stdout.take().expect("stdout");
    let process = Process(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    assert_eq!(line.trim(), "ready", "fastmcp did not start");
    Some((process, format!("http://127.0.0.1:{port}/mcp")))
}

/// Runs the Python SDK client of `major` against `url` with `--mode`, making `calls`; returns its
/// JSON summary (`protocol`, `tools`, `results`). Panics with the client's stderr on failure.
pub async fn python_client(
    major: u8,
    url: &str,
    mode: &str,
    calls: &[(&str, Value)],
) -> Option<Value> {
    let python = python(major)?;
    let mut command = tokio::process::Command::new(python);
    command
        .arg(repo_root().join("tests/interop/client.py"))
        .arg(url)
        .args(["--mode", mode]);
    for (tool, args) in calls {
        command.args(["--call", tool, &args.to_string()]);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("python client finished in time")
        .expect("run python client");
    assert!(
        output.status.success(),
        "python {major}.x client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("client JSON"))
}
