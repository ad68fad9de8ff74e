//! Schemathesis (PyPI) against the real binary: every operation of `/openapi.json` with all its
//! checks, then the stateful phase following the document's links from each create to the
//! operations on the created name. Any failure fails the test.
//!
//! Safety first: the fuzzer registers `url` adapters and tools with arbitrary addresses, and the
//! gateway then probes and proxies to them. So the gateway and Schemathesis run inside a network
//! namespace that has nothing but loopback: this test runs itself again under
//! `unshare --net` (util-linux), checks that only `lo` exists, brings it up (iproute2's `ip`),
//! and only then starts anything. Where no namespace can be made, it does not run at all.
//!
//! Schemathesis comes from `.venv-schemathesis` (scripts/test.sh creates it). Missing, or with
//! no namespace to be had, the test skips with the reason, and fails instead when
//! MCP_GATEWAY_REQUIRE_INTEROP=1 (scripts/test.sh sets it).
//!
//! Time is bounded three ways: examples per operation (`-n`), a timeout per request, and a
//! wall clock on the whole run.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Gateway, config_none};

/// Set in the copy of this test that runs inside the namespace.
const INSIDE: &str = "MCP_GATEWAY_SCHEMATHESIS_NETNS";
/// Examples per operation and phase: enough to reach every rule, about a minute in all.
const MAX_EXAMPLES: &str = "50";
/// The default seed (set MCP_GATEWAY_SCHEMATHESIS_SEED to explore others).
const SEED: &str = "1";
/// Schemathesis' own wall clock; the outer one leaves room for start and shutdown.
const RUN_LIMIT: Duration = Duration::from_secs(240);
const OUTER_LIMIT: Duration = Duration::from_secs(300);
const TEST_NAME: &str = "schemathesis_finds_nothing_on_any_operation";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Skips with `reason`, or fails when interop tests are required.
fn unavailable(reason: &str) {
    if std::env::var("MCP_GATEWAY_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{reason}");
    }
    eprintln!("skipping: {reason}");
}

/// The `st` of the venv scripts/test.sh makes.
fn schemathesis() -> Option<PathBuf> {
    let st = repo_root().join(".venv-schemathesis/bin/st");
    if st.exists() {
        return Some(st);
    }
    unavailable(&format!(
        "{} is missing: scripts/test.sh creates it (python3 -m venv .venv-schemathesis && \
         .venv-schemathesis/bin/pip install 'schemathesis>=4.32,<5')",
        st.display()
    ));
    None
}

/// The `unshare` arguments that give a new network namespace here (as root, or through a user
/// namespace), checked by bringing its loopback up with `ip`.
fn isolation() -> Option<Vec<&'static str>> {
    let candidates: [&[&'static str]; 2] = [&["--net"], &["--net", "--map-root-user"]];
    for args in candidates {
        let works = Command::new("unshare")
            .args(args)
            .args(["ip", "link", "set", "lo", "up"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if works {
            return Some(args.to_vec());
        }
    }
    unavailable(
        "cannot make a network namespace (`unshare --net` from util-linux, and `ip` from \
         iproute2): Schemathesis is never run with a network the fuzzed urls could reach",
    );
    None
}

/// Waits for `child` until `limit`, killing it past that. Returns its output and whether it
/// exited successfully (`None` on timeout).
fn wait_bounded(mut child: Child, limit: Duration) -> (String, Option<bool>) {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait().expect("child status") {
            Some(status) => break Some(status.success()),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let text = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    (text, status)
}

#[test]
fn schemathesis_finds_nothing_on_any_operation() {
    if std::env::var_os(INSIDE).is_some() {
        return inside_the_namespace();
    }
    let Some(_) = schemathesis() else { return };
    let Some(unshare) = isolation() else { return };
    let exe = std::env::current_exe().expect("test binary");
    let child = Command::new("unshare")
        .args(&unshare)
        .arg(exe)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test again under unshare");
    let (output, status) = wait_bounded(child, OUTER_LIMIT);
    match status {
        Some(true) => {
            // The summary: phases, test cases and the final line.
            for line in output.lines().filter(|line| {
                line.contains("generated,")
                    || line.starts_with("=====")
                    || line.contains("Schemathesis v")
            }) {
                eprintln!("{line}");
            }
        }
        Some(false) => panic!("Schemathesis found problems (or could not run):\n{output}"),
        None => panic!(
            "the Schemathesis run took over {} s and was stopped:\n{output}",
            OUTER_LIMIT.as_secs()
        ),
    }
}

/// Only loopback: `/proc/self/net/dev` lists this namespace's interfaces.
fn assert_loopback_only() {
    let devices = std::fs::read_to_string("/proc/self/net/dev").expect("read /proc/self/net/dev");
    let names: Vec<&str> = devices
        .lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(
        names,
        vec!["lo"],
        "the namespace must have loopback only, before anything runs in it"
    );
}

fn inside_the_namespace() {
    assert_loopback_only();
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("run ip");
    assert!(up.success(), "ip link set lo up failed");

    let st = schemathesis().expect("checked outside");
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let seed = std::env::var("MCP_GATEWAY_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let config = repo_root().join("tests/schemathesis/schemathesis.toml");
    // Run from a scratch directory: Schemathesis and Hypothesis keep caches in the working
    // directory.
    let work = tempfile::tempdir().expect("tempdir");
    let child = Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run"])
        .arg(gw.url("/openapi.json"))
        .args([
            "--checks",
            "all",
            "--header",
            // What an MCP client sends; the REST routes ignore it.
            "Accept: application/json, text/event-stream",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            &seed,
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
        ])
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start schemathesis");
    let (output, status) = wait_bounded(child, RUN_LIMIT);
    println!("{output}");
    match status {
        Some(true) => {}
        Some(false) => panic!("Schemathesis reported failures or errors (above)"),
        None => panic!(
            "Schemathesis ran over {} s and was stopped",
            RUN_LIMIT.as_secs()
        ),
    }
}
