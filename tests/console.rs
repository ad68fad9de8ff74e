//! The web console (`/ui`) in a real browser: Debian's headless Chromium, driven over the
//! DevTools protocol (tests/common/browser.rs), against the real binary. It creates, watches,
//! inspects, calls and deletes an adapter deployed by Docker, registers the weather tool and
//! calls it through `/mcp`, and checks sign-in and permissions with JWT auth.
//!
//! Screenshots of each page go to `target/console-screenshots/` (git-ignored). Without
//! chromium or Docker the browser tests skip, unless `MCP_GATEWAY_REQUIRE_DOCKER=1` or `CI` is
//! set: then they fail.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use common::browser::{Page, browser_or_skip};
use common::docker::{DEPLOY_TIMEOUT, DockerGateway, engine_or_skip};
use common::{Gateway, StubHttp, client};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Saves `name.png`: the page from its top, at most 1150 pixels tall (the README shows them).
fn screenshot(page: &Page<'_>, name: &str) {
    screenshot_at_most(page, name, 1150.0);
}

fn screenshot_at_most(page: &Page<'_>, name: &str, height: f64) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    page.screenshot(&dir.join(format!("{name}.png")), height);
}

/// Fails on what must never happen in the console: a script error or a CSP violation (which
/// would mean something inline slipped in). Failed HTTP answers the test provoked are fine.
fn assert_no_page_errors(problems: &[String]) {
    let bad: Vec<_> = problems
        .iter()
        .filter(|p| p.starts_with("exception") || p.contains("Content Security Policy"))
        .collect();
    assert!(bad.is_empty(), "the console had errors: {bad:#?}");
}

#[tokio::test]
async fn the_console_is_embedded_and_served_with_a_strict_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &common::config_none(dir.path(), "none", ""));
    let http = client();
    let page = http.get(gw.url("/ui")).send().await.expect("GET /ui");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_string();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let etag = page.headers()["etag"].clone();
    let html = page.text().await.expect("body");
    assert!(html.contains("/ui/app.js") && !html.contains("<script>"));

    let script = http.get(gw.url("/ui/app.js")).send().await.expect("app.js");
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/javascript")
    );
    assert!(script.headers().contains_key("content-security-policy"));
    let again = http
        .get(gw.url("/ui"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let missing = http
        .get(gw.url("/ui/nope.js"))
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let doc: Value = http
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/ui"]["get"].is_object());
    let follow = doc["paths"]["/adapters/{name}/logs"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .any(|p| p["name"] == "follow");
    assert!(follow, "the logs route documents follow");
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_inspect_call_and_delete_from_the_browser() {
    let test = "deploy_inspect_call_and_delete_from_the_browser";
    let Some(docker) = engine_or_skip(test).await else {
        return;
    };
    let Some(browser) = browser_or_skip(test) else {
        return;
    };
    let gw = DockerGateway::start(&docker);
    let page = browser.page(1280, 900);

    // Keyboard first: the first Tab reaches the skip link, Enter moves focus into the page.
    page.goto(&gw.url("/ui"));
    page.wait_for(
        "the overview",
        "document.querySelector('h1')?.innerText === 'Overview'",
    );
    page.key("Tab");
    page.wait_for(
        "the skip link focused",
        "document.activeElement?.classList.contains('skip')",
    );

    adapter_lifecycle(&page, &gw).await;
    weather_through_the_router(&page, &gw).await;
    assert_no_page_errors(&browser.problems.lock().expect("problems"));
}

async fn adapter_lifecycle(page: &Page<'_>, gw: &DockerGateway) {
    // A bad name first: the API's field error appears next to the field.
    page.goto(&gw.url("/ui#/new/adapter"));
    page.wait_text("h1", "New adapter");
    page.fill("[data-field=name] input", "Bad_Name");
    page.fill("[data-field=imageName] input", "mcp-example");
    page.fill("[data-field=imageVersion] input", "1.0.0");
    page.click_text("Create adapter");
    page.wait_for(
        "the name's field error",
        "!document.querySelector('[data-field=name] .field-error').hidden",
    );
    let error = page.text("[data-field=name] .field-error");
    assert!(
        error.contains("lowercase") || error.contains("a-z"),
        "{error}"
    );
    assert_eq!(
        page.eval("document.querySelector('[data-field=name] input').getAttribute('aria-invalid')"),
        Ok(json!("true"))
    );
    screenshot(page, "create-field-error");

    page.fill("[data-field=name] input", "ui-example");
    page.click_text("Create adapter");
    page.wait_for(
        "the detail page",
        "location.hash === '#/adapters/ui-example'",
    );

    // Ready, in words, with its replica.
    page.wait_for_within(
        "ui-example ready",
        "document.querySelector('.status-line')?.innerText.includes('Healthy') && document.querySelector('dl.facts dd')?.innerText === '1 of 1'",
        DEPLOY_TIMEOUT,
    );
    page.wait_text("table.replicas", "ready");
    // Logs, followed while the page is open: a call made elsewhere shows up without a reload.
    page.wait_text("pre.logs", "mcp-example listening on");
    let url = gw.url("/adapters/ui-example/mcp");
    let sum = common::mcp::call_once(&url, "add", json!({"a": 1, "b": 2}))
        .await
        .expect("call add");
    assert_eq!(common::mcp::text(&sum), "3");
    page.wait_text("pre.logs", "tool call: add");
    // Metrics of this adapter (auth none: the caller is the admin).
    page.wait_text("table.metrics", "mcp_gateway_proxy_requests_total");
    screenshot(page, "detail");

    // The overview, at laptop and phone widths.
    page.goto(&gw.url("/ui#/"));
    page.wait_text("tr[data-name=ui-example]", "Healthy");
    assert!(page.text("tr[data-name=ui-example]").contains("1 / 1"));
    screenshot(page, "overview");
    page.resize(390, 800);
    page.wait_text("tr[data-name=ui-example]", "Healthy");
    screenshot(page, "overview-narrow");
    page.resize(1280, 900);

    // The playground: a form from add's inputSchema, 40 + 2.
    page.goto(&gw.url("/ui#/playground/adapters/ui-example"));
    page.click("button.tool[data-tool=add]");
    page.fill("[data-field=a] input", "40");
    page.fill("[data-field=b] input", "2");
    page.click_text("Call add");
    page.wait_text(".answer pre.content", "42");
    assert_eq!(page.text(".answer pre.content").trim(), "42");
    assert!(page.text("pre.structured").contains("\"sum\": 42"));
    assert!(page.text(".timing").starts_with("Answered in"));
    screenshot(page, "playground");

    // Progress notifications, shown as they arrive over SSE.
    page.click("button.tool[data-tool=slow]");
    page.fill("[data-field=steps] input", "3");
    page.fill("[data-field=delayMs] input", "150");
    page.click_text("Call slow");
    page.wait_for(
        "3 progress steps",
        "document.querySelectorAll('ol.progress li').length >= 3",
    );
    page.wait_for("slow's answer", "document.querySelector('.timing')");

    // What a client needs, for the router and this adapter.
    page.goto(&gw.url("/ui#/connect"));
    page.wait_text(".snippet pre", "/adapters/ui-example/mcp");
    assert!(page.text(".snippet pre").contains("\"type\": \"http\""));
    screenshot(page, "connect");

    // Delete, after confirming (the dialog dims what the viewport shows).
    page.goto(&gw.url("/ui#/adapters/ui-example"));
    page.click_text("Delete");
    page.wait_for(
        "the confirmation",
        "document.getElementById('confirm').open",
    );
    screenshot_at_most(page, "delete-confirm", 900.0);
    page.click("#confirm-ok");
    page.wait_for("the overview", "location.hash === '#/'");
    let gone = client()
        .get(gw.url("/adapters/ui-example"))
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

async fn weather_through_the_router(page: &Page<'_>, gw: &DockerGateway) {
    page.goto(&gw.url("/ui#/new/tool"));
    page.wait_text("h1", "New tool");
    page.fill("[data-field=name] input", "weather");
    page.fill("[data-field=imageName] input", "tool-example");
    page.fill("[data-field=imageVersion] input", "1.0.0");
    page.fill(
        "[data-field='toolDefinition.tool.description'] textarea",
        "Current weather for a location",
    );
    let schema = json!({"type": "object", "required": ["location"],
        "properties": {"location": {"type": "string", "description": "City name"},
                       "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]}}});
    page.fill(
        "[data-field='toolDefinition.tool.inputSchema'] textarea",
        &serde_json::to_string_pretty(&schema).expect("json"),
    );
    page.wait_text(".json-tools", "Valid JSON");
    screenshot(page, "create-tool");
    page.click_text("Create tool");
    page.wait_for("the tool's page", "location.hash === '#/tools/weather'");
    page.wait_for_within(
        "weather ready",
        "document.querySelector('.status-line')?.innerText.includes('Healthy')",
        DEPLOY_TIMEOUT,
    );

    // Edit: a new description, kept by a PUT of everything else as it was.
    page.goto(&gw.url("/ui#/tools/weather/edit"));
    page.wait_text("h1", "Edit tool weather");
    page.fill(
        "[data-field=description] textarea",
        "Canned forecasts for tests",
    );
    page.click_text("Save");
    page.wait_for("the tool's page", "location.hash === '#/tools/weather'");
    page.wait_text("main", "Canned forecasts for tests");

    page.goto(&gw.url("/ui#/playground/mcp"));
    page.click("button.tool[data-tool=weather]");
    page.fill("[data-field=location] input", "Seattle");
    page.select("[data-field=unit] select", "celsius");
    page.click_text("Call weather");
    page.wait_text(".answer pre.content", "22.2");
    assert!(page.text(".answer pre.content").contains("Seattle"));
    screenshot(page, "playground-router");

    let delete = client()
        .delete(gw.url("/tools/weather"))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
}

// ---- JWT: sign-in, what a reader sees, and the API's 403 in words ----

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/auth");
const ISSUER: &str = "https://login.example.test/tenant/v2.0";

fn token(user: &str, roles: &[&str], aud: &str) -> String {
    token_from(ISSUER, user, roles, aud)
}

fn token_from(issuer: &str, user: &str, roles: &[&str], aud: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({"iss": issuer, "aud": aud, "oid": user, "roles": roles,
                        "iat": now, "nbf": now - 10, "exp": now + 3600});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let key = std::fs::read(format!("{FIXTURES}/rsa.pem")).expect("fixture key");
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(&key).expect("rsa key"),
    )
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread")]
async fn with_jwt_the_console_signs_in_and_shows_what_the_api_allows() {
    let Some(browser) =
        browser_or_skip("with_jwt_the_console_signs_in_and_shows_what_the_api_allows")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[store]\npath = \"{}\"\n[runtime]\nkind = \"none\"\n[upstreams]\nallow_loopback = true\n\
         [auth]\nmode = \"jwt\"\n[auth.jwt]\nissuer = \"{ISSUER}\"\njwks_file = \"{FIXTURES}/jwks.json\"\n",
        dir.path().join("gw.db").display()
    );
    let gw = Gateway::start(dir.path(), &config);
    let admin = token("admin", &["mcp.admin"], &gw.base);
    let reader = token("reader", &["team-a"], &gw.base);
    let upstream = StubHttp::start();
    let http = client();
    for (name, roles) in [
        ("team-a-server", json!(["team-a"])),
        ("private-server", json!([])),
    ] {
        let created = http
            .post(gw.url("/adapters"))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "url": format!("{}/mcp", upstream.url), "requiredRoles": roles}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), StatusCode::CREATED, "{name}");
    }

    // Without a token the console asks for one.
    let page = browser.page(1280, 900);
    page.goto(&gw.url("/ui"));
    page.wait_for("the sign-in page", "location.hash === '#/signin'");
    page.wait_text("h1", "Sign in");
    page.wait_text(".signin", "login.example.test");
    screenshot(&page, "signin");

    // A bad token is refused in words; the reader's is accepted and kept for this tab only.
    page.fill(".signin textarea", "not-a-token");
    page.click_text("Sign in");
    page.wait_text("#signin-status", "refused this token");
    page.fill(".signin textarea", &reader);
    page.click_text("Sign in");
    page.wait_text("tr[data-name=team-a-server]", "team-a-server");
    assert!(
        !page.text("main").contains("private-server"),
        "the reader sees only what the API shows"
    );
    assert!(page.text("#who").contains("reader"));
    assert_eq!(
        page.eval("[localStorage.length, document.cookie, sessionStorage.length]"),
        Ok(json!([0, "", 1])),
        "the token lives in sessionStorage only"
    );

    // A write the reader may not do: the API's 403 message, shown as it is.
    page.click("tr[data-name=team-a-server] a");
    page.wait_text("h1", "team-a-server");
    page.wait_text("#metrics-h + div", "needs the admin role");
    page.click_text("Delete");
    page.wait_for(
        "the confirmation",
        "document.getElementById('confirm').open",
    );
    page.click("#confirm-ok");
    page.wait_text("[role=alert]", "403");
    let message = page.text("[role=alert]");
    assert!(
        message.contains("only the creator (admin) or an admin may delete"),
        "{message}"
    );
    screenshot(&page, "forbidden");
    let still_there = http
        .get(gw.url("/adapters/team-a-server"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get");
    assert_eq!(still_there.status(), StatusCode::OK);

    // Signing out forgets the token.
    page.click_text("Sign out");
    page.wait_for(
        "signed out",
        "location.hash === '#/signin' && sessionStorage.length === 0",
    );
    assert_no_page_errors(&browser.problems.lock().expect("problems"));
}

/// A loopback OpenID provider for one sign-in: discovery, an authorization endpoint that
/// approves at once (keeping the PKCE challenge), and a token endpoint that checks the verifier
/// against it (SHA-256, by `sha256sum`) before it mints an access token for the gateway.
struct Provider {
    issuer: String,
    /// The gateway's origin: the token's audience, known once the gateway listens.
    audience: Arc<Mutex<String>>,
    /// What the token endpoint concluded, if it was called.
    verdict: Arc<Mutex<Option<Result<(), String>>>>,
}

impl Provider {
    async fn start() -> Provider {
        use axum::extract::Query;
        use axum::response::{IntoResponse, Redirect};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let audience = Arc::new(Mutex::new(String::new()));
        let verdict = Arc::new(Mutex::new(None));
        let challenge = Arc::new(Mutex::new(String::new()));
        let cors = [("access-control-allow-origin", "*")];
        let discovery = json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
                               "token_endpoint": format!("{issuer}/token"), "response_types_supported": ["code"],
                               "code_challenge_methods_supported": ["S256"]});
        let kept = challenge.clone();
        let (minted_for, checked, iss) = (audience.clone(), verdict.clone(), issuer.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { (cors, axum::Json(discovery)) }),
            )
            .route(
                "/authorize",
                axum::routing::get(move |Query(q): Query<HashMap<String, String>>| async move {
                    assert_eq!(
                        q.get("code_challenge_method").map(String::as_str),
                        Some("S256")
                    );
                    assert_eq!(q.get("client_id").map(String::as_str), Some("console-test"));
                    *kept.lock().expect("lock") = q["code_challenge"].clone();
                    Redirect::to(&format!(
                        "{}?code=the-code&state={}",
                        q["redirect_uri"], q["state"]
                    ))
                }),
            )
            .route(
                "/token",
                axum::routing::post(move |body: String| async move {
                    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
                        .into_owned()
                        .collect();
                    let expected = challenge.lock().expect("lock").clone();
                    let result = check_token_request(&form, &expected);
                    let ok = result.is_ok();
                    *checked.lock().expect("lock") = Some(result);
                    if !ok {
                        return (
                            StatusCode::BAD_REQUEST,
                            cors,
                            axum::Json(json!({"error": "invalid_grant"})),
                        )
                            .into_response();
                    }
                    let aud = minted_for.lock().expect("lock").clone();
                    let access = token_from(&iss, "pkce-user", &["mcp.admin"], &aud);
                    (
                        cors,
                        axum::Json(json!({"access_token": access, "token_type": "Bearer"})),
                    )
                        .into_response()
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider {
            issuer,
            audience,
            verdict,
        }
    }
}

/// RFC 7636: BASE64URL(SHA256(code_verifier)) must equal the challenge sent to /authorize.
fn check_token_request(form: &HashMap<String, String>, challenge: &str) -> Result<(), String> {
    use base64::Engine;
    use std::io::Write;
    if form.get("grant_type").map(String::as_str) != Some("authorization_code")
        || form.get("code").map(String::as_str) != Some("the-code")
    {
        return Err(format!("not the code grant that was given: {form:?}"));
    }
    let verifier = form.get("code_verifier").ok_or("no code_verifier")?;
    let mut sha = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| format!("sha256sum: {err}"))?;
    sha.stdin
        .take()
        .ok_or("stdin")?
        .write_all(verifier.as_bytes())
        .map_err(|err| err.to_string())?;
    let out = sha.wait_with_output().map_err(|err| err.to_string())?;
    let hex = String::from_utf8_lossy(&out.stdout);
    let digest: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_default())
        .collect();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    if computed == challenge {
        Ok(())
    } else {
        Err(format!(
            "verifier does not match the challenge ({computed} != {challenge})"
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_jwt_the_console_signs_in_with_the_authorization_code_and_pkce() {
    let Some(browser) =
        browser_or_skip("with_jwt_the_console_signs_in_with_the_authorization_code_and_pkce")
    else {
        return;
    };
    let provider = Provider::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[store]\npath = \"{}\"\n[runtime]\nkind = \"none\"\n[auth]\nmode = \"jwt\"\n[auth.jwt]\n\
         issuer = \"{}\"\njwks_file = \"{FIXTURES}/jwks.json\"\n[console]\noauth_client_id = \"console-test\"\n",
        dir.path().join("gw.db").display(),
        provider.issuer
    );
    let gw = Gateway::start(dir.path(), &config);
    *provider.audience.lock().expect("lock") = gw.base.clone();

    let page = browser.page(1280, 900);
    page.goto(&gw.url("/ui#/connect"));
    page.wait_for("the sign-in page", "location.hash === '#/signin'");
    page.wait_text("#oauth-signin", "Sign in with 127.0.0.1");
    screenshot(&page, "signin-pkce");
    page.click("#oauth-signin");
    // Off to the provider and back: the code is traded for a token, the address cleaned up,
    // and the page the user was going to is shown.
    page.wait_for(
        "back, signed in",
        "location.pathname === '/ui' && location.search === '' && location.hash === '#/connect'",
    );
    page.wait_text("#who", "pkce-user");
    page.wait_text("h1", "Connect a client");
    assert_eq!(
        provider.verdict.lock().expect("lock").clone(),
        Some(Ok(())),
        "the token endpoint checked the PKCE verifier"
    );
    assert_no_page_errors(&browser.problems.lock().expect("problems"));
}

#[test]
fn the_console_sign_in_client_needs_jwt_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[runtime]\nkind = \"none\"\n[console]\noauth_client_id = \"console\"\n",
    )
    .expect("write");
    let (code, _, stderr) = common::run(&["check", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("line 4: oauth_client_id") && stderr.contains("auth.mode = \"jwt\""),
        "{stderr}"
    );
}
