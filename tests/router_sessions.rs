//! The tool router's 2025 sessions are store-less, like the data plane's: a session continues
//! across a gateway restart without a second `initialize`, and a token that is tampered with,
//! another user's, or ended is a 404.

mod common;

use common::upstream::free_port;
use common::{Gateway, config_none, raw};
use reqwest::StatusCode;
use serde_json::json;

const ALICE: [(&str, &str); 2] = [("x-dev-userid", "alice"), ("x-dev-roles", "")];
const BOB: [(&str, &str); 2] = [("x-dev-userid", "bob"), ("x-dev-roles", "")];

/// DELETE of alice's session `token`: 204.
async fn end_session(http: &reqwest::Client, url: &str, token: &str) {
    let deleted = http
        .delete(url)
        .header("mcp-session-id", token)
        .header("x-dev-userid", "alice")
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

fn list(id: i64) -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

#[tokio::test]
async fn a_session_continues_across_a_restart_and_foreign_tokens_are_not_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_none(dir.path(), "dev", "")).expect("config");
    let listen = format!("127.0.0.1:{}", free_port());
    let http = reqwest::Client::new();

    let gw = Gateway::start_on(&config, &listen, &[]);
    let url = gw.url("/mcp");
    let token = raw::open_session(&http, &url, &ALICE).await;
    let before = raw::rpc(&http, &url, Some(&token), &ALICE, list(2)).await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(before.response(2)["result"]["tools"].is_array());
    gw.kill9();

    // The same store (and so the same session key), a new process.
    let gw = Gateway::start_on(&config, &listen, &[]);
    // A new client: the old one's pooled connection died with the process.
    let http = reqwest::Client::new();
    let after = raw::rpc(&http, &url, Some(&token), &ALICE, list(3)).await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.messages);
    assert!(after.response(3)["result"]["tools"].is_array());
    if let Some(echoed) = after.session() {
        assert_eq!(echoed, token, "the client keeps its token");
    }
    // Again: the resumed session is reused, not resumed once more.
    let again = raw::rpc(&http, &url, Some(&token), &ALICE, list(4)).await;
    assert_eq!(again.status, StatusCode::OK);

    // Another user's token, and a tampered one, are no sessions.
    let foreign = raw::rpc(&http, &url, Some(&token), &BOB, list(5)).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let refused = raw::rpc(&http, &url, Some(&tampered), &ALICE, list(6)).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    // A data-plane token is not a router session either (and the reverse is tested in proxy).
    let garbage = raw::rpc(&http, &url, Some("not-a-token"), &ALICE, list(7)).await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);

    // DELETE ends it, for good in this process: no resurrection.
    end_session(&http, &url, &token).await;
    let ended = raw::rpc(&http, &url, Some(&token), &ALICE, list(8)).await;
    assert_eq!(ended.status, StatusCode::NOT_FOUND);
    drop(gw);
}

#[tokio::test]
async fn a_session_ended_in_this_process_is_not_revived() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "dev", ""));
    let http = reqwest::Client::new();
    let url = gw.url("/mcp");
    let token = raw::open_session(&http, &url, &ALICE).await;
    end_session(&http, &url, &token).await;
    let ended = raw::rpc(&http, &url, Some(&token), &ALICE, list(2)).await;
    assert_eq!(ended.status, StatusCode::NOT_FOUND);
}
