//! Federation: `/mcp` serves every adapter's tools and prompts besides the registered tools,
//! against the real binary (runtime `none`, `url` adapters) and real upstreams run as local
//! processes: the sample rmcp server (sessions, and a 2026-07-28-only stateless mode) and Python
//! FastMCP servers (mcp 1.x), driven by the official clients (rmcp, Python 1.x and 2.x).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::raw::{self, ACCEPT, STATELESS};
use common::upstream::{
    Process, fastmcp, free_port, mcp_example, python_client, python_server, sample_binary,
    tool_example,
};
use common::{Gateway, client, config_none, eventually};
use futures_util::StreamExt;
use reqwest::StatusCode;
use rmcp::model::{ServerNotification, SubscriptionFilter};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// How long federation may take to show a change in these tests (the acceptance is 2 s; the
/// margin is for a loaded machine: the measured figures are printed).
const SETTLE: Duration = Duration::from_secs(20);

/// The strictest client rule for tool names.
fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn create(
    http: &reqwest::Client,
    gw: &Gateway,
    collection: &str,
    headers: &[(&str, &str)],
    body: Value,
) {
    let mut request = http.post(gw.url(collection)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST");
    let status = response.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{body}: {}",
        response.text().await.unwrap_or_default()
    );
}

/// Registers a `url` adapter as the test user.
async fn add_adapter(http: &reqwest::Client, gw: &Gateway, name: &str, url: &str) {
    create(
        http,
        gw,
        "/adapters",
        &[],
        json!({"name": name, "url": url}),
    )
    .await;
}

/// A gateway (runtime `none`, auth `none`), a client, and its `/mcp` URL.
fn gateway(dir: &std::path::Path) -> (Gateway, reqwest::Client, String) {
    let gw = Gateway::start(dir, &config_none(dir, "none", ""));
    let mcp = gw.url("/mcp");
    (gw, client(), mcp)
}

fn weather(name: &str, url: &str) -> Value {
    json!({"name": name, "url": url, "toolDefinition": {"tool": {
        "name": name, "description": "Current weather for a location",
        "inputSchema": {"type": "object", "required": ["location"],
                        "properties": {"location": {"type": "string"}}}}}})
}

/// A stateless (2026-07-28) request to `/mcp`: the routing headers and `_meta` it needs.
async fn stateless(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    method: &str,
    mut params: Value,
) -> raw::Exchange {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientInfo": {"name": "federation-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let mut routing = vec![("mcp-protocol-version", STATELESS), ("mcp-method", method)];
    let name = params["name"].as_str().map(str::to_string);
    if let Some(name) = &name {
        routing.push(("mcp-name", name));
    }
    routing.extend_from_slice(headers);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut request = http
        .post(url)
        .header("accept", ACCEPT)
        .header("content-type", "application/json");
    for (name, value) in routing {
        request = request.header(name, value);
    }
    let response = request.json(&body).send().await.expect("POST /mcp");
    raw::read(response).await.expect("body")
}

/// Every tool `caller` sees on `/mcp` (one stateless `tools/list`; the tests stay below a page).
async fn tools(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Vec<Value> {
    let listed = stateless(http, url, headers, "tools/list", json!({})).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.messages);
    listed.messages[0]["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn names(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let mut names: Vec<String> = tools(http, url, headers)
        .await
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Waits until `/mcp` lists every one of `wanted` (and none of `unwanted`); returns the names.
async fn listed(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    wanted: &[&str],
    unwanted: &[&str],
) -> Vec<String> {
    eventually(
        &format!("/mcp to list {wanted:?} and not {unwanted:?}"),
        SETTLE,
        || async {
            let names = names(http, url, headers).await;
            let ok = wanted.iter().all(|w| names.iter().any(|n| n == w))
                && !unwanted.iter().any(|u| names.iter().any(|n| n == u));
            ok.then_some(names)
        },
    )
    .await
}

/// A stateless `tools/call`: the answer's result (or error) message.
async fn call(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    tool: &str,
    arguments: Value,
) -> Value {
    let answer = stateless(
        http,
        url,
        headers,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{tool}: {:?}",
        answer.messages
    );
    answer.response(1).clone()
}

fn text(message: &Value) -> String {
    raw::result_text(message)
}

/// Starts the sample rmcp server with its stdout collected (its log names every tool call).
fn logged_example(env: &[(&str, &str)]) -> (Process, String, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let port = free_port();
    let mut child = Command::new(sample_binary("mcp-example"))
        .env("PORT", port.to_string())
        .env("BIND", "127.0.0.1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mcp-example");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let process = Process::from(child);
    let started = rx.recv_timeout(Duration::from_secs(20)).expect("listening");
    assert!(started.contains("listening"), "{started}");
    (process, format!("http://127.0.0.1:{port}/mcp"), rx)
}

/// Waits for a line containing `needle` in a server's log.
fn log_line(log: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        if let Ok(line) = log.recv_timeout(Duration::from_millis(200))
            && line.contains(needle)
        {
            return line;
        }
    }
    panic!("no log line with {needle:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_adapters_and_two_registered_tools_on_one_endpoint_for_every_client() {
    let Some((_python, python_url)) = fastmcp() else {
        return;
    };
    let (_example, example_url, example_log) = logged_example(&[]);
    let (_stateless, stateless_url) = mcp_example(&[("MCP_STATELESS", "1")]);
    let (_weather, weather_url) = tool_example();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    for (name, url) in [
        ("example", &example_url),
        ("python", &python_url),
        ("stateless", &stateless_url),
    ] {
        add_adapter(&http, &gw, name, url).await;
    }
    for name in ["weather", "forecast"] {
        create(&http, &gw, "/tools", &[], weather(name, &weather_url)).await;
    }
    let mcp = gw.url("/mcp");
    let all = [
        "example_add",
        "example_slow",
        "python_add",
        "python_echo",
        "stateless_add",
        "weather",
        "forecast",
    ];
    let names = listed(&http, &mcp, &[], &all, &[]).await;
    assert!(names.iter().all(|n| valid(n)), "{names:?}");
    let listing = tools(&http, &mcp, &[]).await;
    let described = |name: &str| -> String {
        listing
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["description"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        described("python_echo").starts_with("[adapter python] "),
        "{}",
        described("python_echo")
    );
    assert_eq!(described("weather"), "Current weather for a location");

    // rmcp, 2025 session: every origin, including a 2026-only server it could not talk to itself.
    let session = common::mcp::connect(&mcp).await.expect("rmcp session");
    for tool in ["example_add", "python_add", "stateless_add"] {
        let result = common::mcp::call(&session, tool, json!({"a": 2, "b": 3}))
            .await
            .expect("call");
        assert_eq!(common::mcp::text(&result), "5", "{tool}");
    }
    // The upstream's structuredContent comes back as it sent it.
    let added = common::mcp::call(&session, "example_add", json!({"a": 1, "b": 1}))
        .await
        .expect("call");
    assert_eq!(added.structured_content, Some(json!({"sum": 2})));
    let weather = common::mcp::call(&session, "weather", json!({"location": "Paris"}))
        .await
        .expect("registered tool");
    assert!(!common::mcp::is_error(&weather), "{weather:?}");
    let _ = session.cancel().await;

    // Stateless 2026-07-28 calls reach the 2025-only FastMCP server.
    let echoed = call(&http, &mcp, &[], "python_echo", json!({"message": "hi"})).await;
    assert_eq!(text(&echoed), "hi");

    // The Python SDKs: 1.x (2025 session) and 2.x in auto mode (2026-07-28, stateless).
    let calls = [
        ("python_echo", json!({"message": "from python"})),
        ("stateless_add", json!({"a": 20, "b": 22})),
        ("example_add", json!({"a": 1, "b": 2})),
        ("forecast", json!({"location": "Oslo"})),
    ];
    for major in [1, 2] {
        let Some(summary) = python_client(major, &mcp, "auto", &calls).await else {
            continue;
        };
        let protocol = summary["protocol"].as_str().unwrap_or_default();
        match major {
            1 => assert!(protocol.starts_with("2025-"), "{summary}"),
            _ => assert_eq!(protocol, STATELESS, "{summary}"),
        }
        let listed: Vec<&str> = summary["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for name in all {
            assert!(listed.contains(&name), "{major}.x lists {listed:?}");
        }
        let texts: Vec<&str> = summary["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["text"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            &texts[..3],
            ["from python", "42", "3"],
            "{major}.x: {summary}"
        );
        assert_eq!(summary["results"][3]["isError"], false, "{summary}");
    }

    // Progress: relayed as the upstream sends it, under the caller's own token.
    let token = raw::open_session(&http, &mcp, &[]).await;
    let started = Instant::now();
    let response = http
        .post(&mcp)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &token)
        .json(
            &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "example_slow", "arguments": {"steps": 3, "delayMs": 400},
            "_meta": {"progressToken": "mine-7"}}}),
        )
        .send()
        .await
        .expect("slow call");
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut arrivals: Vec<(Duration, Value)> = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for message in raw::parse_messages("text/event-stream", &event) {
                arrivals.push((started.elapsed(), message));
            }
        }
    }
    let progress: Vec<&(Duration, Value)> = arrivals
        .iter()
        .filter(|(_, m)| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{arrivals:?}");
    for (step, (_, message)) in progress.iter().enumerate() {
        assert_eq!(message["params"]["progressToken"], "mine-7");
        assert_eq!(message["params"]["progress"], json!(step as f64 + 1.0));
    }
    // Sent 400 ms apart upstream: a relay that buffered would deliver them together.
    let spread = progress[2].0 - progress[0].0;
    assert!(
        spread >= Duration::from_millis(500),
        "progress arrived bunched: {arrivals:?}"
    );
    let last = &arrivals.last().expect("an answer").1;
    assert_eq!(raw::result_text(last), "done after 3 steps");
    eprintln!(
        "progress arrivals: {:?}",
        arrivals.iter().map(|(t, _)| *t).collect::<Vec<_>>()
    );

    // Cancellation: the client cancels, the upstream's tool sees it.
    let earlier: Vec<String> = example_log.try_iter().collect();
    assert!(
        earlier.iter().any(|l| l.contains("tool call: slow")),
        "{earlier:?}"
    );
    let slow = tokio::spawn({
        let (http, mcp, token) = (http.clone(), mcp.clone(), token.clone());
        async move {
            raw::rpc(
                &http,
                &mcp,
                Some(&token),
                &[],
                json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
                    "name": "example_slow", "arguments": {"steps": 100, "delayMs": 200}}}),
            )
            .await
        }
    });
    log_line(&example_log, "tool call: slow");
    let cancelled = raw::rpc(
        &http,
        &mcp,
        Some(&token),
        &[],
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 8, "reason": "test"}}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::ACCEPTED);
    log_line(&example_log, "tool call: slow cancelled");
    slow.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn clashing_and_overlong_names_are_all_listed_callable_and_stable_across_restarts() {
    let (_example, url) = mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_none(dir.path(), "none", "");
    let long = format!("{}-server", "x".repeat(56));
    assert_eq!(long.len(), 63);
    let mut gw = Gateway::start(dir.path(), &config);
    let http = client();
    for name in ["alpha", "beta", long.as_str()] {
        add_adapter(&http, &gw, name, &url).await;
    }
    let mcp = gw.url("/mcp");
    let before = eventually("every tool of the three adapters", SETTLE, || async {
        let names = names(&http, &mcp, &[]).await;
        (names.len() == 15).then_some(names)
    })
    .await;
    let shortened: Vec<&String> = before.iter().filter(|n| n.starts_with("xxxx")).collect();
    assert_eq!(shortened.len(), 5, "every tool of {long}: {before:?}");
    assert!(before.iter().all(|n| valid(n)), "{before:?}");
    // Shortened past the tool's own name: the description says what it is.
    let add = tools(&http, &mcp, &[])
        .await
        .iter()
        .find(|t| {
            t["name"].as_str().is_some_and(|n| n.starts_with("xxxx"))
                && t["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("Add two numbers"))
        })
        .and_then(|t| t["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("a shortened add in {before:?}"));
    for tool in ["alpha_add", "beta_add", add.as_str()] {
        let answer = call(&http, &mcp, &[], tool, json!({"a": 1, "b": 2})).await;
        assert_eq!(text(&answer), "3", "{tool}");
    }
    let whoami = |name: &str| format!("{name}_whoami");
    let alpha = call(&http, &mcp, &[], &whoami("alpha"), json!({})).await;
    assert!(!text(&alpha).is_empty());

    drop(gw);
    gw = Gateway::start(dir.path(), &config);
    let mcp = gw.url("/mcp");
    let after = listed(&http, &mcp, &[], &["alpha_add", "beta_add", &add], &[]).await;
    assert_eq!(after, before, "names changed across a restart");
    let answer = call(&http, &mcp, &[], &add, json!({"a": 2, "b": 2})).await;
    assert_eq!(text(&answer), "4");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_without_read_on_an_adapter_sees_and_calls_none_of_its_tools() {
    let (_example, url) = mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "dev", ""));
    let http = client();
    let alice = [("x-dev-userid", "alice"), ("x-dev-roles", "")];
    let bob = [("x-dev-userid", "bob"), ("x-dev-roles", "team")];
    create(
        &http,
        &gw,
        "/adapters",
        &alice,
        json!({"name": "private", "url": url}),
    )
    .await;
    create(
        &http,
        &gw,
        "/adapters",
        &alice,
        json!({"name": "teamwork", "url": url, "requiredRoles": ["team"],
               "federatedTools": ["add", "ec*"]}),
    )
    .await;
    let mcp = gw.url("/mcp");
    let mine = listed(&http, &mcp, &alice, &["private_add", "teamwork_add"], &[]).await;
    assert!(mine.contains(&"private_slow".to_string()), "{mine:?}");
    // The allow-list: only add and echo of teamwork.
    let team: Vec<&String> = mine.iter().filter(|n| n.starts_with("teamwork_")).collect();
    assert_eq!(team, ["teamwork_add", "teamwork_echo"], "{mine:?}");

    let theirs = names(&http, &mcp, &bob).await;
    assert_eq!(theirs, ["teamwork_add", "teamwork_echo"]);
    let refused = stateless(
        &http,
        &mcp,
        &bob,
        "tools/call",
        json!({"name": "private_add", "arguments": {"a": 1, "b": 1}}),
    )
    .await;
    let error = refused.response(1)["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("Unknown tool"), "{:?}", refused.messages);
    // A tool outside the allow-list is unknown too, even to its creator.
    let outside = stateless(
        &http,
        &mcp,
        &alice,
        "tools/call",
        json!({"name": "teamwork_slow", "arguments": {}}),
    )
    .await;
    assert!(
        outside.response(1).get("error").is_some(),
        "{:?}",
        outside.messages
    );
    let allowed = call(&http, &mcp, &bob, "teamwork_add", json!({"a": 4, "b": 5})).await;
    assert_eq!(text(&allowed), "9");

    // federate: false takes an adapter off /mcp altogether.
    let put = http
        .put(gw.url("/adapters/private"))
        .headers(header_map(&alice))
        .json(&json!({"url": url, "federate": false}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        put.status(),
        StatusCode::OK,
        "{}",
        put.text().await.unwrap_or_default()
    );
    listed(&http, &mcp, &alice, &["teamwork_add"], &["private_add"]).await;
}

fn header_map(headers: &[(&str, &str)]) -> reqwest::header::HeaderMap {
    headers
        .iter()
        .map(|(k, v)| {
            (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                reqwest::header::HeaderValue::from_str(v).expect("value"),
            )
        })
        .collect()
}

/// Reports `notifications/tools/list_changed` from a 2025 session's GET stream.
#[derive(Clone)]
struct Watcher(mpsc::UnboundedSender<Instant>);

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.0.send(Instant::now());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_changed_reaches_both_stream_kinds_when_adapters_and_upstream_lists_change() {
    let Some((_changing, changing_url)) = python_server("changing_server.py", free_port()) else {
        return;
    };
    let (_example, example_url) = mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, http, mcp) = gateway(dir.path());
    add_adapter(&http, &gw, "changing", &changing_url).await;
    listed(&http, &mcp, &[], &["changing_grow"], &[]).await;

    let (tx, mut on_get) = mpsc::unbounded_channel();
    let session: RunningService<RoleClient, Watcher> = Watcher(tx)
        .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
            mcp.clone(),
        ))
        .await
        .expect("2025 session");
    let modern = common::mcp::connect_stateless(&mcp)
        .await
        .expect("2026 client");
    let mut subscription = modern
        .peer()
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await
        .expect("listen acknowledged");
    // rmcp opens the GET stream in the background after initialize: a listing round-trip, then
    // a moment, lets it attach before the first change.
    session.list_all_tools().await.expect("list");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut expect_change = async |what: &str, changed: Instant| {
        let got = tokio::time::timeout(SETTLE, on_get.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: no list_changed on the GET stream"))
            .expect("GET stream open");
        let next = tokio::time::timeout(SETTLE, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("{what}: no list_changed on the listen stream"));
        let listen_at = Instant::now();
        let notification = next.expect("stream open").expect("a notification");
        assert!(
            matches!(
                notification,
                ServerNotification::ToolListChangedNotification(_)
            ),
            "{notification:?}"
        );
        eprintln!(
            "{what}: GET stream after {:?}, listen stream after {:?}",
            got.saturating_duration_since(changed),
            listen_at.saturating_duration_since(changed)
        );
    };

    // An adapter added.
    let changed = Instant::now();
    add_adapter(&http, &gw, "example", &example_url).await;
    expect_change("adapter added", changed).await;
    listed(&http, &mcp, &[], &["example_add", "changing_grow"], &[]).await;

    // An upstream changes its own list.
    let grown = call(&http, &mcp, &[], "changing_grow", json!({})).await;
    let changed = Instant::now();
    assert_eq!(text(&grown), "grown_1");
    expect_change("upstream list changed", changed).await;
    let names = listed(&http, &mcp, &[], &["changing_grown_1"], &[]).await;
    assert!(names.contains(&"example_add".to_string()));

    // An adapter deleted.
    let changed = Instant::now();
    let deleted = http
        .delete(gw.url("/adapters/example"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    expect_change("adapter deleted", changed).await;
    listed(&http, &mcp, &[], &["changing_grown_1"], &["example_add"]).await;

    subscription.cancel().await.expect("cancel listen");
    let _ = session.cancel().await;
    let _ = modern.cancel().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_upstream_drops_out_without_stalling_the_others_and_comes_back() {
    let port = free_port();
    let Some((python, python_url)) = python_server("fastmcp_server.py", port) else {
        return;
    };
    let (_example, example_url) = mcp_example(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, http, mcp) = gateway(dir.path());
    add_adapter(&http, &gw, "python", &python_url).await;
    add_adapter(&http, &gw, "example", &example_url).await;
    listed(&http, &mcp, &[], &["python_echo", "example_add"], &[]).await;

    drop(python);
    // Listing never waits on the dead upstream: every answer comes at once, and its tools go.
    let slowest = std::sync::Mutex::new(Duration::ZERO);
    eventually("python's tools to drop out", SETTLE, || {
        let (http, mcp, slowest) = (&http, &mcp, &slowest);
        async move {
            let asked = Instant::now();
            let names = names(http, mcp, &[]).await;
            let took = asked.elapsed();
            let mut worst = slowest.lock().expect("lock");
            *worst = (*worst).max(took);
            assert!(names.contains(&"example_add".to_string()), "{names:?}");
            (!names.contains(&"python_echo".to_string())).then_some(())
        }
    })
    .await;
    let slowest = *slowest.lock().expect("lock");
    eprintln!("slowest tools/list while an upstream was down: {slowest:?}");
    let answer = call(&http, &mcp, &[], "example_add", json!({"a": 5, "b": 5})).await;
    assert_eq!(text(&answer), "10");

    // Back on its port: back in the list.
    let (_python, _) = python_server("fastmcp_server.py", port).expect("python again");
    listed(&http, &mcp, &[], &["python_echo", "example_add"], &[]).await;
    let echoed = call(&http, &mcp, &[], "python_echo", json!({"message": "back"})).await;
    assert_eq!(text(&echoed), "back");
}
