//! The HTTP side of the double: the subset of the Kubernetes REST API that mcp-gateway's
//! Kubernetes runtime (and the tests, through kube-rs) use.
//!
//! Served: `/version` and minimal discovery (`/api`, `/apis`, `/api/v1`, `/apis/apps/v1`); for
//! pods, services and statefulsets in a namespace: GET, LIST and WATCH (label selectors,
//! `metadata.name`/`metadata.namespace` field selectors, `resourceVersion`, `timeoutSeconds`,
//! `allowWatchBookmarks`, `sendInitialEvents`), server-side apply PATCH, DELETE (uid
//! preconditions); `pods/{name}/log` with `tailLines` and `stream` (`Stdout`, `Stderr`, `All`:
//! the `PodLogsQuerySplitStreams` feature gate, on); `pods/{name}/attach` over a WebSocket (see
//! `attach`). Anything else is answered with a `Status` saying the double does not serve it,
//! never with a guess.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::attach::{self, Terminals};
use crate::logs::{LogBook, Stream};
use crate::selector::Selector;
use crate::store::{ApiError, Kind, Store};

/// How long a watch lasts when the client gives no `timeoutSeconds`.
const DEFAULT_WATCH: Duration = Duration::from_secs(1800);
/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

/// One request the double received and the status it was answered with (tests assert what the
/// runtime asked for, and check it against the RBAC rules the gateway is given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The client's `User-Agent` (empty without one), to tell the runtime's requests from the
    /// tests' own.
    pub user_agent: String,
    pub status: u16,
}

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub logs: LogBook,
    pub terminals: Terminals,
    pub requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.status())).into_response()
    }
}

type Params = Query<HashMap<String, String>>;

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/version", get(version))
        .route(
            "/api",
            get(|| async {
                axum::Json(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": []}))
            }),
        )
        .route(
            "/apis",
            get(|| async {
                axum::Json(json!({"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}))
            }),
        )
        .route(
            "/api/v1",
            get(|| async { resource_list("v1", &[Kind::Pod, Kind::Service]) }),
        )
        .route(
            "/apis/apps/v1",
            get(|| async { resource_list("apps/v1", &[Kind::StatefulSet]) }),
        )
        .route("/api/v1/namespaces/{ns}/{plural}", get(core_collection))
        .route(
            "/api/v1/namespaces/{ns}/{plural}/{name}",
            get(core_get).patch(core_patch).delete(core_delete),
        )
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/attach",
            get(attach::pod_attach),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{ns}/{plural}",
            get(group_collection),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}",
            get(group_get).patch(group_patch).delete(group_delete),
        )
        .fallback(unknown)
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

async fn record(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // Recorded once answered (a watch: once its stream has started), with the status.
    let response = next.run(request).await;
    state
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(RecordedRequest {
            method,
            path,
            query,
            user_agent,
            status: response.status().as_u16(),
        });
    response
}

async fn version() -> axum::Json<Value> {
    axum::Json(
        json!({"major": "1", "minor": "37", "gitVersion": "v1.37.0-kube-double",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none", "compiler": "rustc",
        "platform": "linux/amd64"}),
    )
}

fn resource_list(group_version: &str, kinds: &[Kind]) -> axum::Json<Value> {
    let resources: Vec<Value> = kinds
        .iter()
        .map(|k| {
            json!({"name": k.plural(), "namespaced": true,
        "kind": k.name(), "verbs": ["get", "list", "watch", "patch", "delete"]})
        })
        .collect();
    axum::Json(json!({"kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": group_version, "resources": resources}))
}

async fn unknown(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!(
            "the kube-double does not serve {method} {uri} (it speaks only the subset mcp-gateway uses)"
        ),
    )
}

fn kind(group: &str, version: &str, plural: &str) -> Result<Kind, ApiError> {
    Kind::from_path(group, version, plural).ok_or_else(|| {
        ApiError::new(
            404,
            "NotFound",
            format!(
                "the kube-double does not serve {plural} in {}{version}",
                if group.is_empty() {
                    String::new()
                } else {
                    format!("{group}/")
                }
            ),
        )
    })
}

async fn core_collection(
    State(s): State<ApiState>,
    Path((ns, plural)): Path<(String, String)>,
    q: Params,
) -> Response {
    collection(s, kind("", "v1", &plural), ns, q.0).await
}

async fn group_collection(
    State(s): State<ApiState>,
    Path((group, version, ns, plural)): Path<(String, String, String, String)>,
    q: Params,
) -> Response {
    collection(s, kind(&group, &version, &plural), ns, q.0).await
}

async fn core_get(
    State(s): State<ApiState>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    get_one(s, kind("", "v1", &plural), ns, name)
}

async fn group_get(
    State(s): State<ApiState>,
    Path((group, version, ns, plural, name)): Path<(String, String, String, String, String)>,
) -> Response {
    get_one(s, kind(&group, &version, &plural), ns, name)
}

async fn core_patch(
    State(s): State<ApiState>,
    Path((ns, plural, name)): Path<(String, String, String)>,
    q: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    patch(s, kind("", "v1", &plural), ns, name, q.0, headers, body)
}

async fn group_patch(
    State(s): State<ApiState>,
    Path((group, version, ns, plural, name)): Path<(String, String, String, String, String)>,
    q: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    patch(
        s,
        kind(&group, &version, &plural),
        ns,
        name,
        q.0,
        headers,
        body,
    )
}

async fn core_delete(
    State(s): State<ApiState>,
    Path((ns, plural, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    delete(s, kind("", "v1", &plural), ns, name, body)
}

async fn group_delete(
    State(s): State<ApiState>,
    Path((group, version, ns, plural, name)): Path<(String, String, String, String, String)>,
    body: Bytes,
) -> Response {
    delete(s, kind(&group, &version, &plural), ns, name, body)
}

fn get_one(state: ApiState, kind: Result<Kind, ApiError>, ns: String, name: String) -> Response {
    let kind = match kind {
        Ok(kind) => kind,
        Err(err) => return err.into_response(),
    };
    match state.store.get(kind, &ns, &name) {
        Some(object) => axum::Json(object).into_response(),
        None => ApiError::not_found(kind, &name).into_response(),
    }
}

async fn collection(
    state: ApiState,
    kind: Result<Kind, ApiError>,
    ns: String,
    query: HashMap<String, String>,
) -> Response {
    let kind = match kind {
        Ok(kind) => kind,
        Err(err) => return err.into_response(),
    };
    let selector = match Selector::parse(
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    ) {
        Ok(selector) => selector,
        Err(message) => return ApiError::bad_request(message).into_response(),
    };
    if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) {
        return watch(state, kind, ns, selector, &query);
    }
    let (items, rv) = state.store.list(kind, Some(&ns), &selector);
    axum::Json(
        json!({"apiVersion": kind.api_version(), "kind": format!("{}List", kind.name()),
        "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    )
    .into_response()
}

fn line(event_type: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": event_type, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn bookmark(kind: Kind, rv: u64, initial_end: bool) -> Bytes {
    let mut object = json!({"kind": kind.name(), "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": rv.to_string()}});
    if initial_end {
        object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", &object)
}

/// A WATCH: newline-delimited JSON events until `timeoutSeconds` or the client leaves.
fn watch(
    state: ApiState,
    kind: Kind,
    ns: String,
    selector: Selector,
    query: &HashMap<String, String>,
) -> Response {
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH);
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let initial_events = query.get("sendInitialEvents").is_some_and(|b| b == "true");
    let resume = match query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(rv) => match rv.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return ApiError::bad_request(format!(
                    "resourceVersion {rv:?} is not one this server issued"
                ))
                .into_response();
            }
        },
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = state.store.subscribe();
        changes.borrow_and_update();
        let mut last = match resume {
            Some(rv) if !initial_events => rv,
            _ => {
                let (items, rv) = state.store.list(kind, Some(&ns), &selector);
                for item in &items {
                    if tx.send(line("ADDED", item)).await.is_err() {
                        return;
                    }
                }
                if initial_events && tx.send(bookmark(kind, rv, true)).await.is_err() {
                    return;
                }
                rv
            }
        };
        let mut tick = tokio::time::interval(BOOKMARK_EVERY);
        tick.tick().await;
        loop {
            changes.borrow_and_update();
            let Some(events) = state.store.events_after(last, kind, &ns) else {
                let gone =
                    ApiError::new(410, "Expired", format!("too old resource version: {last}"));
                let _ = tx.send(line("ERROR", &gone.status())).await;
                return;
            };
            for event in events {
                last = event.rv;
                if selector.matches(&event.object)
                    && tx.send(line(event.type_, &event.object)).await.is_err()
                {
                    return;
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    if tx.send(bookmark(kind, last, false)).await.is_err() { return; }
                }
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Server-side apply; the only PATCH the double speaks.
fn patch(
    state: ApiState,
    kind: Result<Kind, ApiError>,
    ns: String,
    name: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = match kind {
        Ok(kind) => kind,
        Err(err) => return err.into_response(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/apply-patch+yaml") {
        return ApiError::new(415, "UnsupportedMediaType", format!(
            "the kube-double speaks only server-side apply (application/apply-patch+yaml), not {content_type:?}")).into_response();
    }
    if query.contains_key("dryRun") {
        return ApiError::bad_request("dryRun is not supported by the kube-double").into_response();
    }
    let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
        return ApiError::bad_request("PATCH, with apply, requires fieldManager").into_response();
    };
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(err) => {
            return ApiError::bad_request(format!(
                "the kube-double reads apply bodies as JSON only (kube-rs sends JSON): {err}"
            ))
            .into_response();
        }
    };
    if let Err(message) = typed(kind, &body) {
        return ApiError::bad_request(format!(
            "the body is not a valid {}: {message}",
            kind.name()
        ))
        .into_response();
    }
    // An apply that creates the object is a create (201), as in a real API server, whose
    // authorizer then also asks for the `create` verb.
    let existed = state.store.get(kind, &ns, &name).is_some();
    match state.store.apply(kind, &ns, &name, manager, body) {
        Ok(object) if existed => axum::Json(object).into_response(),
        Ok(object) => (StatusCode::CREATED, axum::Json(object)).into_response(),
        Err(err) => err.into_response(),
    }
}

/// Checks the body against the k8s-openapi type (field types, required fields).
fn typed(kind: Kind, body: &Value) -> Result<(), String> {
    use k8s_openapi::api::{
        apps::v1::StatefulSet,
        core::v1::{Pod, Service},
    };
    let result = match kind {
        Kind::Pod => serde_json::from_value::<Pod>(body.clone()).map(drop),
        Kind::Service => serde_json::from_value::<Service>(body.clone()).map(drop),
        Kind::StatefulSet => serde_json::from_value::<StatefulSet>(body.clone()).map(drop),
    };
    result.map_err(|err| err.to_string())
}

fn delete(
    state: ApiState,
    kind: Result<Kind, ApiError>,
    ns: String,
    name: String,
    body: Bytes,
) -> Response {
    let kind = match kind {
        Ok(kind) => kind,
        Err(err) => return err.into_response(),
    };
    let options: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(options) => options,
            Err(err) => {
                return ApiError::bad_request(format!("the DeleteOptions body is not JSON: {err}"))
                    .into_response();
            }
        }
    };
    if options["propagationPolicy"] == "Orphan" {
        return ApiError::bad_request(
            "propagationPolicy Orphan is not supported by the kube-double",
        )
        .into_response();
    }
    match state
        .store
        .delete(kind, &ns, &name, options["preconditions"]["uid"].as_str())
    {
        Ok(object) => axum::Json(object).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn pod_log(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    q: Params,
) -> Response {
    for unsupported in ["previous", "follow", "timestamps"] {
        if q.get(unsupported).is_some_and(|v| v == "true") {
            return ApiError::bad_request(format!(
                "{unsupported}=true is not supported by the kube-double"
            ))
            .into_response();
        }
    }
    let Some(pod) = state.store.get(Kind::Pod, &ns, &name) else {
        return ApiError::not_found(Kind::Pod, &name).into_response();
    };
    let container = &pod["spec"]["containers"][0];
    if let Some(asked) = q.get("container")
        && container["name"] != asked.as_str()
    {
        return ApiError::bad_request(format!("container {asked} is not valid for pod {name}"))
            .into_response();
    }
    let status = &pod["status"]["containerStatuses"][0];
    if status["started"] != true && status["restartCount"].as_i64().unwrap_or(0) == 0 {
        let reason = status["state"]["waiting"]["reason"]
            .as_str()
            .unwrap_or("ContainerCreating");
        return ApiError::bad_request(format!(
            "container \"{}\" in pod \"{name}\" is waiting to start: {reason}",
            container["name"].as_str().unwrap_or_default()
        ))
        .into_response();
    }
    let tail = q.get("tailLines").and_then(|t| t.parse().ok());
    let only = match q.get("stream").map(String::as_str) {
        None | Some("All") => None,
        Some("Stdout") => Some(Stream::Stdout),
        Some("Stderr") => Some(Stream::Stderr),
        Some(other) => {
            return ApiError::new(
                422,
                "Invalid",
                format!("stream: Unsupported value: {other:?}: supported values: \"All\", \"Stderr\", \"Stdout\""),
            )
            .into_response();
        }
    };
    // As the API server: one stream and a tail are not served together (yet).
    if only.is_some() && tail.is_some() {
        return ApiError::new(
            422,
            "Invalid",
            "tailLines and a specific stream cannot be combined",
        )
        .into_response();
    }
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "text/plain")],
        state.logs.tail(uid, tail, only),
    )
        .into_response()
}
