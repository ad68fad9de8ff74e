//! The tool router, `/mcp`, against the real binary (runtime `none`, `url` tools) and real tool
//! servers run as local processes (the sample tool-example), driven by the official clients:
//! rmcp in both protocol eras, and the Python SDK 1.x and 2.x.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::upstream::{HELPER_TIMEOUT, assert_sdk_version, python, sample_binary};
use common::{Gateway, client, closed_port, config_none};
use reqwest::StatusCode;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, PaginatedRequestParams, ProtocolVersion,
    ServerNotification, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader as AsyncBufReader};
use tokio::sync::mpsc;

/// How soon after `POST /tools` returns a connected client must hear about it.
const NOTIFY_WITHIN: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// A tool server: the sample weather tool as a local process, with its request log.

struct ToolServer {
    child: Child,
    /// `http://127.0.0.1:PORT/score`
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ToolServer {
    fn start() -> ToolServer {
        let port = common::upstream::free_port();
        let mut child = Command::new(sample_binary("tool-example"))
            .env("PORT", port.to_string())
            .env("BIND", "127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tool-example");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") {
                    let _ = ready_tx.send(());
                }
                lines.lock().expect("log").push(line);
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("tool-example started");
        ToolServer {
            child,
            url: format!("http://127.0.0.1:{port}/score"),
            log,
        }
    }

    /// How many `POST /score` requests the tool server has logged.
    fn calls(&self) -> usize {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|line| line.starts_with("POST /score"))
            .count()
    }

    /// Waits until the tool server's log shows `count` calls; returns how many it shows then.
    /// (It logs each request before answering it, in order, but the test reads its stdout on a
    /// thread, so a call just answered may be a moment behind.)
    async fn calls_reach(&self, count: usize) -> usize {
        common::eventually(
            &format!("{count} calls in the tool server's log"),
            Duration::from_secs(20),
            || {
                let seen = self.calls();
                async move { (seen >= count).then_some(seen) }
            },
        )
        .await
    }
}

impl Drop for ToolServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn weather_definition(name: &str) -> Value {
    json!({
        "name": name,
        "description": "Current weather for a location",
        "inputSchema": {
            "type": "object",
            "required": ["location"],
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]}
            }
        }
    })
}

async fn register(
    http: &reqwest::Client,
    gw: &Gateway,
    headers: &[(&str, &str)],
    body: Value,
) -> reqwest::Response {
    let mut request = http.post(gw.url("/tools"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.json(&body).send().await.expect("POST /tools")
}

async fn register_url_tool(
    http: &reqwest::Client,
    gw: &Gateway,
    headers: &[(&str, &str)],
    name: &str,
    url: &str,
    extra: Value,
) {
    let mut body =
        json!({"name": name, "url": url, "toolDefinition": {"tool": weather_definition(name)}});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let response = register(http, gw, headers, body).await;
    let status = response.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

// ---------------------------------------------------------------------------------------------
// rmcp clients.

/// A client handler that reports `notifications/tools/list_changed` from the GET stream.
#[derive(Clone)]
struct Watcher(mpsc::UnboundedSender<Instant>);

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.0.send(Instant::now());
    }
}

type Session = RunningService<RoleClient, Watcher>;

fn transport(
    url: &str,
    headers: &[(&str, &str)],
) -> StreamableHttpClientTransport<reqwest::Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    config.custom_headers = headers
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            )
        })
        .collect();
    StreamableHttpClientTransport::from_config(config)
}

/// A 2025-era session (initialize + GET stream); notifications arrive on the receiver.
async fn connect_2025(
    url: &str,
    headers: &[(&str, &str)],
) -> (Session, mpsc::UnboundedReceiver<Instant>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let session = tokio::time::timeout(
        Duration::from_secs(20),
        Watcher(tx).serve(transport(url, headers)),
    )
    .await
    .expect("initialize in time")
    .expect("initialize");
    (session, rx)
}

/// A stateless 2026-07-28 client (`server/discover`).
async fn connect_2026(url: &str, headers: &[(&str, &str)]) -> Session {
    let (tx, _rx) = mpsc::unbounded_channel();
    tokio::time::timeout(
        Duration::from_secs(20),
        Watcher(tx).serve_with_lifecycle(
            transport(url, headers),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
    )
    .await
    .expect("discover in time")
    .expect("discover")
}

async fn call(session: &Session, tool: &str, arguments: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    tokio::time::timeout(Duration::from_secs(20), session.call_tool(params))
        .await
        .expect("call in time")
        .expect("tools/call")
}

/// The call's protocol error, for calls that must fail as JSON-RPC errors.
async fn call_error(session: &Session, tool: &str, arguments: Value) -> String {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    match session.call_tool(params).await {
        Ok(result) => panic!("expected an error, got {result:?}"),
        Err(err) => err.to_string(),
    }
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect()
}

fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}

async fn names(session: &Session) -> Vec<String> {
    session
        .list_all_tools()
        .await
        .expect("tools/list")
        .iter()
        .map(|t| t.name.to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Python SDK helpers.

fn interop_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/interop/{name}"))
}

/// Runs `router_checks.py URL list-all` with the SDK of `major`; its `sdk` is checked against
/// the pin.
async fn python_list_all(major: u8, url: &str, mode: &str) -> Option<Value> {
    let python = python(major)?;
    let output = tokio::time::timeout(
        HELPER_TIMEOUT,
        tokio::process::Command::new(python)
            .arg(interop_script("router_checks.py"))
            .args([url, "list-all", "--mode", mode])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python finished in time")
    .expect("run python");
    assert!(
        output.status.success(),
        "python {major}.x list-all failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON summary");
    assert_sdk_version(major, &summary["sdk"], &format!("python {major}.x {mode}"));
    Some(summary)
}

/// A running `router_checks.py URL watch`: waits for it to say "ready". A task reads its lines
/// as they come and stamps each with its arrival, so "notified" is timed where it happens, not
/// when the test gets round to reading it.
struct PythonWatch {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<(Instant, String)>,
    label: String,
    major: u8,
}

impl PythonWatch {
    async fn start(major: u8, url: &str, mode: &str) -> Option<PythonWatch> {
        let python = python(major)?;
        let mut child = tokio::process::Command::new(python)
            .arg(interop_script("router_checks.py"))
            .args([url, "watch", "--mode", mode])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start python watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = AsyncBufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        let mut watch = PythonWatch {
            child,
            lines,
            label: format!("python {major}.x {mode}"),
            major,
        };
        let (_, ready) = watch.next_line(Duration::from_secs(30)).await;
        assert_eq!(ready, "ready", "{} did not get ready", watch.label);
        Some(watch)
    }

    /// The next line and when it arrived.
    async fn next_line(&mut self, within: Duration) -> (Instant, String) {
        match tokio::time::timeout(within, self.lines.recv()).await {
            Ok(Some(line)) => line,
            other => panic!("{}: no line within {within:?}: {other:?}", self.label),
        }
    }

    /// Waits for "notified" (returns when it arrived) and the summary after it.
    async fn notified(mut self) -> (Instant, Value) {
        let (at, line) = self.next_line(Duration::from_secs(10)).await;
        assert_eq!(line, "notified", "{}", self.label);
        let (_, summary) = self.next_line(Duration::from_secs(20)).await;
        let _ = tokio::time::timeout(HELPER_TIMEOUT, self.child.wait()).await;
        let summary: Value = serde_json::from_str(&summary).expect("summary JSON");
        assert_sdk_version(self.major, &summary["sdk"], &self.label);
        (at, summary)
    }
}

/// Waits until `count` GET streams have been opened on `/mcp`, as /metrics counts them: when
/// their response head goes out, which rmcp sends once the stream is attached to its session.
/// A change made after that reaches them.
async fn get_streams_opened(gw: &Gateway, count: f64) {
    common::eventually(
        &format!("{count} GET streams opened on /mcp"),
        Duration::from_secs(20),
        || async {
            let m = common::exposition::scrape(&gw.url("/metrics")).await;
            let opened = m
                .value(
                    "mcp_gateway_api_requests_total",
                    &[("route", "/mcp"), ("method", "GET"), ("code", "200")],
                )
                .unwrap_or(0.0);
            (opened >= count).then_some(())
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Raw JSON-RPC over HTTP, for what the SDKs hide.

async fn raw(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<Value>) {
    let mut request = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.json(&body).send().await.expect("send");
    let status = response.status();
    let headers = response.headers().clone();
    let sse = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = response.text().await.expect("body");
    let messages = if sse {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect()
    } else {
        serde_json::from_str(&body)
            .map(|v| vec![v])
            .unwrap_or_default()
    };
    (status, headers, messages)
}

/// A stateless 2026-07-28 request body with the per-request `_meta` the revision requires.
fn modern(id: i64, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn modern_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", method),
    ];
    if let Some(name) = name {
        headers.push(("mcp-name", name));
    }
    headers
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn weather_tool_is_listed_and_called_by_every_client() {
    let server = ToolServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    register_url_tool(&http, &gw, &[], "weather", &server.url, json!({})).await;
    let mcp = gw.url("/mcp");

    // rmcp, 2025 session: the listing is exactly the registered definition.
    let (session, _changes) = connect_2025(&mcp, &[]).await;
    let tools = session.list_all_tools().await.expect("list");
    assert_eq!(tools.len(), 1);
    assert_eq!(
        serde_json::to_value(&tools[0]).expect("tool"),
        weather_definition("weather")
    );
    let seattle = call(&session, "weather", json!({"location": "Seattle"})).await;
    assert!(!is_error(&seattle), "{seattle:?}");
    assert!(
        text(&seattle).contains(r#""temperature":72.0"#),
        "{}",
        text(&seattle)
    );
    // No outputSchema declared: text only.
    assert!(seattle.structured_content.is_none());
    let celsius = call(
        &session,
        "weather",
        json!({"location": "Seattle", "unit": "celsius"}),
    )
    .await;
    assert!(text(&celsius).contains("22.2"), "{}", text(&celsius));
    let answered = server.calls_reach(2).await;
    assert_eq!(answered, 2);

    // Arguments that break the schema: tool errors naming the field; the server never sees them.
    for (arguments, field) in [
        (json!({}), "location"),
        (json!({"location": 5}), "location"),
        (json!({"location": "Paris", "unit": "kelvin"}), "unit"),
    ] {
        let refused = call(&session, "weather", arguments.clone()).await;
        assert!(is_error(&refused), "{arguments}: {refused:?}");
        assert!(
            text(&refused).contains(field),
            "{arguments}: {}",
            text(&refused)
        );
    }
    // A valid call after them: once the tool server has logged it, it has logged whatever came
    // before it, so the count says whether an invalid call got through.
    let sentinel = call(&session, "weather", json!({"location": "Seattle"})).await;
    assert!(!is_error(&sentinel), "{sentinel:?}");
    assert_eq!(
        server.calls_reach(answered + 1).await,
        answered + 1,
        "the tool server was called with invalid arguments"
    );
    session.cancel().await.expect("close");

    // rmcp, stateless 2026-07-28.
    let modern = connect_2026(&mcp, &[]).await;
    assert_eq!(names(&modern).await, vec!["weather"]);
    let result = call(
        &modern,
        "weather",
        json!({"location": "Oslo", "unit": "celsius"}),
    )
    .await;
    assert!(text(&result).contains("22.2"), "{}", text(&result));
    modern.cancel().await.expect("close");

    // The Python SDK, both majors (the 2.x client negotiates 2026-07-28 in auto mode).
    let calls = [
        ("weather", json!({"location": "Seattle"})),
        ("weather", json!({"location": "Seattle", "unit": "celsius"})),
        ("weather", json!({})),
    ];
    for (major, mode, protocol) in [
        (1, "auto", "2025"),
        (2, "auto", "2026-07-28"),
        (2, "legacy", "2025"),
    ] {
        let Some(out) = common::upstream::python_client(major, &mcp, mode, &calls).await else {
            return;
        };
        assert!(
            out["protocol"]
                .as_str()
                .expect("protocol")
                .starts_with(protocol),
            "{major}.x {mode}: {out}"
        );
        assert_eq!(out["tools"], json!(["weather"]), "{out}");
        let results = &out["results"];
        assert!(
            results[0]["text"]
                .as_str()
                .expect("text")
                .contains(r#""temperature":72.0"#),
            "{out}"
        );
        assert!(
            results[1]["text"].as_str().expect("text").contains("22.2"),
            "{out}"
        );
        assert_eq!(results[2]["isError"], true, "{out}");
        assert!(
            results[2]["text"]
                .as_str()
                .expect("text")
                .contains("location"),
            "{out}"
        );
    }
}

#[tokio::test]
async fn structured_content_when_the_tool_declares_an_output_schema() {
    let server = ToolServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    let mut tool = weather_definition("forecast");
    tool["outputSchema"] =
        json!({"type": "object", "properties": {"temperature": {"type": "number"}}});
    let response = register(
        &http,
        &gw,
        &[],
        json!({"name": "forecast", "url": server.url, "toolDefinition": {"tool": tool}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session = connect_2026(&gw.url("/mcp"), &[]).await;
    let result = call(&session, "forecast", json!({"location": "Seattle"})).await;
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(structured["temperature"], 72.0);
    assert!(
        text(&result).contains("72.0"),
        "the JSON is also returned as text"
    );
    session.cancel().await.expect("close");
}

#[tokio::test]
async fn changes_show_at_once_and_are_notified_on_get_and_listen_streams() {
    let server = ToolServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    let mcp = gw.url("/mcp");
    register_url_tool(&http, &gw, &[], "first", &server.url, json!({})).await;

    // A 2025 session holding its GET stream, and a 2026-07-28 subscriptions/listen stream.
    let (session, mut get_stream) = connect_2025(&mcp, &[]).await;
    assert_eq!(names(&session).await, vec!["first"]);
    let modern = connect_2026(&mcp, &[]).await;
    let mut subscription = modern
        .peer()
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await
        .expect("listen acknowledged");
    assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
    // And the Python SDK: 1.x on its GET stream, 2.x on a listen stream.
    let py1 = PythonWatch::start(1, &mcp, "auto").await;
    let py2 = PythonWatch::start(2, &mcp, "auto").await;
    // Every stream open before the change it must see: the listen streams were acknowledged;
    // the 2025 GET streams (rmcp's, opened in the background after initialize, and the Python
    // 1.x client's) once /metrics has counted them.
    get_streams_opened(&gw, if py1.is_some() { 2.0 } else { 1.0 }).await;
    // Each notification is timed where it arrives: rmcp's handler stamps the GET stream's, this
    // task the listen stream's, and PythonWatch the Python clients' lines.
    let listen = tokio::spawn(async move {
        let next = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
        (Instant::now(), next, subscription)
    });

    register_url_tool(&http, &gw, &[], "second", &server.url, json!({})).await;
    let returned = Instant::now();

    let on_get = tokio::time::timeout(Duration::from_secs(10), get_stream.recv())
        .await
        .expect("GET stream notified")
        .expect("notification");
    assert!(
        on_get.saturating_duration_since(returned) <= NOTIFY_WITHIN,
        "GET stream after {:?}",
        on_get - returned
    );
    let (on_listen, notification, mut subscription) = listen.await.expect("listen task");
    let notification = notification
        .expect("listen stream notified")
        .expect("stream open")
        .expect("a notification");
    assert!(
        matches!(
            notification,
            ServerNotification::ToolListChangedNotification(_)
        ),
        "{notification:?}"
    );
    assert!(
        on_listen.saturating_duration_since(returned) <= NOTIFY_WITHIN,
        "listen stream after {:?}",
        on_listen - returned
    );
    assert_eq!(names(&session).await, vec!["first", "second"]);
    assert_eq!(names(&modern).await, vec!["first", "second"]);
    for watch in [py1, py2].into_iter().flatten() {
        let label = watch.label.clone();
        let (at, summary) = watch.notified().await;
        assert!(
            at.saturating_duration_since(returned) <= NOTIFY_WITHIN,
            "{label} after {:?}",
            at - returned
        );
        assert_eq!(
            summary["names"],
            json!(["first", "second"]),
            "{label}: {summary}"
        );
    }

    // Without any wait: PUT, DELETE and POST show on the very next call.
    for round in 0..5 {
        let name = format!("fresh-{round}");
        register_url_tool(&http, &gw, &[], &name, &server.url, json!({})).await;
        assert!(
            names(&modern).await.contains(&name),
            "round {round}: new tool missing"
        );
        let result = call(&modern, &name, json!({"location": "Rome"})).await;
        assert!(!is_error(&result), "{result:?}");
        let mut changed = weather_definition(&name);
        changed["description"] = json!(format!("changed {round}"));
        let put = http
            .put(gw.url(&format!("/tools/{name}")))
            .json(&json!({"url": server.url, "toolDefinition": {"tool": changed}}))
            .send()
            .await
            .expect("PUT");
        assert_eq!(
            put.status(),
            StatusCode::OK,
            "{}",
            put.text().await.unwrap_or_default()
        );
        let listed = modern.list_all_tools().await.expect("list");
        let description = listed
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.description.clone())
            .unwrap_or_default();
        assert_eq!(description, format!("changed {round}"));
        let deleted = http
            .delete(gw.url(&format!("/tools/{name}")))
            .send()
            .await
            .expect("DELETE");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let gone = call_error(&modern, &name, json!({"location": "Rome"})).await;
        assert!(gone.contains("Unknown tool"), "{gone}");
    }
    // Those changes were notified too (a redefinition changes what the client sees).
    tokio::time::timeout(Duration::from_secs(10), get_stream.recv())
        .await
        .expect("changes after the first were not notified")
        .expect("the GET stream is open");

    subscription.cancel().await.expect("cancel listen");
    session.cancel().await.expect("close");
    modern.cancel().await.expect("close");
}

#[tokio::test]
async fn two_hundred_fifty_tools_page_through_completely() {
    let stub = common::StubHttp::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    for i in 0..250 {
        register_url_tool(
            &http,
            &gw,
            &[],
            &format!("tool-{i:03}"),
            &stub.url,
            json!({}),
        )
        .await;
    }
    let mcp = gw.url("/mcp");
    let expected: Vec<String> = (0..250).map(|i| format!("tool-{i:03}")).collect();

    // rmcp, page by page: page_size 100 gives 3 pages.
    let session = connect_2026(&mcp, &[]).await;
    let mut cursor = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = session
            .list_tools(Some(
                PaginatedRequestParams::default().with_cursor(cursor.clone()),
            ))
            .await
            .expect("page");
        pages += 1;
        seen.extend(page.tools.iter().map(|t| t.name.to_string()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected, "every tool once, in order");
    assert_eq!(names(&session).await, expected);
    session.cancel().await.expect("close");

    // A cursor that is not ours: -32602.
    let (_, _, messages) = raw(
        &http,
        &mcp,
        &modern_headers("tools/list", None),
        modern(1, "tools/list", json!({"cursor": "not-a-cursor"})),
    )
    .await;
    assert_eq!(messages[0]["error"]["code"], -32602, "{messages:?}");

    // The Python SDK of both majors pages through it all, each tool once.
    for (major, mode) in [(1, "auto"), (2, "auto"), (2, "legacy")] {
        let Some(out) = python_list_all(major, &mcp, mode).await else {
            return;
        };
        assert_eq!(out["pages"], 3, "{major}.x {mode}");
        let names: Vec<String> = serde_json::from_value(out["names"].clone()).expect("names");
        assert_eq!(names, expected, "{major}.x {mode}");
    }
}

#[tokio::test]
async fn callers_see_and_call_only_what_they_may_read() {
    let server = ToolServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    // /metrics open to the test (it counts the GET streams), whoever the dev caller is.
    let gw = Gateway::start(
        dir.path(),
        &config_none(dir.path(), "dev", "[metrics]\npublic = true\n"),
    );
    let http = client();
    let alice = [("x-dev-userid", "alice"), ("x-dev-roles", "")];
    let bob = [("x-dev-userid", "bob"), ("x-dev-roles", "team")];
    register_url_tool(&http, &gw, &alice, "secret", &server.url, json!({})).await;
    register_url_tool(
        &http,
        &gw,
        &alice,
        "shared",
        &server.url,
        json!({"requiredRoles": ["team"]}),
    )
    .await;
    let mcp = gw.url("/mcp");

    let (as_alice, mut alice_changes) = connect_2025(&mcp, &alice).await;
    assert_eq!(names(&as_alice).await, vec!["secret", "shared"]);
    let (as_bob, mut bob_changes) = connect_2025(&mcp, &bob).await;
    assert_eq!(names(&as_bob).await, vec!["shared"]);
    let shared = call(&as_bob, "shared", json!({"location": "Lima"})).await;
    assert!(!is_error(&shared), "{shared:?}");

    // A hidden tool answers exactly as a missing one, in both eras.
    let before = server.calls_reach(1).await;
    let hidden = call_error(&as_bob, "secret", json!({"location": "Lima"})).await;
    let missing = call_error(&as_bob, "nothing", json!({"location": "Lima"})).await;
    assert_eq!(
        hidden.replace("secret", "NAME"),
        missing.replace("nothing", "NAME")
    );
    let bob_modern = connect_2026(&mcp, &bob).await;
    let hidden = call_error(&bob_modern, "secret", json!({"location": "Lima"})).await;
    let missing = call_error(&bob_modern, "nothing", json!({"location": "Lima"})).await;
    assert_eq!(
        hidden.replace("secret", "NAME"),
        missing.replace("nothing", "NAME")
    );
    let raw_hidden = raw(
        &http,
        &mcp,
        &[&bob[..], &modern_headers("tools/call", Some("secret"))].concat(),
        modern(
            7,
            "tools/call",
            json!({"name": "secret", "arguments": {"location": "x"}}),
        ),
    )
    .await;
    let raw_missing = raw(
        &http,
        &mcp,
        &[&bob[..], &modern_headers("tools/call", Some("nothing"))].concat(),
        modern(
            7,
            "tools/call",
            json!({"name": "nothing", "arguments": {"location": "x"}}),
        ),
    )
    .await;
    assert_eq!(raw_hidden.0, raw_missing.0);
    assert_eq!(
        raw_hidden.2[0].to_string().replace("secret", "NAME"),
        raw_missing.2[0].to_string().replace("nothing", "NAME")
    );
    // Then a call bob may make: once the tool server has logged it, it has logged everything
    // before it.
    let sentinel = call(&as_bob, "shared", json!({"location": "Lima"})).await;
    assert!(!is_error(&sentinel), "{sentinel:?}");
    assert_eq!(
        server.calls_reach(before + 1).await,
        before + 1,
        "a hidden tool was called"
    );

    // Alice's new private tool is not bob's business; a shared one is. Both GET streams are
    // open first.
    get_streams_opened(&gw, 2.0).await;
    while bob_changes.try_recv().is_ok() {}
    while alice_changes.try_recv().is_ok() {}
    register_url_tool(&http, &gw, &alice, "private-2", &server.url, json!({})).await;
    // Alice hears of it: the new table went out to every session's follower at once, bob's
    // too. Then a whole round trip of bob's own, which a notification sent to him with alice's
    // would not outlast.
    tokio::time::timeout(Duration::from_secs(10), alice_changes.recv())
        .await
        .expect("alice told about her new tool")
        .expect("alice's stream is open");
    assert_eq!(names(&as_bob).await, vec!["shared"]);
    let shared_sent = Instant::now();
    register_url_tool(
        &http,
        &gw,
        &alice,
        "shared-2",
        &server.url,
        json!({"requiredRoles": ["team"]}),
    )
    .await;
    // Bob's first notification since must be about shared-2: one stamped before it existed
    // could only have been about private-2.
    let told = tokio::time::timeout(Duration::from_secs(10), bob_changes.recv())
        .await
        .expect("bob told about a tool he can see")
        .expect("bob's stream is open");
    assert!(
        told >= shared_sent,
        "bob was told about a tool he cannot see ({:?} before shared-2 was sent)",
        shared_sent - told
    );
    assert_eq!(names(&as_bob).await, vec!["shared", "shared-2"]);

    // Bob cannot use alice's session.
    let (status, headers, _) = raw(&http, &mcp, &alice, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})).await;
    assert_eq!(status, StatusCode::OK);
    let session_id = headers["mcp-session-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let in_session = |user: &'static str, roles: &'static str| {
        vec![
            ("x-dev-userid", user),
            ("x-dev-roles", roles),
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-session-id", session_id.as_str()),
        ]
    };
    let bob_h = in_session("bob", "team");
    let alice_h = in_session("alice", "");
    let (stolen, _, _) = raw(&http, &mcp, &bob_h, list.clone()).await;
    assert_eq!(stolen, StatusCode::NOT_FOUND);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (accepted, _, _) = raw(&http, &mcp, &alice_h, initialized).await;
    assert_eq!(accepted, StatusCode::ACCEPTED);
    let (own, _, messages) = raw(&http, &mcp, &alice_h, list).await;
    assert_eq!(own, StatusCode::OK);
    assert_eq!(
        messages.last().expect("answer")["result"]["tools"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    // DELETE ends it with 204; the id is then unknown.
    let mut delete = http.delete(&mcp);
    for (k, v) in &alice_h {
        delete = delete.header(*k, *v);
    }
    assert_eq!(
        delete.send().await.expect("DELETE").status(),
        StatusCode::NO_CONTENT
    );

    as_alice.cancel().await.expect("close");
    as_bob.cancel().await.expect("close");
    bob_modern.cancel().await.expect("close");
}

#[tokio::test]
async fn tool_server_failures_are_tool_errors_in_words() {
    let server = ToolServer::start();
    // A server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_url = format!("http://{}/score", silent.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &config_none(dir.path(), "none", "[router]\ncall_timeout_secs = 1\n"),
    );
    let http = client();
    // A schema looser than the server's rules, so the tool server itself refuses (400).
    let mut loose = weather_definition("loose");
    loose["inputSchema"]["properties"]["unit"] = json!({"type": "string"});
    assert_eq!(
        register(
            &http,
            &gw,
            &[],
            json!({"name": "loose", "url": server.url, "toolDefinition": {"tool": loose}})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let dead = format!("http://127.0.0.1:{}/score", closed_port());
    register_url_tool(&http, &gw, &[], "dead", &dead, json!({})).await;
    register_url_tool(&http, &gw, &[], "silent", &silent_url, json!({})).await;
    let session = connect_2026(&gw.url("/mcp"), &[]).await;

    let refused = call(
        &session,
        "loose",
        json!({"location": "Oslo", "unit": "kelvin"}),
    )
    .await;
    assert!(is_error(&refused));
    assert!(text(&refused).contains("400"), "{}", text(&refused));
    assert!(
        text(&refused).contains("unit"),
        "the body excerpt: {}",
        text(&refused)
    );

    let unreachable = call(&session, "dead", json!({"location": "Oslo"})).await;
    assert!(is_error(&unreachable));
    assert!(
        text(&unreachable).contains("connection failed"),
        "{}",
        text(&unreachable)
    );

    let started = Instant::now();
    let slow = call(&session, "silent", json!({"location": "Oslo"})).await;
    assert!(is_error(&slow));
    assert!(
        text(&slow).contains("timed out: no answer within 1 s"),
        "{}",
        text(&slow)
    );
    // The configured 1 s, not the default 60 s (a bound far from both, so load cannot decide).
    assert!(started.elapsed() < Duration::from_secs(30));
    session.cancel().await.expect("close");
}

#[tokio::test]
async fn schemas_are_checked_at_registration_and_requests_at_the_door() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    let mut bad = weather_definition("bad");
    bad["inputSchema"]["properties"]["location"] = json!({"type": 5});
    let response = register(
        &http,
        &gw,
        &[],
        json!({"name": "bad", "url": "http://127.0.0.1:9/score", "toolDefinition": {"tool": bad}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await.expect("problem");
    assert!(
        problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["field"] == "toolDefinition.tool.inputSchema"),
        "{problem}"
    );
    let mcp = gw.url("/mcp");

    // Foreign Host (DNS rebinding) and foreign Origin are refused; the gateway's own pass.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, _, _) = raw(&http, &mcp, &[("host", "evil.example:80")], init.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = raw(
        &http,
        &mcp,
        &[("origin", "https://evil.example")],
        init.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let port = gw.base.rsplit(':').next().expect("port").to_string();
    let localhost = format!("localhost:{port}");
    let (status, _, _) = raw(
        &http,
        &mcp,
        &[
            ("host", localhost.as_str()),
            ("origin", "http://localhost:6274"),
        ],
        init,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // 2026-07-28: a Mcp-Method header that contradicts the body is a 400 with -32020; GET and
    // DELETE are 405.
    let (status, _, messages) = raw(
        &http,
        &mcp,
        &modern_headers("tools/call", Some("x")),
        modern(3, "tools/list", json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(messages[0]["error"]["code"], -32020, "{messages:?}");
    let get = http
        .get(&mcp)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    // server/discover advertises tools.listChanged.
    let (status, _, messages) = raw(
        &http,
        &mcp,
        &modern_headers("server/discover", None),
        modern(4, "server/discover", json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        messages[0]["result"]["capabilities"]["tools"]["listChanged"], true,
        "{messages:?}"
    );
    // Documented in /openapi.json.
    let doc: Value = http
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    for method in ["post", "get", "delete"] {
        assert!(
            doc["paths"]["/mcp"][method].is_object(),
            "{method} /mcp undocumented"
        );
    }
}
