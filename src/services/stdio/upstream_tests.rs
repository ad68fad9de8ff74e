//! A [`Link`] against a scripted server on in-memory pipes: ids and progress tokens rewritten
//! both ways, and the rule for server-to-client requests.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

use super::*;

/// The server's side: reads the gateway's lines, writes its own.
struct Server {
    lines: tokio::io::Lines<BufReader<tokio::io::DuplexStream>>,
    out: tokio::io::DuplexStream,
}

impl Server {
    async fn read(&mut self) -> Value {
        let line = self.lines.next_line().await.expect("read").expect("a line");
        serde_json::from_str(&line).expect("JSON")
    }

    async fn write(&mut self, message: Value) {
        self.out
            .write_all(format!("{message}\n").as_bytes())
            .await
            .expect("write");
    }
}

async fn open() -> (Arc<Link>, Server) {
    let (gateway_in, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, gateway_out) = tokio::io::duplex(1 << 16);
    let mut server = Server {
        lines: BufReader::new(server_in).lines(),
        out: server_out,
    };
    let opening = Opening {
        attachment: Attachment {
            stdin: Box::pin(gateway_in),
            stdout: Box::pin(gateway_out),
        },
        generation: "g".into(),
        known_init: None,
        client_init: None,
        on_close: Box::new(|| {}),
    };
    let opened = tokio::spawn(Link::open(opening));
    let init = server.read().await;
    assert_eq!(init["method"], "initialize");
    server
        .write(json!({"jsonrpc": "2.0", "id": init["id"], "result": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "s"}}}))
        .await;
    let (link, fresh) = opened.await.expect("task").expect("opens");
    assert!(fresh);
    assert_eq!(server.read().await["method"], "notifications/initialized");
    (link, server)
}

fn call(id: Value, token: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "x", "_meta": {"progressToken": token}}})
}

#[tokio::test]
async fn answers_and_progress_reach_their_own_caller_and_ambiguous_asks_are_refused() {
    let (link, mut server) = open().await;
    let (a_sink, mut a) = mpsc::unbounded_channel();
    let (b_sink, mut b) = mpsc::unbounded_channel();
    // Two clients, the same id and the same progress token.
    link.request(call(json!(1), "p"), a_sink, true);
    link.request(call(json!(1), "p"), b_sink, true);
    let up_a = server.read().await;
    let up_b = server.read().await;
    assert_ne!(up_a["id"], up_b["id"], "upstream ids are the link's own");
    assert_ne!(
        up_a["params"]["_meta"]["progressToken"],
        up_b["params"]["_meta"]["progressToken"]
    );

    // Progress for b only, then a server request while two are in flight: refused.
    server
        .write(
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
            "progressToken": up_b["params"]["_meta"]["progressToken"], "progress": 1}}),
        )
        .await;
    server
        .write(
            json!({"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {}}),
        )
        .await;
    let refused = server.read().await;
    assert_eq!(refused["id"], "s1");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("2 client requests are in flight")),
        "{refused}"
    );
    let progress = b.recv().await.expect("progress for b");
    assert_eq!(progress["params"]["progressToken"], "p");

    // Answers, in the other order, each with the client's own id.
    server
        .write(json!({"jsonrpc": "2.0", "id": up_b["id"], "result": {"who": "b"}}))
        .await;
    server
        .write(json!({"jsonrpc": "2.0", "id": up_a["id"], "result": {"who": "a"}}))
        .await;
    let answer_b = b.recv().await.expect("b's answer");
    assert_eq!(
        (answer_b["id"].clone(), answer_b["result"]["who"].clone()),
        (json!(1), json!("b"))
    );
    let answer_a = a.recv().await.expect("a's answer");
    assert_eq!(
        answer_a["result"]["who"], "a",
        "a got no progress, only its answer"
    );

    // One request in flight, from a client that can be asked: the server's request reaches it,
    // and its answer goes back with the server's id.
    let (c_sink, mut c) = mpsc::unbounded_channel();
    link.request(call(json!("c"), "q"), c_sink, true);
    let up_c = server.read().await;
    server
        .write(json!({"jsonrpc": "2.0", "id": "s2", "method": "roots/list"}))
        .await;
    let asked = c.recv().await.expect("the server's request");
    assert_eq!(asked["method"], "roots/list");
    assert_ne!(asked["id"], "s2", "the client sees the gateway's id");
    assert!(link.answer(json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"roots": []}})));
    let answered = server.read().await;
    assert_eq!(answered["id"], "s2");
    assert_eq!(answered["result"], json!({"roots": []}));

    // Cancelled by the client: the server is told, with its own id.
    link.cancel(up_c["id"].as_u64().expect("numeric id"), None);
    let cancelled = server.read().await;
    assert_eq!(cancelled["method"], "notifications/cancelled");
    assert_eq!(cancelled["params"]["requestId"], up_c["id"]);
}

#[tokio::test]
async fn notifications_for_everyone_fan_out_and_an_ended_process_fails_what_waits() {
    let (link, mut server) = open().await;
    let mut first = link.subscribe();
    let mut second = link.subscribe();
    server
        .write(json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}))
        .await;
    for stream in [&mut first, &mut second] {
        let note = stream.recv().await.expect("fanned out");
        assert_eq!(note["method"], "notifications/tools/list_changed");
    }
    let (sink, mut answers) = mpsc::unbounded_channel();
    link.request(call(json!(5), "t"), sink, false);
    let _ = server.read().await;
    drop(server);
    let failed = answers.recv().await.expect("an error answer");
    assert_eq!(failed["id"], 5);
    assert_eq!(failed["error"]["code"], UPSTREAM_GONE);
    link.closed.cancelled().await;
}
