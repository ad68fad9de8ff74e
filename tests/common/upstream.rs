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

impl From<Child> for Process {
    fn from(child: Child) -> Self {
        Process(child)
    }
}

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

/// The pin of the Python SDK of `major` (`mcp==1.30.*`), from tests/interop/sdk-pins.txt: the
/// one list scripts/test.sh builds the venvs from.
pub fn sdk_pin(major: u8) -> String {
    let path = repo_root().join("tests/interop/sdk-pins.txt");
    let text = std::fs::read_to_string(&path).expect("tests/interop/sdk-pins.txt");
    let venv = format!(".venv-mcp{major}");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (dir, requirement) = line.split_once(' ')?;
            (dir == venv).then(|| requirement.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{} has no line for {venv}", path.display()))
}

/// Whether `version` satisfies `pin` (`mcp==X.Y.*` or `mcp==X.Y.Z`, as pip reads them).
pub fn satisfies(version: &str, pin: &str) -> bool {
    let wanted = pin.split_once("==").map_or(pin, |(_, v)| v);
    match wanted.strip_suffix('*') {
        Some(prefix) => version.starts_with(prefix),
        None => version == wanted,
    }
}

/// Panics unless `reported` (what a Python client or server of `major` says it runs) is inside
/// that major's pin.
pub fn assert_sdk_version(major: u8, reported: &Value, who: &str) {
    let pin = sdk_pin(major);
    let version = reported
        .as_str()
        .unwrap_or_else(|| panic!("{who} reported no SDK version: {reported}"));
    assert!(
        satisfies(version, &pin),
        "{who} runs mcp {version}, outside the pin {pin} (tests/interop/sdk-pins.txt); \
         scripts/test.sh recreates the venv"
    );
}

/// The Python of the venv holding the official SDK of this major version, or `None` (the test
/// then skips) unless MCP_GATEWAY_REQUIRE_INTEROP=1, where a missing venv fails the test.
pub fn python(major: u8) -> Option<PathBuf> {
    let path = repo_root().join(format!(".venv-mcp{major}/bin/python"));
    if path.exists() {
        return Some(path);
    }
    let reason = format!(
        "{} is missing: scripts/test.sh creates it (python3 -m venv .venv-mcp{major} && pip install '{}')",
        path.display(),
        sdk_pin(major)
    );
    if std::env::var("MCP_GATEWAY_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{reason}");
    }
    eprintln!("skipping: {reason}");
    None
}

/// How long a helper process may take to say it is ready, or to finish.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the FastMCP (mcp 1.x) upstream; returns it and its MCP URL once it prints
/// `ready <mcp version>` (the version checked against the pin).
pub fn fastmcp() -> Option<(Process, String)> {
    python_server("fastmcp_server.py", free_port())
}

/// Starts `tests/interop/SCRIPT PORT` on the Python SDK 1.x (a server that prints
/// `ready <mcp version>` once listening, as fastmcp_server.py does); returns it and its MCP URL.
pub fn python_server(script: &str, port: u16) -> Option<(Process, String)> {
    let python = python(1)?;
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/interop").join(script))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fastmcp");
    let stdout = child.stdout.take().expect("stdout");
    let process = Process(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(HELPER_TIMEOUT)
        .unwrap_or_else(|_| panic!("{script} printed nothing within {HELPER_TIMEOUT:?}"));
    let version = line
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("{script} did not start: {line:?}"));
    assert_sdk_version(1, &Value::from(version), script);
    Some((process, format!("http://127.0.0.1:{port}/mcp")))
}

/// Runs the Python SDK client of `major` against `url` with `--mode`, making `calls`; returns its
/// JSON summary (`sdk`, `protocol`, `tools`, `results`), its `sdk` checked against the pin.
/// Panics with the client's stderr on failure.
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
        .args(["--mode", mode])
        .kill_on_drop(true);
    for (tool, args) in calls {
        command.args(["--call", tool, &args.to_string()]);
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, command.output())
        .await
        .expect("python client finished in time")
        .expect("run python client");
    assert!(
        output.status.success(),
        "python {major}.x client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("client JSON");
    assert_sdk_version(
        major,
        &summary["sdk"],
        &format!("the python {major}.x client"),
    );
    Some(summary)
}

/// The version of `package` in Cargo.lock (panics unless exactly one is locked).
pub fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).expect("Cargo.lock");
    let versions: Vec<&str> = lock
        .split("[[package]]")
        .filter(|entry| entry.contains(&format!("\nname = \"{package}\"\n")))
        .filter_map(|entry| {
            entry
                .lines()
                .find_map(|line| line.strip_prefix("version = \""))
                .map(|v| v.trim_end_matches('"'))
        })
        .collect();
    assert_eq!(versions.len(), 1, "{package} in Cargo.lock: {versions:?}");
    versions[0].to_string()
}
