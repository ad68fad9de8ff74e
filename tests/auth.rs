//! JWT authentication and the permission rules, against the real binary. Keys are test fixtures
//! (tests/fixtures/auth); the one "network" peer is a loopback OIDC issuer the test runs itself.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Gateway, client};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/auth");
const ISSUER: &str = "https://login.example.test/tenant/v2.0";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Claims for `user` with `roles`, valid for an hour, for audience `aud`.
fn claims(user: &str, roles: &[&str], aud: &str) -> Value {
    json!({"iss": ISSUER, "aud": aud, "oid": user, "sub": format!("sub-{user}"),
           "roles": roles, "iat": now(), "nbf": now() - 10, "exp": now() + 3600})
}

fn sign_rsa(claims: &Value, kid: &str, pem: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(&fixture(pem)).expect("rsa key"),
    )
    .expect("sign")
}

fn sign_ec(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(&fixture("ec.pem")).expect("ec key"),
    )
    .expect("sign")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A `jwt` config. Its `url` resources point at 127.0.0.1, which the upstream address policy
/// refuses by default outside `none`/`dev` mode, so loopback is allowed here.
fn jwt_config(dir: &std::path::Path, key_source: &str) -> String {
    format!(
        "[store]\npath = \"{}\"\n[runtime]\nkind = \"none\"\n[upstreams]\nallow_loopback = true\n[auth]\nmode = \"jwt\"\n[auth.jwt]\nissuer = \"{ISSUER}\"\nscopes = [\"mcp.use\"]\n{key_source}\n",
        dir.join("gw.db").display()
    )
}

fn start_with_file() -> (tempfile::TempDir, Gateway) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = jwt_config(dir.path(), &format!("jwks_file = \"{FIXTURES}/jwks.json\""));
    let gw = Gateway::start(dir.path(), &config);
    (dir, gw)
}

async fn get(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn every_bad_token_is_401_with_the_metadata_challenge() {
    let (_dir, gw) = start_with_file();
    let aud = gw.base.clone();
    let good = claims("alice", &[], &aud);
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    let mut early = good.clone();
    early["nbf"] = json!(now() + 3600);
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example.test");
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("https://other.example.test");
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good.to_string().as_bytes())
    );
    // The classic confusion attack: HS256 with the RSA public key as the HMAC secret.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-1".into());
    let hs256 = encode(
        &hs_header,
        &good,
        &EncodingKey::from_secret(&fixture("rsa.pub.pem")),
    )
    .expect("sign");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("garbage", Some("not-a-jwt".into())),
        ("expired", Some(sign_rsa(&expired, "rsa-1", "rsa.pem"))),
        ("not yet valid", Some(sign_rsa(&early, "rsa-1", "rsa.pem"))),
        ("wrong iss", Some(sign_rsa(&wrong_iss, "rsa-1", "rsa.pem"))),
        ("wrong aud", Some(sign_rsa(&wrong_aud, "rsa-1", "rsa.pem"))),
        (
            "bad signature",
            Some(sign_rsa(&good, "rsa-1", "rsa-other.pem")),
        ),
        ("alg none", Some(alg_none)),
        ("HS256 with the public key", Some(hs256)),
        (
            "unknown kid",
            Some(sign_rsa(&good, "rsa-unknown", "rsa.pem")),
        ),
    ];
    for (case, token) in &cases {
        let response = get(&gw.url("/adapters"), token.as_deref()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert_eq!(
            challenge,
            format!(
                "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\", scope=\"mcp.use\"",
                gw.base
            ),
            "{case}"
        );
        let body: Value = response.json().await.expect("problem");
        assert_eq!(body["detail"], "invalid token", "{case}: no detail leaks");
    }
    // The MCP endpoints point at their own, path-inserted metadata.
    let response = client()
        .post(gw.url("/adapters/x/mcp"))
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains(&format!(
                "resource_metadata=\"{}/.well-known/oauth-protected-resource/adapters/x/mcp\"",
                gw.base
            ))
    );

    // So does the tool router.
    let response = client()
        .post(gw.url("/mcp"))
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains(&format!(
                "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
                gw.base
            ))
    );

    // Good tokens, RSA and EC, are served.
    for token in [sign_rsa(&good, "rsa-1", "rsa.pem"), sign_ec(&good)] {
        assert_eq!(
            get(&gw.url("/adapters"), Some(&token)).await.status(),
            StatusCode::OK
        );
    }
    // An audience under the public URL (a client asking for the endpoint as its resource).
    let mut endpoint_aud = good.clone();
    endpoint_aud["aud"] = json!(format!("{}/adapters/x/mcp", gw.base));
    assert_eq!(
        get(
            &gw.url("/adapters"),
            Some(&sign_rsa(&endpoint_aud, "rsa-1", "rsa.pem"))
        )
        .await
        .status(),
        StatusCode::OK
    );
    // Anonymous: health, readiness, metadata.
    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/oauth-protected-resource",
    ] {
        assert_eq!(
            get(&gw.url(path), None).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
}

#[tokio::test]
async fn metadata_documents_name_their_resource() {
    let (_dir, gw) = start_with_file();
    for (path, resource) in [
        ("", gw.base.clone()),
        ("/mcp", format!("{}/mcp", gw.base)),
        (
            "/adapters/demo/mcp",
            format!("{}/adapters/demo/mcp", gw.base),
        ),
    ] {
        let doc: Value = get(
            &gw.url(&format!("/.well-known/oauth-protected-resource{path}")),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
        assert_eq!(doc["resource"], json!(resource), "{path}");
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
        assert_eq!(doc["scopes_supported"], json!(["mcp.use"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn the_original_permission_matrix_with_real_tokens() {
    let (_dir, gw) = start_with_file();
    let aud = gw.base.clone();
    let alice = sign_rsa(&claims("alice", &[], &aud), "rsa-1", "rsa.pem");
    let bob = sign_rsa(&claims("bob", &[], &aud), "rsa-1", "rsa.pem");
    // Roles as a space-separated string work too.
    let mut reader_claims = claims("bob", &[], &aud);
    reader_claims["roles"] = json!("readers other");
    let bob_reader = sign_ec(&reader_claims);
    let admin = sign_rsa(&claims("carol", &["mcp.admin"], &aud), "rsa-1", "rsa.pem");
    let http = client();

    let created = http
        .post(gw.url("/adapters"))
        .bearer_auth(&alice)
        .json(&json!({"name": "alices", "url": "http://127.0.0.1:9/mcp", "requiredRoles": ["readers"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["createdBy"], "alice", "the user id comes from oid");

    let status = |token: &str, method: reqwest::Method, path: &str| {
        let http = http.clone();
        let url = gw.url(path);
        let token = token.to_string();
        async move {
            let mut request = http.request(method.clone(), url).bearer_auth(token);
            if method == reqwest::Method::PUT {
                request = request
                    .json(&json!({"url": "http://127.0.0.1:10/mcp", "requiredRoles": ["readers"]}));
            }
            request.send().await.expect("send").status()
        }
    };
    use reqwest::Method;
    assert_eq!(
        status(&bob, Method::GET, "/adapters/alices").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&bob, Method::PUT, "/adapters/alices").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&bob, Method::DELETE, "/adapters/alices").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&bob_reader, Method::GET, "/adapters/alices").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&bob_reader, Method::GET, "/adapters/alices/status").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&bob_reader, Method::PUT, "/adapters/alices").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&alice, Method::PUT, "/adapters/alices").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&admin, Method::GET, "/adapters/alices").await,
        StatusCode::OK
    );

    let list = |token: String| {
        let http = http.clone();
        let url = gw.url("/adapters");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("list")
                .json::<Vec<Value>>()
                .await
                .expect("json")
                .len()
        }
    };
    assert_eq!(list(bob.clone()).await, 0);
    assert_eq!(list(bob_reader.clone()).await, 1);
    assert_eq!(list(admin.clone()).await, 1);

    // The proxy obeys the same rule: bob may not use alice's adapter.
    let proxied = http
        .post(gw.url("/adapters/alices/mcp"))
        .bearer_auth(&bob)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))
        .send()
        .await
        .expect("proxy");
    assert_eq!(proxied.status(), StatusCode::FORBIDDEN);

    // useWorkloadIdentity needs admin.
    let wi = json!({"name": "wi", "url": "http://127.0.0.1:9/mcp", "useWorkloadIdentity": false});
    assert_eq!(
        http.post(gw.url("/adapters"))
            .bearer_auth(&bob)
            .json(&wi)
            .send()
            .await
            .expect("post")
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        status(&admin, Method::DELETE, "/adapters/alices").await,
        StatusCode::NO_CONTENT
    );
}

/// Keys from OIDC discovery on a loopback issuer; an unknown kid triggers a refresh that picks up
/// a key added after start. Multi-threaded: the issuer must answer while the test thread blocks
/// on the gateway's start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_discovery_and_key_refresh() {
    use std::sync::{Arc, Mutex};
    let jwks: Value = serde_json::from_slice(&fixture("jwks.json")).expect("jwks");
    let only_rsa = json!({"keys": [jwks["keys"][0].clone()]});
    let served = Arc::new(Mutex::new(only_rsa));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer_base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = {
        let served = served.clone();
        let base = issuer_base.clone();
        axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let base = base.clone();
                    async move {
                        axum::Json(json!({"issuer": ISSUER, "jwks_uri": format!("{base}/keys")}))
                    }
                }),
            )
            .route(
                "/keys",
                axum::routing::get(move || {
                    let served = served.clone();
                    async move { axum::Json(served.lock().expect("lock").clone()) }
                }),
            )
    };
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The discovery URL is derived from `issuer`; point `issuer` at the loopback server and make
    // tokens carry that issuer.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[store]\npath = \"{}\"\n[runtime]\nkind = \"none\"\n[auth]\nmode = \"jwt\"\n[auth.jwt]\nissuer = \"{issuer_base}\"\nrefresh_min_interval_secs = 0\n",
        dir.path().join("gw.db").display()
    );
    let gw = Gateway::start(dir.path(), &config);
    let mut good = claims("alice", &[], &gw.base);
    good["iss"] = json!(issuer_base);
    assert_eq!(
        get(
            &gw.url("/adapters"),
            Some(&sign_rsa(&good, "rsa-1", "rsa.pem"))
        )
        .await
        .status(),
        StatusCode::OK
    );
    // ec-1 is not served yet: 401.
    let ec = sign_ec(&good);
    assert_eq!(
        get(&gw.url("/adapters"), Some(&ec)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The issuer rotates in a new key: the unknown kid triggers a refresh and the token passes.
    *served.lock().expect("lock") = jwks;
    assert_eq!(
        get(&gw.url("/adapters"), Some(&ec)).await.status(),
        StatusCode::OK
    );
}

#[test]
fn jwt_config_mistakes_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    for (config, expect) in [
        ("[auth]\nmode = \"jwt\"\n", "needs an [auth.jwt] section"),
        (
            "[auth]\nmode = \"jwt\"\n[auth.jwt]\nissuer = \"https://i\"\nalgorithms = [\"HS256\"]\n",
            "HS256",
        ),
        (
            "[auth]\nmode = \"jwt\"\n[auth.jwt]\njwks_file = \"k.json\"\n",
            "issuer",
        ),
    ] {
        std::fs::write(&path, format!("[runtime]\nkind = \"none\"\n{config}")).expect("write");
        let (code, _, stderr) = common::run(&["check", "--config", path.to_str().expect("utf8")]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(expect), "{expect}: {stderr}");
    }
    // A jwt gateway may listen beyond loopback.
    std::fs::write(
        &path,
        format!("[runtime]\nkind = \"none\"\n[server]\nlisten = \"0.0.0.0:8000\"\n[auth]\nmode = \"jwt\"\n[auth.jwt]\nissuer = \"https://i\"\njwks_file = \"{FIXTURES}/jwks.json\"\n"),
    )
    .expect("write");
    let (code, _, stderr) = common::run(&["check", "--config", path.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
}
