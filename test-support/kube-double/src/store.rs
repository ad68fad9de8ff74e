//! The double's "etcd": objects as JSON, one resourceVersion counter, an event history for
//! watches, and server-side apply with per-manager field ownership.
//!
//! Server-side apply here: each field manager's last applied configuration is kept; applying
//! again merges the new configuration into the live object, and every field the manager set
//! last time but not this time is removed. Maps merge key by key; lists and scalars are owned
//! whole by the last applier (real SSA merges some lists by key, e.g. `env` by `name`; with a
//! single manager per field, as here, the result is the same). No conflict detection: every
//! apply acts as if `force=true`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::selector::Selector;

/// Events kept for watches that resume from a resourceVersion.
const HISTORY: usize = 50_000;

/// The resources the double serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Service,
    StatefulSet,
}

impl Kind {
    /// From a URL: group (`""` for the core group), version, plural.
    pub fn from_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
        match (group, version, plural) {
            ("", "v1", "pods") => Some(Kind::Pod),
            ("", "v1", "services") => Some(Kind::Service),
            ("apps", "v1", "statefulsets") => Some(Kind::StatefulSet),
            _ => None,
        }
    }

    pub fn from_plural(plural: &str) -> Option<Kind> {
        match plural {
            "pods" => Some(Kind::Pod),
            "services" => Some(Kind::Service),
            "statefulsets" => Some(Kind::StatefulSet),
            _ => None,
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Pod | Kind::Service => "v1",
            Kind::StatefulSet => "apps/v1",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::StatefulSet => "StatefulSet",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::StatefulSet => "statefulsets",
        }
    }

    /// As the API server names it in messages: `pods`, `statefulsets.apps`.
    pub fn group_resource(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::StatefulSet => "statefulsets.apps",
        }
    }
}

type Key = (Kind, String, String);

/// One watch event, as kept in the history.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    pub type_: &'static str,
    pub object: Value,
}

/// An API error, answered as a `Status` object.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn not_found(kind: Kind, name: &str) -> ApiError {
        ApiError {
            details: json!({"name": name, "kind": kind.plural(),
                            "group": kind.api_version().split_once('/').map_or("", |(g, _)| g)}),
            ..ApiError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", kind.group_resource()),
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// The `Status` body.
    pub fn status(&self) -> Value {
        let mut status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code});
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }
}

/// Every object and event. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
}

struct Inner {
    rv: u64,
    uid: u64,
    objects: BTreeMap<Key, Value>,
    /// Last applied configuration per (object, field manager).
    applied: HashMap<(Key, String), Value>,
    history: VecDeque<Event>,
    /// Watches resuming from before this resourceVersion get 410 Gone.
    oldest_resumable: u64,
    namespaces: BTreeSet<String>,
}

/// Current time as the API writes it (RFC 3339, UTC, seconds).
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

impl Store {
    pub fn new(namespaces: &[String]) -> Store {
        let (changes, _) = watch::channel(1);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                uid: 0,
                objects: BTreeMap::new(),
                applied: HashMap::new(),
                history: VecDeque::new(),
                oldest_resumable: 0,
                namespaces: namespaces.iter().cloned().collect(),
            }),
            changes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes when anything changes (the value is the newest resourceVersion).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    #[cfg(test)]
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(kind, namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Matching objects of a namespace (`None`: all) and the resourceVersion of the listing.
    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|n| n == ns))
            .map(|(_, object)| object)
            .filter(|object| selector.matches(object))
            .cloned()
            .collect();
        (items, inner.rv)
    }

    /// Events of `kind` in `namespace` after `rv`; `None` when `rv` is too old to resume from.
    pub fn events_after(&self, rv: u64, kind: Kind, namespace: &str) -> Option<Vec<Event>> {
        let inner = self.lock();
        if rv < inner.oldest_resumable {
            return None;
        }
        Some(
            inner
                .history
                .iter()
                .filter(|e| e.rv > rv && e.kind == kind && e.namespace == namespace)
                .cloned()
                .collect(),
        )
    }

    /// Records a change: new resourceVersion, history, wake-up.
    fn commit(
        &self,
        inner: &mut Inner,
        type_: &'static str,
        key: &Key,
        mut object: Value,
    ) -> Value {
        inner.rv += 1;
        object["metadata"]["resourceVersion"] = Value::String(inner.rv.to_string());
        if type_ == "DELETED" {
            inner.objects.remove(key);
            inner.applied.retain(|(k, _), _| k != key);
        } else {
            inner.objects.insert(key.clone(), object.clone());
        }
        inner.history.push_back(Event {
            rv: inner.rv,
            kind: key.0,
            namespace: key.1.clone(),
            type_,
            object: object.clone(),
        });
        while inner.history.len() > HISTORY {
            if let Some(old) = inner.history.pop_front() {
                inner.oldest_resumable = old.rv;
            }
        }
        self.changes.send_replace(inner.rv);
        object
    }

    fn new_metadata(inner: &mut Inner, namespace: &str, name: &str) -> Value {
        inner.uid += 1;
        json!({
            "name": name,
            "namespace": namespace,
            "uid": format!("00000000-0000-4000-8000-{:012x}", inner.uid),
            "creationTimestamp": now(),
            "generation": 1,
        })
    }

    /// Server-side apply of `body` by `manager` (creates the object if missing).
    pub fn apply(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        manager: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        check_identity(kind, namespace, name, &body)?;
        let applied = sanitize(body);
        let mut inner = self.lock();
        if !inner.namespaces.contains(namespace) {
            return Err(ApiError {
                details: json!({"name": namespace, "kind": "namespaces"}),
                ..ApiError::new(
                    404,
                    "NotFound",
                    format!("namespaces \"{namespace}\" not found"),
                )
            });
        }
        let key = (kind, namespace.to_string(), name.to_string());
        let (live, type_) = match inner.objects.get(&key) {
            Some(live) => (live.clone(), "MODIFIED"),
            None => {
                let metadata = Self::new_metadata(&mut inner, namespace, name);
                (json!({"metadata": metadata}), "ADDED")
            }
        };
        let previous = inner.applied.get(&(key.clone(), manager.to_string()));
        let mut merged = merge(&live, previous, &applied);
        // What only the server writes survives any apply.
        for field in [
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "resourceVersion",
        ] {
            match live["metadata"].get(field) {
                Some(value) => merged["metadata"][field] = value.clone(),
                None => {
                    if let Some(map) = merged["metadata"].as_object_mut() {
                        map.remove(field);
                    }
                }
            }
        }
        if let Some(status) = live.get("status") {
            merged["status"] = status.clone();
        }
        merged["apiVersion"] = Value::String(kind.api_version().into());
        merged["kind"] = Value::String(kind.name().into());
        if type_ == "MODIFIED" {
            check_immutable(kind, &live, &merged)?;
            if merged == live {
                return Ok(live);
            }
            if merged.get("spec") != live.get("spec") {
                let generation = live["metadata"]["generation"].as_i64().unwrap_or(1);
                merged["metadata"]["generation"] = json!(generation + 1);
            }
        }
        merged["metadata"]["managedFields"] = json!([{"manager": manager, "operation": "Apply",
            "apiVersion": kind.api_version(), "time": now(), "fieldsType": "FieldsV1", "fieldsV1": {}}]);
        inner
            .applied
            .insert((key.clone(), manager.to_string()), applied);
        Ok(self.commit(&mut inner, type_, &key, merged))
    }

    /// Creates an object the double's own controllers make (pods); fails if it exists.
    pub fn create(
        &self,
        kind: Kind,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut inner = self.lock();
        let key = (kind, namespace.to_string(), name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", kind.group_resource()),
            ));
        }
        let metadata = Self::new_metadata(&mut inner, namespace, &name);
        if let (Some(target), Value::Object(fresh)) = (object["metadata"].as_object_mut(), metadata)
        {
            target.extend(fresh);
        }
        object["apiVersion"] = Value::String(kind.api_version().into());
        object["kind"] = Value::String(kind.name().into());
        Ok(self.commit(&mut inner, "ADDED", &key, object))
    }

    /// Replaces an object's `status` (the status subresource); no-op when unchanged.
    pub fn set_status(&self, kind: Kind, namespace: &str, name: &str, uid: &str, status: Value) {
        let mut inner = self.lock();
        let key = (kind, namespace.to_string(), name.to_string());
        let Some(live) = inner.objects.get(&key) else {
            return;
        };
        if live["metadata"]["uid"] != uid || live.get("status") == Some(&status) {
            return;
        }
        let mut object = live.clone();
        object["status"] = status;
        self.commit(&mut inner, "MODIFIED", &key, object);
    }

    /// DELETE: pods are marked (the kubelet stops them, then [`Store::finalize`] removes them);
    /// other objects go at once. `uid`: the request's precondition.
    pub fn delete(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (kind, namespace.to_string(), name.to_string());
        let Some(live) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(kind, name));
        };
        if let Some(uid) = uid
            && live["metadata"]["uid"] != uid
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    live["metadata"]["uid"].as_str().unwrap_or_default()
                ),
            ));
        }
        if kind == Kind::Pod {
            if live["metadata"].get("deletionTimestamp").is_some() {
                return Ok(live);
            }
            let mut marked = live;
            marked["metadata"]["deletionTimestamp"] = Value::String(now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(30);
            return Ok(self.commit(&mut inner, "MODIFIED", &key, marked));
        }
        Ok(self.commit(&mut inner, "DELETED", &key, live))
    }

    /// Removes a pod marked for deletion, once its process is gone.
    pub fn finalize(&self, kind: Kind, namespace: &str, name: &str, uid: &str) {
        let mut inner = self.lock();
        let key = (kind, namespace.to_string(), name.to_string());
        if let Some(live) = inner.objects.get(&key).cloned()
            && live["metadata"]["uid"] == uid
        {
            self.commit(&mut inner, "DELETED", &key, live);
        }
    }
}

/// The body must be the object the URL names.
fn check_identity(kind: Kind, namespace: &str, name: &str, body: &Value) -> Result<(), ApiError> {
    if body["apiVersion"] != kind.api_version() || body["kind"] != kind.name() {
        return Err(ApiError::bad_request(format!(
            "the body is apiVersion {} kind {}, but the URL is for {} {}",
            body["apiVersion"],
            body["kind"],
            kind.api_version(),
            kind.name()
        )));
    }
    if body["metadata"]["name"] != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            body["metadata"]["name"]
        )));
    }
    if let Some(ns) = body["metadata"]["namespace"].as_str()
        && ns != namespace
    {
        return Err(ApiError::bad_request(format!(
            "the namespace of the object ({ns}) does not match the namespace on the URL ({namespace})"
        )));
    }
    Ok(())
}

/// The applied configuration without what clients may not set through apply.
fn sanitize(mut body: Value) -> Value {
    if let Some(object) = body.as_object_mut() {
        object.remove("status");
    }
    if let Some(metadata) = body["metadata"].as_object_mut() {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "deletionTimestamp",
            "selfLink",
        ] {
            metadata.remove(field);
        }
    }
    body
}

/// Merges `applied` into `live`, dropping what `previous` (the same manager's last apply) set
/// and `applied` no longer does.
fn merge(live: &Value, previous: Option<&Value>, applied: &Value) -> Value {
    match (live, applied) {
        (Value::Object(live), Value::Object(applied)) => {
            let previous = previous.and_then(Value::as_object);
            let mut out = Map::new();
            for (key, value) in live {
                match applied.get(key) {
                    Some(new) => {
                        out.insert(
                            key.clone(),
                            merge(value, previous.and_then(|p| p.get(key)), new),
                        );
                    }
                    None if previous.is_some_and(|p| p.contains_key(key)) => {}
                    None => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            for (key, value) in applied {
                out.entry(key.clone()).or_insert_with(|| value.clone());
            }
            Value::Object(out)
        }
        _ => applied.clone(),
    }
}

/// StatefulSet spec fields other than these cannot change, as in Kubernetes.
fn check_immutable(kind: Kind, live: &Value, merged: &Value) -> Result<(), ApiError> {
    if kind != Kind::StatefulSet {
        return Ok(());
    }
    let mutable = [
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
        "revisionHistoryLimit",
    ];
    let frozen = |spec: &Value| -> Value {
        let mut spec = spec.clone();
        if let Some(map) = spec.as_object_mut() {
            map.retain(|key, _| !mutable.contains(&key.as_str()));
        }
        spec
    };
    if frozen(&live["spec"]) != frozen(&merged["spec"]) {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "StatefulSet.apps \"{}\" is invalid: spec: Forbidden: updates to statefulset spec for \
             fields other than {} are forbidden",
                live["metadata"]["name"].as_str().unwrap_or_default(),
                mutable.map(|f| format!("'{f}'")).join(", ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(env: Value, selector: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "demo", "labels": {"a": "1"}},
               "spec": {"replicas": 2, "selector": {"matchLabels": selector},
                        "template": {"spec": {"containers": [{"name": "s", "env": env}]}}}})
    }

    #[test]
    fn apply_creates_then_removes_fields_the_manager_dropped() {
        let store = Store::new(&["ns".to_string()]);
        let env = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
        let created = store
            .apply(
                Kind::StatefulSet,
                "ns",
                "demo",
                "gw",
                sts(env, json!({"x": "1"})),
            )
            .expect("apply");
        assert_eq!(created["metadata"]["generation"], 1);
        let uid = created["metadata"]["uid"].clone();

        // Another writer's label survives; the manager's own dropped env var does not.
        store.set_status(
            Kind::StatefulSet,
            "ns",
            "demo",
            uid.as_str().unwrap_or_default(),
            json!({"replicas": 2}),
        );
        let mut next = sts(json!([{"name": "A", "value": "1"}]), json!({"x": "1"}));
        next["metadata"]["labels"] = json!({});
        let updated = store
            .apply(Kind::StatefulSet, "ns", "demo", "gw", next.clone())
            .expect("apply");
        assert_eq!(
            updated["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "A", "value": "1"}])
        );
        assert_eq!(updated["metadata"]["labels"], json!({}));
        assert_eq!(updated["metadata"]["uid"], uid);
        assert_eq!(updated["metadata"]["generation"], 2);
        assert_eq!(updated["status"], json!({"replicas": 2}));
        // The same apply again changes nothing, not even the resourceVersion.
        let again = store
            .apply(Kind::StatefulSet, "ns", "demo", "gw", next)
            .expect("apply");
        assert_eq!(
            again["metadata"]["resourceVersion"],
            updated["metadata"]["resourceVersion"]
        );

        let err = store
            .apply(
                Kind::StatefulSet,
                "ns",
                "demo",
                "gw",
                sts(json!([]), json!({"x": "2"})),
            )
            .unwrap_err();
        assert_eq!(err.code, 422);
        let err = store
            .apply(
                Kind::StatefulSet,
                "other",
                "demo",
                "gw",
                sts(json!([]), json!({})),
            )
            .unwrap_err();
        assert_eq!(err.code, 404);
        assert_eq!(err.details["kind"], "namespaces");
    }

    #[test]
    fn pods_are_marked_then_finalized_and_history_resumes() {
        let store = Store::new(&["ns".to_string()]);
        let start = store.resource_version();
        let pod = store
            .create(Kind::Pod, "ns", json!({"metadata": {"name": "p"}}))
            .expect("create");
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let marked = store
            .delete(Kind::Pod, "ns", "p", Some(&uid))
            .expect("delete");
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(store.delete(Kind::Pod, "ns", "p", Some("other")).is_err());
        store.finalize(Kind::Pod, "ns", "p", &uid);
        assert!(store.get(Kind::Pod, "ns", "p").is_none());
        let types: Vec<&str> = store
            .events_after(start, Kind::Pod, "ns")
            .unwrap_or_default()
            .iter()
            .map(|e| e.type_)
            .collect();
        assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    }
}
