use serde_json::json;

use super::*;

#[test]
fn messages_are_told_apart_by_shape() {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(
        kind(&request),
        Kind::Request {
            method: "tools/list",
            id: &json!(1)
        }
    );
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        kind(&note),
        Kind::Notification {
            method: "notifications/initialized"
        }
    );
    let answer = json!({"jsonrpc": "2.0", "id": "a", "result": {}});
    assert_eq!(kind(&answer), Kind::Response { id: &json!("a") });
    assert_eq!(kind(&json!({"id": 1})), Kind::Invalid);
    assert_eq!(kind(&json!({"method": "x", "id": null})), Kind::Invalid);
}

#[test]
fn the_era_comes_from_meta_then_header_and_never_from_initialize() {
    let stateless = json!({"method": "tools/list", "id": 1, "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    assert!(is_stateless(&stateless, None));
    let plain = json!({"method": "tools/list", "id": 1});
    assert!(!is_stateless(&plain, None));
    assert!(!is_stateless(&plain, Some("2025-06-18")));
    assert!(is_stateless(&plain, Some("2026-07-28")));
    let init = json!({"method": "initialize", "id": 1});
    assert!(!is_stateless(&init, Some("2026-07-28")));
}

#[test]
fn initialize_answers_the_asked_revision_up_to_the_servers() {
    let server = json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                        "serverInfo": {"name": "time", "version": "1"}});
    let asked = |v| initialize_result(&server, Some(v))["protocolVersion"].clone();
    assert_eq!(asked("2025-03-26"), json!("2025-03-26"));
    assert_eq!(asked("2025-11-25"), json!("2025-06-18"));
    assert_eq!(asked("1999-01-01"), json!("2025-06-18"));
    assert_eq!(
        initialize_result(&server, None)["serverInfo"]["name"],
        "time"
    );
}

#[test]
fn discover_comes_from_the_initialize_result() {
    let server = json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": true}},
                        "serverInfo": {"name": "time", "version": "1"}, "instructions": "hi"});
    let discover = discover_result(&server);
    assert_eq!(discover["resultType"], "complete");
    assert_eq!(discover["supportedVersions"][0], "2026-07-28");
    assert_eq!(discover["capabilities"], server["capabilities"]);
    assert_eq!(discover["instructions"], "hi");
    assert_eq!(
        discover["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "time"
    );
}

#[test]
fn stateless_meta_goes_and_the_rest_stays() {
    let mut message = json!({"method": "tools/call", "id": 1, "params": {"name": "x", "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "progressToken": 7, "traceparent": "00-abc"}}});
    to_session_era(&mut message);
    assert_eq!(
        message["params"]["_meta"],
        json!({"progressToken": 7, "traceparent": "00-abc"})
    );
    let mut bare = json!({"method": "tools/list", "id": 1, "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    to_session_era(&mut bare);
    assert_eq!(bare["params"], json!({}));
}

#[test]
fn stateless_results_get_their_members_unless_given() {
    let mut list = json!({"tools": []});
    to_stateless_result("tools/list", &mut list);
    assert_eq!(
        list,
        json!({"tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private"})
    );
    let mut call = json!({"content": [], "resultType": "input_required"});
    to_stateless_result("tools/call", &mut call);
    assert_eq!(call, json!({"content": [], "resultType": "input_required"}));
}

#[test]
fn tokens_and_ids_are_swapped_in_place() {
    let mut request =
        json!({"method": "tools/call", "id": 1, "params": {"_meta": {"progressToken": "p"}}});
    assert_eq!(
        swap_progress_token(&mut request, json!(42)),
        Some(json!("p"))
    );
    assert_eq!(request["params"]["_meta"]["progressToken"], 42);
    let mut none = json!({"method": "tools/call", "id": 1});
    assert_eq!(swap_progress_token(&mut none, json!(42)), None);
    let mut progress =
        json!({"method": "notifications/progress", "params": {"progressToken": 42, "progress": 1}});
    assert_eq!(
        swap_notified_token(&mut progress, json!("p")),
        Some(json!(42))
    );
    assert_eq!(progress["params"]["progressToken"], "p");
}
