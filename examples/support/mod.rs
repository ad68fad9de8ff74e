//! Shared by the benchmarks: find the release binaries next to the example, and start a gateway
//! with a fresh store on an ephemeral loopback port.
#![allow(dead_code)] // each benchmark uses part of it

pub mod rpc;

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A binary of the workspace next to the running example (`target/release/<name>`).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .expect("target dir")
}

/// A running gateway, killed (and its store removed) on drop.
pub struct Gateway {
    child: Child,
    pub base: String,
    pub db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts `mcp-gateway serve` with `runtime.kind = kind` and a store in a temporary dir.
    /// `GATEWAY_THREADS` in the environment sets `server.threads`, `GATEWAY_PROXY_THREADS`
    /// `server.proxy_threads`; `GATEWAY_BIN` names another gateway binary than the one next to
    /// the example.
    pub fn start(kind: &str) -> Gateway {
        // GATEWAY_BIN: another build to compare (A/B in one run on a noisy machine).
        let bin = std::env::var_os("GATEWAY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| sibling("mcp-gateway"));
        Gateway::start_with(kind, &bin, "")
    }

    /// Starts the second build of an A/B (`GATEWAY_BIN_B`): `GATEWAY_THREADS_B` and
    /// `GATEWAY_PROXY_THREADS_B` set its settings (else the first build's variables do), so one
    /// build can be compared with itself under another setting.
    pub fn start_b(kind: &str, bin: &std::path::Path) -> Gateway {
        Gateway::start_with(kind, bin, "_B")
    }

    /// `suffix`: which build's variables set its `[server]` settings.
    fn start_with(kind: &str, bin: &std::path::Path, suffix: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("bench.db");
        let config = dir.path().join("config.toml");
        let mut server = String::from("[server]\n");
        for (variable, key) in [
            ("GATEWAY_THREADS", "threads"),
            ("GATEWAY_PROXY_THREADS", "proxy_threads"),
        ] {
            let value =
                std::env::var(format!("{variable}{suffix}")).or_else(|_| std::env::var(variable));
            if let Ok(value) = value {
                server.push_str(&format!("{key} = {value}\n"));
            }
        }
        std::fs::write(
            &config,
            format!(
                "{server}[store]\npath = \"{}\"\n[runtime]\nkind = \"{kind}\"\n",
                db.display()
            ),
        )
        .expect("write config");
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "start {}: {err} (cargo build --release --workspace first)",
                    bin.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listening line");
        let base = line
            .trim()
            .strip_prefix("mcp-gateway listening on ")
            .expect("the gateway prints its address")
            .to_string();
        Gateway {
            child,
            base,
            db,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
