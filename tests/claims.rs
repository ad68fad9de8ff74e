//! The README's claims and their tests (docs/claims.md): every test the table names exists, the
//! SDK versions the README names are the ones the tests pin and check, and every metric family
//! the gateway serves is documented in the README's Metrics table.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::upstream::{locked_version, sdk_pin};
use common::{Gateway, StubHttp, client, config_none};
use reqwest::StatusCode;
use serde_json::json;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Every `file::test` in backticks in `text`.
fn named_tests(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let (file, test) = quoted.rsplit_once("::")?;
            let plain = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_/.-".contains(c))
            };
            (plain(file) && plain(test) && !test.contains('/'))
                .then(|| (file.to_string(), test.to_string()))
        })
        .collect()
}

#[test]
fn every_test_named_in_the_claims_table_exists() {
    let claims = read("docs/claims.md");
    assert!(
        read("README.md").contains("docs/claims.md"),
        "the README does not link docs/claims.md"
    );
    let named = named_tests(&claims);
    assert!(named.len() > 50, "only {} tests named", named.len());
    let mut missing = Vec::new();
    for (file, test) in &named {
        let path = if file.contains('/') {
            file.clone()
        } else {
            format!("tests/{file}.rs")
        };
        let source = read(&path);
        let lines: Vec<&str> = source.lines().collect();
        let defined = lines.iter().enumerate().any(|(n, line)| {
            let line = line.trim_start();
            (line.starts_with(&format!("fn {test}("))
                || line.starts_with(&format!("async fn {test}(")))
                && lines[n.saturating_sub(3)..n]
                    .iter()
                    .any(|l| l.contains("#[test]") || l.contains("#[tokio::test"))
        });
        if !defined {
            missing.push(format!("{path}: {test}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/claims.md names tests that do not exist: {missing:#?}"
    );
}

/// Every `PREFIX X.Y` in `text` (`Python `mcp` 1.30`, `rmcp 3.11`).
fn versions_after(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let version: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let version = version.trim_end_matches('.').to_string();
            version.contains('.').then_some(version)
        })
        .collect()
}

#[test]
fn the_readme_names_the_versions_the_tests_run() {
    let readme = read("README.md");
    let pinned: BTreeSet<String> = [1, 2]
        .into_iter()
        .map(|major| {
            let pin = sdk_pin(major);
            let version = pin
                .split_once("==")
                .map(|(_, v)| v.trim_end_matches(".*").to_string())
                .unwrap_or_else(|| panic!("not a == pin: {pin}"));
            assert!(
                version.starts_with(&format!("{major}.")),
                "the .venv-mcp{major} pin {pin} is not of major {major}"
            );
            version
        })
        .collect();
    assert_eq!(
        versions_after(&readme, "Python `mcp` "),
        pinned,
        "the README's Python SDK versions and tests/interop/sdk-pins.txt disagree"
    );
    let rmcp = locked_version("rmcp");
    let named = versions_after(&readme, "rmcp ");
    assert!(!named.is_empty(), "the README names no rmcp version");
    for version in named {
        assert!(
            rmcp.starts_with(&format!("{version}.")),
            "the README says rmcp {version}; Cargo.lock has {rmcp}"
        );
    }
}

#[tokio::test]
async fn every_metric_family_is_in_the_readme() {
    let readme = read("README.md");
    let metrics = &readme[readme.find("## Metrics").expect("a Metrics section")..];
    let metrics = &metrics[..metrics[3..].find("\n## ").map_or(metrics.len(), |n| n + 3)];
    let documented: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name))
        .filter(|name| name.starts_with("mcp_gateway_"))
        .collect();

    // A gateway with an adapter and a tool that have seen traffic, so every family it can
    // serve without a runtime has series.
    let stub = StubHttp::start();
    let (_upstream, upstream_url) = common::upstream::mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    for (collection, body) in [
        ("adapters", json!({"name": "a", "url": upstream_url})),
        (
            "tools",
            json!({"name": "t", "url": format!("{}/score", stub.url),
                   "toolDefinition": {"tool": {"name": "t", "inputSchema": {"type": "object"}}}}),
        ),
    ] {
        let response = http
            .post(gw.url(&format!("/{collection}")))
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), StatusCode::CREATED, "{collection}");
    }
    common::mcp::call_once(&gw.url("/adapters/a/mcp"), "add", json!({"a": 1, "b": 2}))
        .await
        .expect("a call through the adapter");
    common::mcp::call_once(&gw.url("/mcp"), "t", json!({}))
        .await
        .expect("a tool call");
    let scrape = common::exposition::scrape(&gw.url("/metrics")).await;
    let served: BTreeSet<&str> = scrape
        .text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' ').map(|(name, _)| name))
        .collect();
    assert!(served.len() >= 10, "{}", scrape.text);
    let undocumented: Vec<&&str> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in the README's Metrics table: {undocumented:?}"
    );
}
