//! `/ui`: the web console. Plain HTML, CSS and JavaScript modules from `console/`, embedded in
//! the binary at build time (no npm, no CDN, works offline), served with a strict
//! Content-Security-Policy: scripts and styles from these files only, nothing inline, no frames,
//! network only to this origin.
//!
//! The console is a client of the same REST API and MCP endpoints as any other: it holds no
//! privilege, the API decides what each caller sees and may do. It authenticates with a bearer
//! token kept in the tab's `sessionStorage` (never a cookie), so a cross-site request cannot
//! ride on it (no CSRF), and the assets themselves are public (they hold no data). The token is
//! pasted, or (with `console.oauth_client_id`) obtained by the page with the authorization code
//! flow and PKCE at `auth.jwt.issuer`; `/ui/settings.json` tells the page which.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{Content, HttpMethod, ResponseBuilder};

use super::openapi::{json_response, operation, path_param, problem};
use super::route::Route;
use super::{ApiError, AppState};

/// Where the console is served.
pub const PATH: &str = "/ui";

/// The policy on every `/ui` response: only this origin's files, nothing inline, requests to
/// this origin only (and to the issuer's, for the PKCE sign-in, when it is configured).
fn content_security_policy(sign_in: Option<&SignIn>) -> String {
    let issuer = sign_in.and_then(|s| origin_of(&s.issuer));
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'{}; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        issuer.map(|o| format!(" {o}")).unwrap_or_default()
    )
}

/// The authorization code + PKCE sign-in, when `console.oauth_client_id` is set.
struct SignIn {
    issuer: String,
    client_id: String,
    scopes: String,
}

impl SignIn {
    fn of(state: &AppState) -> Option<SignIn> {
        let config = &state.config.config;
        let client_id = config.console.oauth_client_id.clone()?;
        let jwt = config.auth.jwt.as_ref()?;
        let scopes = [&config.console.oauth_scopes, &jwt.scopes]
            .into_iter()
            .find(|scopes| !scopes.is_empty())
            .map(|scopes| scopes.join(" "))
            .unwrap_or_else(|| "openid".into());
        Some(SignIn {
            issuer: jwt.issuer.clone()?,
            client_id,
            scopes,
        })
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

/// `/ui/settings.json`: what the console needs to know about this gateway.
async fn settings(State(state): State<AppState>) -> Response {
    let sign_in = SignIn::of(&state);
    let body = serde_json::json!({
        "oauth": sign_in.as_ref().map(|s| serde_json::json!({
            "issuer": s.issuer, "clientId": s.client_id, "scopes": s.scopes,
        })),
    });
    let mut response = Json(body).into_response();
    secure(
        response.headers_mut(),
        &content_security_policy(sign_in.as_ref()),
    );
    response
}

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("console/", $name)),
        }
    };
}

/// Every file of the console. `index.html` is served at [`PATH`] itself.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("signin.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("mcp.js", "text/javascript; charset=utf-8"),
    asset!("overview.js", "text/javascript; charset=utf-8"),
    asset!("edit.js", "text/javascript; charset=utf-8"),
    asset!("detail.js", "text/javascript; charset=utf-8"),
    asset!("logs.js", "text/javascript; charset=utf-8"),
    asset!("playground.js", "text/javascript; charset=utf-8"),
    asset!("schemaform.js", "text/javascript; charset=utf-8"),
    asset!("connect.js", "text/javascript; charset=utf-8"),
];

/// The console's size: every embedded file, in bytes (uncompressed).
pub fn size() -> usize {
    ASSETS.iter().map(|asset| asset.body.len()).sum()
}

pub(super) fn routes() -> Vec<Route> {
    let page = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("text/html", Content::new(None::<utoipa::openapi::Schema>))
            .build()
    };
    vec![
        Route {
            method: HttpMethod::Get,
            path: PATH.into(),
            operation: operation("getConsole", "The web console (HTML)", "console")
                .description(Some(
                    "A client of this API and of the MCP endpoints, embedded in the binary. \
                     Served with a strict Content-Security-Policy; needs no credentials itself \
                     (it asks for a token when the API does).",
                ))
                .response("200", page("The console's page"))
                .build(),
            handler: get(|state: State<AppState>, headers: HeaderMap| async move {
                serve(&state, "index.html", &headers)
            }),
        },
        Route {
            method: HttpMethod::Get,
            path: format!("{PATH}/settings.json"),
            operation: operation(
                "getConsoleSettings",
                "What the web console needs to know about this gateway",
                "console",
            )
            .response(
                "200",
                json_response(
                    "oauth: the issuer, public client id and scopes of the authorization \
                     code + PKCE sign-in (console.oauth_client_id), or null",
                    Object::with_type(Type::Object),
                ),
            )
            .build(),
            handler: get(settings),
        },
        Route {
            method: HttpMethod::Get,
            path: format!("{PATH}/{{asset}}"),
            operation: operation("getConsoleAsset", "A file of the web console", "console")
                .parameter(path_param(
                    "asset",
                    "The file's name (app.js, console.css, ...)",
                ))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The file (JavaScript, CSS, SVG or HTML)")
                        .build(),
                )
                .response(
                    "304",
                    ResponseBuilder::new()
                        .description("Not modified (ETag)")
                        .build(),
                )
                .response("404", problem("No such file"))
                .build(),
            handler: get(
                |state: State<AppState>, Path(asset): Path<String>, headers: HeaderMap| async move {
                    serve(&state, &asset, &headers)
                },
            ),
        },
    ]
}

/// The file `name`, with the console's security headers and an ETag (the content's hash, so a
/// new build is fetched at once and an unchanged file costs a 304).
fn serve(state: &AppState, name: &str, request: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return ApiError::NotFound(format!("the console has no file \"{name}\"")).into_response();
    };
    let etag = format!("\"{:016x}\"", fnv1a64(asset.body.as_bytes()));
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    if !unchanged {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    secure(
        headers,
        &content_security_policy(SignIn::of(state).as_ref()),
    );
    response
}

/// The console's security headers.
fn secure(headers: &mut HeaderMap, policy: &str) {
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    for (name, value) in [
        (header::CACHE_CONTROL, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_embedded_and_nothing_is_inline() {
        let index = ASSETS[0].body;
        for asset in ASSETS {
            let referenced = index.contains(&format!("{PATH}/{}", asset.name))
                || ASSETS
                    .iter()
                    .any(|other| other.body.contains(&format!("./{}", asset.name)));
            assert!(
                asset.name == "index.html" || referenced,
                "{} is embedded but nothing loads it",
                asset.name
            );
        }
        // The policy forbids inline code; a page that relied on it would break silently.
        assert!(!index.contains("<script>") && !index.contains(" style="));
        let handler = index.split(" on").skip(1).any(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(!handler, "no inline event handlers");
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            assert!(
                !asset.body.contains("innerHTML") && !asset.body.contains("eval("),
                "{} builds markup from strings",
                asset.name
            );
        }
    }

    #[test]
    fn the_console_stays_small() {
        assert!(size() < 160 * 1024, "the console is {} bytes", size());
    }
}
