//! Test harness: starts the real `mcp-gateway` binary on an ephemeral port.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod browser;
pub mod cluster;
pub mod docker;
pub mod exposition;
pub mod mcp;
pub mod raw;
pub mod rbac;
pub mod upstream;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-gateway");

/// A running gateway. Killed on drop.
pub struct Gateway {
    child: Child,
    pub base: String,
    pub config_path: PathBuf,
    /// The gateway's JSON log lines, when started with [`Gateway::start_logged`] (else empty).
    pub logs: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// A config for tests: runtime `none`, the store in `dir`, auth as given.
pub fn config_none(dir: &Path, auth_mode: &str, extra: &str) -> String {
    format!(
        "[store]\npath = \"{}\"\n[runtime]\nkind = \"none\"\n[auth]\nmode = \"{auth_mode}\"\n{extra}\n",
        dir.join("gw.db").display()
    )
}

impl Gateway {
    /// Writes `config` to `dir/config.toml` and starts `serve` on 127.0.0.1:0.
    pub fn start(dir: &Path, config: &str) -> Gateway {
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).expect("write config");
        Self::start_with(&config_path, &[])
    }

    /// Starts `serve --config path` on an ephemeral port, waiting for the listening line.
    pub fn start_with(config_path: &Path, extra_args: &[&str]) -> Gateway {
        Self::start_on(config_path, "127.0.0.1:0", extra_args)
    }

    /// Starts `serve --config path --listen addr` (a fixed address lets a test restart the
    /// gateway where its clients expect it).
    pub fn start_on(config_path: &Path, listen: &str, extra_args: &[&str]) -> Gateway {
        Self::spawn(config_path, listen, extra_args, false)
    }

    /// Starts `serve --config path` on an ephemeral port logging JSON at `info`, and collects
    /// the log lines in [`Gateway::logs`] (echoed to stderr) so a test can wait for one.
    pub fn start_logged(config_path: &Path) -> Gateway {
        Self::spawn(config_path, "127.0.0.1:0", &["--log-format", "json"], true)
    }

    fn spawn(config_path: &Path, listen: &str, extra_args: &[&str], logged: bool) -> Gateway {
        let mut command = Command::new(BIN);
        let level = if logged {
            "info".to_string()
        } else {
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())
        };
        command
            .args(["serve", "--config"])
            .arg(config_path)
            .args(["--listen", listen])
            .args(extra_args)
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(if logged {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        let mut child = command.spawn().expect("start mcp-gateway");
        let logs = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("gateway: {line}");
                    if let Ok(entry) = serde_json::from_str(&line) {
                        sink.lock().expect("logs").push(entry);
                    }
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("mcp-gateway listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("mcp-gateway did not start listening (exit: {status:?})");
            }
        };
        Gateway {
            child,
            base,
            config_path: config_path.to_path_buf(),
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs. Panics unless the gateway was running and died of the
    /// signal (a gateway that had already exited would make the test prove nothing).
    pub fn kill9(mut self) {
        use std::os::unix::process::ExitStatusExt;
        self.child.kill().expect("send SIGKILL to the gateway");
        let status = self.child.wait().expect("reap the gateway");
        assert_eq!(
            status.signal(),
            Some(9),
            "the gateway was not killed by SIGKILL: it had already ended ({status})"
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long [`run`] lets the binary take before it is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the binary to completion and returns (exit code, stdout, stderr). Panics, with what it
/// printed, if it has not ended within [`RUN_TIMEOUT`].
pub fn run(args: &[&str]) -> (i32, String, String) {
    use std::io::Read;
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mcp-gateway");
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("stdout")));
    let stderr = collect(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mcp-gateway") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (
        stdout.join().expect("stdout reader"),
        stderr.join().expect("stderr reader"),
    );
    let Some(status) = status else {
        panic!(
            "mcp-gateway {args:?} did not end within {RUN_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    };
    (status.code().unwrap_or(-1), stdout, stderr)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Polls `check` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A loopback HTTP server that answers every request with 200 and a fixed body, until dropped.
pub struct StubHttp {
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StubHttp {
    pub fn start() -> StubHttp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 4096];
                        let _ = stream.read(&mut buf);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StubHttp { url, stop }
    }
}

impl Drop for StubHttp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A loopback port with nothing listening on it (bound then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// POSTs `body` (asking for `useWorkloadIdentity: true`) to `adapters_url` as bob, a non-admin
/// in `dev` mode, and checks the answer is a 403 naming the admin role.
pub async fn refuse_workload_identity_to_a_non_admin(adapters_url: &str, body: &serde_json::Value) {
    let refused = client()
        .post(adapters_url)
        .header("x-dev-userid", "bob")
        .header("x-dev-roles", "team")
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
    let problem: serde_json::Value = refused.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("admin role")),
        "{problem}"
    );
}
