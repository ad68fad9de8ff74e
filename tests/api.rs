//! The control-plane API against the real binary (runtime `none`, so no Docker needed here).

mod common;

use common::{Gateway, StubHttp, client, closed_port, config_none};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn adapter_body(name: &str, url: &str) -> Value {
    json!({"name": name, "url": url, "description": "test adapter", "requiredRoles": ["readers"]})
}

fn tool_body(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "url": url,
        "description": "test tool",
        "requiredRoles": ["readers"],
        "toolDefinition": {"tool": {"name": name, "description": "d", "inputSchema": {"type": "object"}}}
    })
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are problem documents"
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// Runs the full route matrix for one collection.
async fn route_matrix(collection: &str, body: fn(&str, &str) -> Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    let upstream = StubHttp::start();
    let base = gw.url(&format!("/{collection}"));

    // Create: 201 + Location + server-set fields.
    let response = http
        .post(&base)
        .json(&body("one", &upstream.url))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], format!("/{collection}/one"));
    let created: Value = response.json().await.expect("json");
    assert_eq!(created["id"], "one");
    assert_eq!(created["createdBy"], "local");
    assert_eq!(created["source"], "api");
    assert_eq!(created["replicaCount"], 1);
    assert_eq!(created["createdAt"], created["lastUpdatedAt"]);

    // Duplicate: 409.
    let response = http
        .post(&base)
        .json(&body("one", &upstream.url))
        .send()
        .await
        .expect("post");
    let p = problem(response, StatusCode::CONFLICT).await;
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("already exists")
    );

    // Invalid: 400 naming every field.
    let response = http
        .post(&base)
        .json(&json!({"name": "Bad Name", "url": "ftp://x", "replicaCount": -1, "extra": 1}))
        .send()
        .await
        .expect("post");
    let p = problem(response, StatusCode::BAD_REQUEST).await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    for field in ["name", "url", "replicaCount", "extra"] {
        assert!(fields.contains(&field), "{field} not named in {p}");
    }

    // Image-based with runtime none: 400 saying why.
    let mut image = body("img", &upstream.url);
    image.as_object_mut().expect("object").remove("url");
    image["imageName"] = json!("mcp-example");
    let p = problem(
        http.post(&base).json(&image).send().await.expect("post"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("runtime.kind = \\\"none\\\"")
            || p["detail"]
                .as_str()
                .expect("detail")
                .contains("runtime.kind = \"none\""),
        "{p}"
    );

    // Not JSON, wrong content type, too large.
    let response = http
        .post(&base)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    problem(response, StatusCode::BAD_REQUEST).await;
    let response = http
        .post(&base)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("post");
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let mut huge = body("huge", &upstream.url);
    huge["description"] = json!("x".repeat(1 << 20));
    let response = http.post(&base).json(&huge).send().await.expect("post");
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(
        http.get(format!("{base}/huge"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::NOT_FOUND
    );

    // Get and list.
    let got: Value = http
        .get(format!("{base}/one"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got, created);
    problem(
        http.get(format!("{base}/nope")).send().await.expect("get"),
        StatusCode::NOT_FOUND,
    )
    .await;
    let listed: Vec<Value> = http
        .get(&base)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed, vec![created.clone()]);

    // Status of a url resource: one instance, reachable.
    let status: Value = http
        .get(format!("{base}/one/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["replicaStatus"], "Healthy", "{status}");
    assert_eq!(status["readyReplicas"], 1);
    assert_eq!(status["replicas"][0]["ready"], true);
    problem(
        http.get(format!("{base}/nope/status"))
            .send()
            .await
            .expect("status"),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Logs: a url resource has none (404 with a reason); bad query is 400; missing is 404.
    let p = problem(
        http.get(format!("{base}/one/logs"))
            .send()
            .await
            .expect("logs"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("remote server"),
        "{p}"
    );
    problem(
        http.get(format!("{base}/one/logs?instance=x"))
            .send()
            .await
            .expect("logs"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        http.get(format!("{base}/nope/logs"))
            .send()
            .await
            .expect("logs"),
        StatusCode::NOT_FOUND,
    )
    .await;

    // A url that does not answer: Degraded, with the reason in words.
    let dead = format!("http://127.0.0.1:{}/mcp", closed_port());
    let response = http
        .post(&base)
        .json(&body("dead", &dead))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    let status: Value = http
        .get(format!("{base}/dead/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["replicaStatus"], "Degraded: 0/1 ready", "{status}");
    assert!(
        status["message"]
            .as_str()
            .expect("message")
            .contains("does not answer"),
        "{status}"
    );

    // Update keeps createdBy/createdAt and moves lastUpdatedAt.
    let mut changed = body("one", &upstream.url);
    changed["description"] = json!("changed");
    changed.as_object_mut().expect("object").remove("name");
    let response = http
        .put(format!("{base}/one"))
        .json(&changed)
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.expect("json");
    assert_eq!(updated["description"], "changed");
    assert_eq!(updated["createdBy"], created["createdBy"]);
    assert_eq!(updated["createdAt"], created["createdAt"]);
    assert!(
        updated["lastUpdatedAt"].as_str() > created["lastUpdatedAt"].as_str(),
        "{updated}"
    );
    // Renaming through PUT, invalid PUT, PUT of a missing resource.
    let mut renamed = body("other", &upstream.url);
    renamed["name"] = json!("other");
    problem(
        http.put(format!("{base}/one"))
            .json(&renamed)
            .send()
            .await
            .expect("put"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        http.put(format!("{base}/one"))
            .json(&json!({"url": "nope"}))
            .send()
            .await
            .expect("put"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        http.put(format!("{base}/nope"))
            .json(&body("nope", &upstream.url))
            .send()
            .await
            .expect("put"),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Delete: 204, then 404.
    assert_eq!(
        http.delete(format!("{base}/one"))
            .send()
            .await
            .expect("delete")
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        http.delete(format!("{base}/one"))
            .send()
            .await
            .expect("delete"),
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        http.get(format!("{base}/one")).send().await.expect("get"),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn adapters_route_matrix() {
    route_matrix("adapters", adapter_body).await;
}

#[tokio::test]
async fn tools_route_matrix() {
    route_matrix("tools", tool_body).await;
}

#[tokio::test]
async fn tool_specific_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    let mut body = tool_body("weather", "http://127.0.0.1:1/score");
    body["toolDefinition"]["tool"]["name"] = json!("other");
    body["toolDefinition"]["tool"]["inputSchema"] = json!({"type": "array"});
    let p = problem(
        http.post(gw.url("/tools"))
            .json(&body)
            .send()
            .await
            .expect("post"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let text = p.to_string();
    assert!(
        text.contains("toolDefinition.tool.name")
            && text.contains("toolDefinition.tool.inputSchema"),
        "{p}"
    );
    // An adapter body posted to /tools lacks a toolDefinition.
    let p = problem(
        http.post(gw.url("/tools"))
            .json(&adapter_body("w", "http://127.0.0.1:1/"))
            .send()
            .await
            .expect("post"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(p.to_string().contains("toolDefinition"), "{p}");
    // Same name in both collections is fine: they are separate namespaces.
    let a = http
        .post(gw.url("/adapters"))
        .json(&adapter_body("same", "http://127.0.0.1:1/"))
        .send()
        .await
        .expect("post");
    let t = http
        .post(gw.url("/tools"))
        .json(&tool_body("same", "http://127.0.0.1:1/"))
        .send()
        .await
        .expect("post");
    assert_eq!(
        (a.status(), t.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
}

#[tokio::test]
async fn health_readiness_openapi_and_unknown_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();
    assert_eq!(
        http.get(gw.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(gw.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        StatusCode::OK
    );
    let doc: Value = http
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for (path, method) in [
        ("/adapters", "post"),
        ("/adapters", "get"),
        ("/adapters/{name}", "get"),
        ("/adapters/{name}", "put"),
        ("/adapters/{name}", "delete"),
        ("/adapters/{name}/status", "get"),
        ("/adapters/{name}/logs", "get"),
        ("/tools", "post"),
        ("/tools", "get"),
        ("/tools/{name}", "get"),
        ("/tools/{name}", "put"),
        ("/tools/{name}", "delete"),
        ("/tools/{name}/status", "get"),
        ("/tools/{name}/logs", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from openapi.json"
        );
    }
    let resource = doc["components"]["schemas"]["Resource"].to_string();
    assert!(
        resource.contains("createdBy") && resource.contains("#/components/schemas/ResourceSpec"),
        "{resource}"
    );
    problem(
        http.get(gw.url("/nothing/here")).send().await.expect("get"),
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// The adapter names the gateway lists, through a fresh client (a restarted gateway must not meet
/// a connection pooled from its previous life).
async fn adapter_names(gw: &Gateway) -> Vec<String> {
    client()
        .get(gw.url("/adapters"))
        .send()
        .await
        .expect("list")
        .json::<Vec<Value>>()
        .await
        .expect("json")
        .iter()
        .map(|a| a["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn restart_and_kill_9_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_none(dir.path(), "none", "");
    let http = client();
    let gw = Gateway::start(dir.path(), &config);
    for name in ["a", "b"] {
        let r = http
            .post(gw.url("/adapters"))
            .json(&adapter_body(name, "http://127.0.0.1:1/"))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    drop(gw); // graceful enough: SIGKILL via Drop, after answers were received

    let gw = Gateway::start_with(&dir.path().join("config.toml"), &[]);
    let names = adapter_names(&gw).await;
    assert_eq!(names, vec!["a", "b"]);
    let http = client();

    // kill -9 immediately after a 201 and a 204: both are on disk.
    let r = http
        .post(gw.url("/adapters"))
        .json(&adapter_body("c", "http://127.0.0.1:1/"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http
        .delete(gw.url("/adapters/a"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    gw.kill9();

    let gw = Gateway::start_with(&dir.path().join("config.toml"), &[]);
    let names = adapter_names(&gw).await;
    assert_eq!(names, vec!["b", "c"]);
}

#[tokio::test]
async fn concurrent_creates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    let http = client();

    let different = (0..50).map(|i| {
        let http = http.clone();
        let url = gw.url("/adapters");
        async move {
            http.post(url)
                .json(&adapter_body(&format!("a{i}"), "http://127.0.0.1:1/"))
                .send()
                .await
                .expect("post")
                .status()
        }
    });
    let statuses = futures_join_all(different).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );

    let same = (0..50).map(|_| {
        let http = http.clone();
        let url = gw.url("/adapters");
        async move {
            http.post(url)
                .json(&adapter_body("same", "http://127.0.0.1:1/"))
                .send()
                .await
                .expect("post")
                .status()
        }
    });
    let statuses = futures_join_all(same).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");

    let listed: Vec<Value> = http
        .get(gw.url("/adapters"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed.len(), 51);
}

/// Runs futures concurrently on the test runtime (spawned, so they truly overlap).
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn config_resources_are_owned_by_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = "[[adapters]]\nname = \"declared\"\nurl = \"http://127.0.0.1:1/mcp\"\nrequired_roles = [\"team\"]\n";
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", extra));
    let http = client();
    let got: Value = http
        .get(gw.url("/adapters/declared"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (got["source"].as_str(), got["createdBy"].as_str()),
        (Some("config"), Some("config"))
    );
    assert_eq!(got["requiredRoles"], json!(["team"]));
    let r = http
        .put(gw.url("/adapters/declared"))
        .json(&adapter_body("declared", "http://127.0.0.1:2/"))
        .send()
        .await
        .expect("put");
    problem(r, StatusCode::CONFLICT).await;
    problem(
        http.delete(gw.url("/adapters/declared"))
            .send()
            .await
            .expect("delete"),
        StatusCode::CONFLICT,
    )
    .await;
    drop(gw);

    // Removing it from the file removes it at the next start.
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "none", ""));
    problem(
        http.get(gw.url("/adapters/declared"))
            .send()
            .await
            .expect("get"),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn dev_mode_permissions_and_filtered_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &config_none(dir.path(), "dev", ""));
    let http = client();
    let as_user = |req: reqwest::RequestBuilder, user: &str, roles: &str| {
        req.header("X-Dev-UserId", user)
            .header("X-Dev-Roles", roles)
    };
    let r = as_user(http.post(gw.url("/adapters")), "alice", "")
        .json(&adapter_body("alices", "http://127.0.0.1:1/"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["createdBy"], "alice");

    // bob: no read, no write, empty list.
    problem(
        as_user(http.get(gw.url("/adapters/alices")), "bob", "")
            .send()
            .await
            .expect("get"),
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        as_user(http.delete(gw.url("/adapters/alices")), "bob", "")
            .send()
            .await
            .expect("delete"),
        StatusCode::FORBIDDEN,
    )
    .await;
    let listed: Vec<Value> = as_user(http.get(gw.url("/adapters")), "bob", "")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(listed.is_empty());
    // bob with a listed role reads but cannot write.
    let r = as_user(http.get(gw.url("/adapters/alices")), "bob", "readers")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Vec<Value> = as_user(http.get(gw.url("/adapters")), "bob", "readers")
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed.len(), 1);
    problem(
        as_user(http.put(gw.url("/adapters/alices")), "bob", "readers")
            .json(&adapter_body("alices", "http://127.0.0.1:2/"))
            .send()
            .await
            .expect("put"),
        StatusCode::FORBIDDEN,
    )
    .await;
    // useWorkloadIdentity needs admin.
    let mut wi = adapter_body("wi", "http://127.0.0.1:1/");
    wi["useWorkloadIdentity"] = json!(false);
    assert_eq!(
        as_user(http.post(gw.url("/adapters")), "bob", "")
            .json(&wi)
            .send()
            .await
            .expect("post")
            .status(),
        StatusCode::CREATED
    );
    // Asking for a workload identity without the admin role is refused as a permission (403),
    // whatever else the body holds: on an image resource (which runtime none would refuse with
    // a 400 after the guard), on a url resource, and on an update.
    let image_wi = json!({"name": "wi2", "imageName": "mcp-example", "useWorkloadIdentity": true});
    let mut url_wi = adapter_body("wi3", "http://127.0.0.1:1/");
    url_wi["useWorkloadIdentity"] = json!(true);
    for body in [&image_wi, &url_wi] {
        let refused = problem(
            as_user(http.post(gw.url("/adapters")), "bob", "")
                .json(body)
                .send()
                .await
                .expect("post"),
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            refused["detail"]
                .as_str()
                .is_some_and(|d| d.contains("admin role")),
            "{refused}"
        );
    }
    let mut put_wi = adapter_body("wi", "http://127.0.0.1:1/");
    put_wi["useWorkloadIdentity"] = json!(true);
    problem(
        as_user(http.put(gw.url("/adapters/wi")), "bob", "")
            .json(&put_wi)
            .send()
            .await
            .expect("put"),
        StatusCode::FORBIDDEN,
    )
    .await;
    // The admin passes the guard (and meets the runtime's own rule: runtime none deploys no
    // image, and a url resource has no workload).
    for body in [&image_wi, &url_wi] {
        let r = as_user(http.post(gw.url("/adapters")), "root", "mcp.admin")
            .json(body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    // admin does everything.
    let r = as_user(http.put(gw.url("/adapters/alices")), "root", "mcp.admin")
        .json(&adapter_body("alices", "http://127.0.0.1:2/"))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.expect("json");
    assert_eq!(
        updated["createdBy"], "alice",
        "an admin's update keeps the creator"
    );
    assert_eq!(
        as_user(http.delete(gw.url("/adapters/alices")), "root", "mcp.admin")
            .send()
            .await
            .expect("delete")
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[test]
fn check_reports_unknown_keys_with_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:8000\"\n\n[auth]\nmode = \"none\"\nadmn_role = \"x\"\n",
    )
    .expect("write");
    let (code, _, stderr) = common::run(&["check", "--config", path.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("admn_role") && stderr.contains("line 6"),
        "{stderr}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, config_none(dir.path(), "none", "")).expect("write");
    let (code, stdout, stderr) = common::run(&["check", "--config", good.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("valid"), "{stdout}");

    // The repository's config.toml is valid as shipped.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let (code, _, stderr) = common::run(&["check", "--config", shipped]);
    assert_eq!(code, 0, "{stderr}");

    // A missing explicit file is an error, not silent defaults.
    let (code, _, stderr) = common::run(&["check", "--config", "/nonexistent/config.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn no_auth_off_loopback_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    for mode in ["none", "dev"] {
        std::fs::write(&path, config_none(dir.path(), mode, "")).expect("write");
        let (code, _, stderr) = common::run(&[
            "serve",
            "--config",
            path.to_str().expect("utf8"),
            "--listen",
            "0.0.0.0:0",
        ]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("loopback"), "{stderr}");
    }
}
