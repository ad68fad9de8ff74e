//! `/adapters` and `/tools`: one generic set of handlers, parameterised by [`ResourceKind`].

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use http::{HeaderValue, StatusCode, header};
use utoipa::openapi::HttpMethod;

use super::openapi::{
    array_of, bare, body_name, capitalise, created, integer_query, json_body, json_response,
    name_param, operation, problem, schema_ref, text_response,
};
use super::route::Route;
use super::{ApiError, AppState, JsonObject};
use crate::domain::clock::now;
use crate::domain::counters::ResourceMetrics;
use crate::domain::model::{Resource, ResourceKind, ResourceSpec, Source};
use crate::domain::validate::{self, FieldError, Purpose};
use crate::infra::auth::{Caller, can_read, can_write};

/// Default and largest `tail` for logs.
const DEFAULT_TAIL: u32 = 200;
const MAX_TAIL: u32 = 10_000;

pub(super) fn routes(kind: ResourceKind) -> Vec<Route> {
    let collection = kind.collection();
    let base = format!("/{collection}");
    let item = format!("/{collection}/{{name}}");
    let noun = kind.as_str();
    let tag = collection;
    let id = |verb: &str| format!("{verb}{}", capitalise(noun));
    let name = || name_param(&format!("The {noun}'s name"));
    let unauthenticated = || problem("No valid credentials (auth.mode jwt or dev)");
    let unreadable =
        || problem("The caller may not read it (creator, admins and requiredRoles may)");
    let missing = || problem("No such resource");
    // A create links its name to every operation that takes one.
    let links: Vec<(String, String)> = ["get", "update", "delete", "status", "logs"]
        .iter()
        .map(|verb| (capitalise(&id(verb)), id(verb)))
        .collect();
    vec![
        Route {
            method: HttpMethod::Post,
            path: base.clone(),
            operation: operation(&id("create"), &format!("Create an {noun}"), tag)
                .request_body(Some(json_body(&body_name(kind, Purpose::Create))))
                .response(
                    "201",
                    created(
                        &format!("The stored {noun}; Location names it"),
                        "Resource",
                        &links,
                    ),
                )
                .response("400", problem("Invalid fields, each named with the rule it breaks"))
                .response("401", unauthenticated())
                .response(
                    "403",
                    problem(
                        "Not allowed: useWorkloadIdentity needs the admin role, or the upstream \
                         address policy refuses the url's address (the detail names the rule)",
                    ),
                )
                .response("409", problem("The name is taken"))
                .response("413", problem("Body over 1 MiB"))
                .response("415", problem("Not sent as Content-Type: application/json"))
                .build(),
            handler: post(
                move |state: State<AppState>, caller: Caller, body: JsonObject| {
                    create(kind, state, caller, body)
                },
            ),
        },
        Route {
            method: HttpMethod::Get,
            path: base.clone(),
            operation: operation(
                &id("list"),
                &format!("List the {collection} the caller may read"),
                tag,
            )
            .response(
                "200",
                json_response(&format!("The {collection}, by name"), array_of("Resource")),
            )
            .response("401", unauthenticated())
            .build(),
            handler: get(move |state: State<AppState>, caller: Caller| list(kind, state, caller)),
        },
        Route {
            method: HttpMethod::Get,
            path: item.clone(),
            operation: operation(&id("get"), &format!("Get an {noun}"), tag)
                .parameter(name())
                .response(
                    "200",
                    json_response(&format!("The {noun}"), schema_ref("Resource")),
                )
                .response("401", unauthenticated())
                .response("403", unreadable())
                .response("404", missing())
                .build(),
            handler: get(
                move |state: State<AppState>, caller: Caller, Path(name): Path<String>| {
                    get_one(kind, state, caller, name)
                },
            ),
        },
        Route {
            method: HttpMethod::Put,
            path: item.clone(),
            operation: operation(
                &id("update"),
                &format!("Replace an {noun}'s definition"),
                tag,
            )
            .parameter(name())
            .request_body(Some(json_body(&body_name(kind, Purpose::Update))))
            .response(
                "200",
                json_response(&format!("The updated {noun}"), schema_ref("Resource")),
            )
            .response(
                "400",
                problem(
                    "Invalid fields, each named with the rule it breaks (also: a name other than                      the path's, or a change of useWorkloadIdentity)",
                ),
            )
            .response("401", unauthenticated())
            .response(
                "403",
                problem(
                    "Only the creator or an admin may change it; useWorkloadIdentity needs the \
                     admin role; or the upstream address policy refuses the url's address",
                ),
            )
            .response("404", missing())
            .response(
                "409",
                problem("Owned by config.toml: edit the file instead"),
            )
            .response("413", problem("Body over 1 MiB"))
            .response("415", problem("Not sent as Content-Type: application/json"))
            .build(),
            handler: put(
                move |state: State<AppState>,
                      caller: Caller,
                      Path(name): Path<String>,
                      body: JsonObject| update(kind, state, caller, name, body),
            ),
        },
        Route {
            method: HttpMethod::Delete,
            path: item.clone(),
            operation: operation(
                &id("delete"),
                &format!("Delete an {noun} and its workload"),
                tag,
            )
            .parameter(name())
            .response("204", bare("Deleted"))
            .response("401", unauthenticated())
            .response("403", problem("Only the creator or an admin may delete it"))
            .response("404", missing())
            .response(
                "409",
                problem("Owned by config.toml: edit the file instead"),
            )
            .build(),
            handler: delete(
                move |state: State<AppState>, caller: Caller, Path(name): Path<String>| {
                    remove(kind, state, caller, name)
                },
            ),
        },
        Route {
            method: HttpMethod::Get,
            path: format!("{item}/status"),
            operation: operation(
                &id("status"),
                &format!("Deployment status of an {noun}"),
                tag,
            )
            .parameter(name())
            .response(
                "200",
                json_response(
                    "Replica counts and per-replica state (a url resource: one probe)",
                    schema_ref("StatusView"),
                ),
            )
            .response("401", unauthenticated())
            .response("403", unreadable())
            .response("404", missing())
            .build(),
            handler: get(
                move |state: State<AppState>, caller: Caller, Path(name): Path<String>| {
                    status_of(kind, state, caller, name)
                },
            ),
        },
        Route {
            method: HttpMethod::Get,
            path: format!("{item}/logs"),
            operation: operation(
                &id("logs"),
                &format!("Logs of one replica of an {noun}"),
                tag,
            )
            .description(Some(
                "Takes instance and tail only: any other query parameter is a 400.",
            ))
            .parameter(name())
            .parameter(integer_query(
                "instance",
                "Replica index, from 0",
                0,
                u64::from(u32::MAX),
                0,
            ))
            .parameter(integer_query(
                "tail",
                "Number of lines from the end",
                1,
                u64::from(MAX_TAIL),
                u64::from(DEFAULT_TAIL),
            ))
            .parameter(super::logs::follow_param())
            .response(
                "200",
                text_response(
                    "stdout and stderr of the replica (follow=true: streamed as written)",
                ),
            )
            .response("400", problem("A query parameter out of range, or unknown"))
            .response("401", unauthenticated())
            .response("403", unreadable())
            .response(
                "404",
                problem("No such resource or instance, or a url resource (no logs here)"),
            )
            .response("503", problem("The runtime does not answer"))
            .build(),
            handler: get(
                move |state: State<AppState>,
                      caller: Caller,
                      Path(name): Path<String>,
                      RawQuery(query): RawQuery| {
                    logs(kind, state, caller, name, query)
                },
            ),
        },
    ]
}

/// Runs a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| ApiError::Internal(format!("store task failed: {err}")))
}

fn resource_json(resource: &Resource) -> Json<serde_json::Value> {
    Json(serde_json::to_value(resource.view()).unwrap_or_default())
}

/// The resource if it exists and the caller may read it.
fn readable(
    state: &AppState,
    kind: ResourceKind,
    caller: &Caller,
    name: &str,
) -> Result<Arc<Resource>, ApiError> {
    let resource = state
        .store
        .get(kind, name)
        .ok_or_else(|| ApiError::NotFound(format!("{kind} \"{name}\" does not exist")))?;
    if !can_read(caller, &resource) {
        return Err(ApiError::Forbidden(format!(
            "you may not read {kind} \"{name}\": it is readable by its creator, admins and the roles in its requiredRoles"
        )));
    }
    Ok(resource)
}

/// The body as a valid spec whose `url` (if any) the upstream address policy allows; `Err`
/// names every invalid field.
fn parse_spec(
    state: &AppState,
    kind: ResourceKind,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<ResourceSpec, ApiError> {
    let spec =
        validate::parse_spec(kind, body, state.validation_context()).map_err(ApiError::Invalid)?;
    // A well-formed url that the operator's policy refuses is a refusal, not a malformed
    // request: 403, naming the field and the rule (and the document stays exact: the policy
    // depends on the deployment, and on DNS, not on the body's shape).
    if let Some(Err(refusal)) = spec.url.as_deref().map(|url| state.policy.check_url(url)) {
        return Err(ApiError::Forbidden(format!("url: {refusal}")));
    }
    Ok(spec)
}

/// A workload identity is the admin's to give: asking for one without the admin role is a
/// permission refusal (403), whatever else the body says.
fn may_ask_for_workload_identity(
    caller: &Caller,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let asks = body.get("useWorkloadIdentity") == Some(&serde_json::Value::Bool(true));
    if asks && !caller.is_admin {
        return Err(ApiError::Forbidden(
            "useWorkloadIdentity: true needs the admin role".into(),
        ));
    }
    Ok(())
}

async fn create(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    may_ask_for_workload_identity(&caller, &body)?;
    let spec = parse_spec(&state, kind, &body)?;
    let at = now();
    let resource = Resource {
        kind,
        spec,
        created_by: caller.user_id.clone(),
        created_at: at.clone(),
        last_updated_at: at,
        source: Source::Api,
        metrics: ResourceMetrics::new(kind),
    };
    let store = state.store.clone();
    let stored = blocking(move || store.create(resource)).await??;
    tracing::info!(kind = %kind, name = stored.name(), by = %caller.user_id, "created");
    let location = format!("/{}/{}", kind.collection(), stored.name());
    let mut response = (StatusCode::CREATED, resource_json(&stored)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn list(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
) -> Json<Vec<serde_json::Value>> {
    let visible = state
        .store
        .list(kind)
        .into_iter()
        .filter(|r| can_read(&caller, r))
        .filter_map(|r| serde_json::to_value(r.view()).ok())
        .collect();
    Json(visible)
}

async fn get_one(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
    name: String,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(resource_json(&*readable(&state, kind, &caller, &name)?))
}

async fn update(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
    name: String,
    JsonObject(mut body): JsonObject,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.store.get(kind, &name).is_none() {
        return Err(ApiError::NotFound(format!(
            "{kind} \"{name}\" does not exist"
        )));
    }
    may_ask_for_workload_identity(&caller, &body)?;
    match body.get("name") {
        None | Some(serde_json::Value::Null) => {
            body.insert("name".into(), serde_json::Value::String(name.clone()));
        }
        Some(serde_json::Value::String(given)) if *given == name => {}
        Some(_) => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "name",
                format!(
                    "must equal the name in the URL (\"{name}\"); a resource cannot be renamed"
                ),
            )]));
        }
    }
    let spec = parse_spec(&state, kind, &body)?;
    let store = state.store.clone();
    let who = caller.clone();
    let result = blocking(move || {
        store.update(kind, &name, |current| {
            may_write(&who, current, "change", "edit the file to change it")?;
            if spec.use_workload_identity != current.spec.use_workload_identity {
                return Err(ApiError::Invalid(vec![FieldError::new(
                    "useWorkloadIdentity",
                    "cannot change after create (the workload's identity and selector depend on it); delete and re-create the resource",
                )]));
            }
            Ok(Resource {
                spec,
                last_updated_at: now(),
                ..current.clone()
            })
        })
    })
    .await??;
    let updated = result?;
    tracing::info!(kind = %kind, name = updated.name(), by = %caller.user_id, "updated");
    Ok(resource_json(&updated))
}

/// Whether `who` may `verb` (change, delete) `current`: its creator or an admin, and only when
/// the API owns it (a resource declared in config.toml is the file's: `instead` says what to do).
fn may_write(who: &Caller, current: &Resource, verb: &str, instead: &str) -> Result<(), ApiError> {
    let kind = current.kind;
    if !can_write(who, current) {
        return Err(ApiError::Forbidden(format!(
            "only the creator ({}) or an admin may {verb} {kind} \"{}\"",
            current.created_by,
            current.name()
        )));
    }
    if current.source == Source::Config {
        return Err(ApiError::Conflict(format!(
            "{kind} \"{}\" is declared in the config file; {instead}",
            current.name()
        )));
    }
    Ok(())
}

async fn remove(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
    name: String,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let who = caller.clone();
    let deleted = blocking(move || {
        store.delete(kind, &name, |current| {
            may_write(&who, current, "delete", "remove it from the file instead")
        })
    })
    .await???;
    tracing::info!(kind = %kind, name = deleted.name(), by = %caller.user_id, "deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn status_of(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
    name: String,
) -> Result<Json<crate::domain::model::StatusView>, ApiError> {
    let resource = readable(&state, kind, &caller, &name)?;
    Ok(Json(state.status.of(&resource).await))
}

async fn logs(
    kind: ResourceKind,
    State(state): State<AppState>,
    caller: Caller,
    name: String,
    query: Option<String>,
) -> Result<Response, ApiError> {
    let (instance, tail, follow) = parse_logs_query(query.as_deref().unwrap_or(""))?;
    let resource = readable(&state, kind, &caller, &name)?;
    if follow {
        let stream = state.status.follow_logs(&resource, instance, tail).await?;
        return Ok(super::logs::streamed(stream));
    }
    let text = state.status.logs(&resource, instance, tail).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

fn parse_logs_query(query: &str) -> Result<(u32, u32, bool), ApiError> {
    let mut instance = 0;
    let mut tail = DEFAULT_TAIL;
    let mut follow = false;
    let mut errors = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "instance" => match value.parse::<u32>() {
                Ok(n) => instance = n,
                Err(_) => errors.push(FieldError::new(
                    "instance",
                    "must be a replica index (0, 1, ...)",
                )),
            },
            "tail" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_TAIL).contains(&n) => tail = n,
                _ => errors.push(FieldError::new(
                    "tail",
                    format!("must be an integer from 1 to {MAX_TAIL}"),
                )),
            },
            "follow" => match value.parse::<bool>() {
                Ok(yes) => follow = yes,
                Err(_) => errors.push(FieldError::new("follow", "must be true or false")),
            },
            other => errors.push(FieldError::new(
                other,
                "unknown query parameter; logs take instance, tail and follow",
            )),
        }
    }
    if errors.is_empty() {
        Ok((instance, tail, follow))
    } else {
        Err(ApiError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_query_defaults_and_errors() {
        assert_eq!(parse_logs_query("").expect("ok"), (0, DEFAULT_TAIL, false));
        assert_eq!(
            parse_logs_query("instance=2&tail=5").expect("ok"),
            (2, 5, false)
        );
        assert_eq!(
            parse_logs_query("tail=5&follow=true").expect("ok"),
            (0, 5, true)
        );
        let Err(ApiError::Invalid(errors)) = parse_logs_query("instance=x&tail=0&foo=1&follow=yes")
        else {
            panic!("expected field errors");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["instance", "tail", "foo", "follow"]);
    }
}
